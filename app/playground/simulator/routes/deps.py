"""What every route needs: the simulator, the caller's identity, JSON answers and `Link` pagination."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response

from app.playground.simulator.apps import SimApps
from app.playground.simulator.auth import Identity, identify

T = TypeVar("T")
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100


def get_sim(request: Request) -> SimApps:
    sim: SimApps = request.app.state.sim
    return sim


def is_app_route(path: str) -> bool:
    """Routes that take the App's JWT (https://docs.github.com/rest/apps/apps)."""
    return (
        path == "/app"
        or path.startswith("/app/")
        or (path.startswith("/repos/") and path.endswith("/installation"))
    )


def get_identity(request: Request, sim: Annotated[SimApps, Depends(get_sim)]) -> Identity:
    return identify(sim.world, request.headers.get("authorization"), app_route=is_app_route(request.url.path))


SimDep = Annotated[SimApps, Depends(get_sim)]
IdentityDep = Annotated[Identity, Depends(get_identity)]


def answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def no_content() -> Response:
    return Response(status_code=204)


def paginate(request: Request, sim: SimApps, items: Sequence[T]) -> tuple[Sequence[T], dict[str, str]]:
    """One page of `items` and GitHub's `Link` header, built from the simulator's own base URL."""
    per_page = min(max(_int(request.query_params.get("per_page"), DEFAULT_PER_PAGE), 1), MAX_PER_PAGE)
    page = max(_int(request.query_params.get("page"), 1), 1)
    last = max(math.ceil(len(items) / per_page), 1)
    window = items[(page - 1) * per_page : page * per_page]
    rels: dict[str, int] = {}
    if page < last:
        rels |= {"next": page + 1, "last": last}
    if page > 1:
        rels |= {"first": 1, "prev": page - 1}
    base = f"{sim.urls.api}{request.url.path.lstrip('/')}"
    query = {k: v for k, v in request.query_params.items() if k != "page"}
    links = [f'<{base}?{urlencode(query | {"page": str(n)})}>; rel="{rel}"' for rel, n in rels.items()]
    return window, ({"link": ", ".join(links)} if links else {})


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default
