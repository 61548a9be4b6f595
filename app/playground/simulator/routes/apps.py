"""The App's own routes (JWT), installation tokens, and `GET /rate_limit`
(https://docs.github.com/rest/apps/apps, https://docs.github.com/rest/rate-limit)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.playground.simulator import render
from app.playground.simulator.auth import Identity, mint_installation_token
from app.playground.simulator.errors import NotFound, Unauthorized, invalid
from app.playground.simulator.routes.deps import IdentityDep, SimDep, answer, paginate
from app.playground.simulator.state import GitHubApp, Installation
from app.playground.simulator.traffic import caller_of

router = APIRouter()


class TokenIn(BaseModel):
    repositories: list[str] | None = None
    repository_ids: list[int] | None = None
    permissions: dict[str, str] | None = None


def _app(identity: Identity) -> GitHubApp:
    if identity.kind != "app" or identity.app is None:
        raise Unauthorized("A JSON web token could not be decoded")
    return identity.app


def _own_installation(sim: SimDep, identity: Identity, installation_id: int) -> Installation:
    inst = sim.installation(installation_id)
    if inst.app_id != _app(identity).id:
        raise NotFound()
    return inst


@router.get("/app", name="apps.get_authenticated")
async def get_app(sim: SimDep, identity: IdentityDep) -> JSONResponse:
    return answer(render.integration(sim.ctx, _app(identity)))


@router.get("/app/installations", name="apps.list_installations")
async def list_installations(request: Request, sim: SimDep, identity: IdentityDep) -> JSONResponse:
    app = _app(identity)
    found = [inst for inst in sim.world.installations.values() if inst.app_id == app.id]
    page, headers = paginate(request, sim, found)
    return answer([render.installation(sim.ctx, inst) for inst in page], headers=headers)


@router.get("/app/installations/{installation_id:int}", name="apps.get_installation")
async def get_installation(installation_id: int, sim: SimDep, identity: IdentityDep) -> JSONResponse:
    return answer(render.installation(sim.ctx, _own_installation(sim, identity, installation_id)))


@router.post(
    "/app/installations/{installation_id:int}/access_tokens", name="apps.create_installation_access_token"
)
async def create_token(
    installation_id: int, sim: SimDep, identity: IdentityDep, data: TokenIn | None = None
) -> JSONResponse:
    """201 with `expires_at` as `YYYY-MM-DDTHH:MM:SSZ`; `repositories` narrow the token."""
    inst = _own_installation(sim, identity, installation_id)
    names = _narrowed(sim, inst, data or TokenIn())
    token = mint_installation_token(
        sim.world,
        inst,
        lifetime_s=sim.token_lifetime_s,
        repositories=names,
        permissions=data.permissions if data else None,
    )
    repos = [sim.repo(name) for name in sorted(names)] if names is not None else None
    return answer(render.installation_token(sim.ctx, token, repos), 201)


def _narrowed(sim: SimDep, inst: Installation, data: TokenIn) -> set[str] | None:
    if data.repositories is None and data.repository_ids is None:
        return None
    by_id = {repo.id: repo.full_name for repo in sim.world.repos.values()}
    names = {f"{inst.account.login}/{name}" for name in data.repositories or []}
    names |= {by_id.get(repo_id, "") for repo_id in data.repository_ids or []}
    for name in names:
        if name not in sim.world.repos or not inst.covers(sim.world.repos[name]):
            raise invalid("Installation", "repositories", "invalid")
    return names


@router.get("/repos/{owner}/{repo}/installation", name="apps.get_repo_installation")
async def get_repo_installation(owner: str, repo: str, sim: SimDep, identity: IdentityDep) -> JSONResponse:
    return answer(render.installation(sim.ctx, sim.installation_for(f"{owner}/{repo}", _app(identity))))


@router.get("/installation/repositories", name="apps.list_repos_accessible_to_installation")
async def list_installation_repos(request: Request, sim: SimDep, identity: IdentityDep) -> JSONResponse:
    if identity.kind != "installation" or identity.installation is None or identity.token is None:
        raise Unauthorized()
    inst, narrowed = identity.installation, identity.token.repositories
    repos = [
        r
        for r in sim.world.repos.values()
        if inst.covers(r) and (narrowed is None or r.full_name in narrowed)
    ]
    page, headers = paginate(request, sim, sorted(repos, key=lambda r: r.id))
    body = {
        "total_count": len(repos),
        "repositories": [render.repository(sim.ctx, r, permission="write") for r in page],
        "repository_selection": inst.repository_selection,
    }
    return answer(body, headers=headers)


@router.get("/rate_limit", name="rate_limit.get")
async def get_rate_limit(request: Request, sim: SimDep, identity: IdentityDep) -> JSONResponse:
    window = sim.traffic.window(caller_of(sim.world, request.headers.get("authorization")).window)
    return answer(render.rate_limit(window.used, window.limit, window.reset))
