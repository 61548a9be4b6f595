"""Check runs (https://docs.github.com/rest/checks/runs): written by an App's installation only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.playground.simulator import render_threads
from app.playground.simulator.auth import require_app_installation, require_read
from app.playground.simulator.core import ApiEvent
from app.playground.simulator.errors import NotFound
from app.playground.simulator.routes.deps import IdentityDep, SimDep, answer, paginate
from app.playground.simulator.state import CheckRun

router = APIRouter()
REPO = "/repos/{owner}/{repo}"


class CheckRunPatch(BaseModel):
    name: str | None = None
    details_url: str | None = None
    external_id: str | None = None
    status: str | None = None
    conclusion: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    output: dict[str, Any] | None = None
    actions: list[dict[str, str]] | None = None


class CheckRunIn(CheckRunPatch):
    name: str
    head_sha: str


def _render(sim: SimDep, run: CheckRun) -> dict[str, Any]:
    return render_threads.check_run(sim.ctx, run, sim.open_pulls_at(run.repo, run.head_sha))


@router.post(REPO + "/check-runs", name="checks.create")
async def create_check_run(
    owner: str, repo: str, data: CheckRunIn, sim: SimDep, identity: IdentityDep
) -> JSONResponse:
    full = f"{owner}/{repo}"
    sender = require_app_installation(identity, sim.repo(full))
    assert identity.app is not None
    fields = data.model_dump(exclude={"name", "head_sha"}, exclude_unset=True)
    run = sim.create_check_run(full, app_id=identity.app.id, name=data.name, head_sha=data.head_sha, **fields)
    sim.emit(ApiEvent("check_run", "created", full, sender, run))
    return answer(_render(sim, run), 201)


@router.patch(REPO + "/check-runs/{check_run_id:int}", name="checks.update")
async def update_check_run(
    owner: str, repo: str, check_run_id: int, data: CheckRunPatch, sim: SimDep, identity: IdentityDep
) -> JSONResponse:
    full = f"{owner}/{repo}"
    sender = require_app_installation(identity, sim.repo(full))
    assert identity.app is not None
    if sim.check_run(full, check_run_id).app_id != identity.app.id:
        raise NotFound()
    was_completed = sim.check_run(full, check_run_id).status == "completed"
    run = sim.update_check_run(full, check_run_id, **data.model_dump(exclude_unset=True))
    if run.status == "completed" and not was_completed:
        sim.emit(ApiEvent("check_run", "completed", full, sender, run))
    return answer(_render(sim, run))


@router.get(REPO + "/check-runs/{check_run_id:int}", name="checks.get")
async def get_check_run(
    owner: str, repo: str, check_run_id: int, sim: SimDep, identity: IdentityDep
) -> JSONResponse:
    full = f"{owner}/{repo}"
    require_read(identity, sim.repo(full))
    return answer(_render(sim, sim.check_run(full, check_run_id)))


@router.get(REPO + "/commits/{ref:path}/check-runs", name="checks.list_for_ref")
async def list_for_ref(
    owner: str, repo: str, ref: str, request: Request, sim: SimDep, identity: IdentityDep
) -> JSONResponse:
    full = f"{owner}/{repo}"
    found = sim.repo(full)
    require_read(identity, found)
    sha = found.git.resolve(ref)
    if sha is None:
        raise NotFound(f"No commit found for SHA: {ref}")
    runs = sorted(sim.check_runs_for(full, sha), key=lambda r: r.id, reverse=True)
    name = request.query_params.get("check_name")
    runs = [r for r in runs if name is None or r.name == name]
    page, headers = paginate(request, sim, runs)
    return answer({"total_count": len(runs), "check_runs": [_render(sim, r) for r in page]}, headers=headers)
