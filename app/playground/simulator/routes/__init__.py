"""The simulator's FastAPI app: every REST route, GitHub-shaped errors, and the traffic middleware."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.playground.simulator.apps import SimApps
from app.playground.simulator.errors import HANDLERS, SimError, error_response
from app.playground.simulator.routes import apps, checks, gitdata, issues, manifests, pulls, repos
from app.playground.simulator.traffic import install_middleware


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    """Unknown paths and methods answer like GitHub: a `basic-error` body."""
    assert isinstance(exc, StarletteHTTPException)
    message = "Not Found" if exc.status_code == 404 else str(exc.detail)
    return error_response(SimError(exc.status_code, message))


def create_http_app(sim: SimApps) -> FastAPI:
    app = FastAPI(title="GitHub simulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sim = sim
    for module in (apps, checks, gitdata, issues, manifests, pulls, repos):
        for route in module.router.routes:  # flat routes: the traffic middleware matches them by itself
            assert isinstance(route, APIRoute)
            app.add_api_route(
                route.path, route.endpoint, methods=sorted(route.methods or ()), name=route.name
            )
    for error, handler in HANDLERS.items():
        app.add_exception_handler(error, handler)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    install_middleware(app, sim.traffic, sim.world)
    return app
