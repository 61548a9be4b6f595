"""Pull requests, their files and reviews (https://docs.github.com/rest/pulls)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel

from app.playground.simulator import render_threads
from app.playground.simulator.auth import require_author, require_read, require_write
from app.playground.simulator.core import ApiEvent
from app.playground.simulator.routes.deps import IdentityDep, SimDep, answer, paginate
from app.playground.simulator.state import Issue

router = APIRouter()
REPO = "/repos/{owner}/{repo}"


class PullIn(BaseModel):
    title: str | None = None
    head: str
    base: str
    body: str | None = None
    draft: bool = False
    maintainer_can_modify: bool = True


class PullPatch(BaseModel):
    title: str | None = None
    body: str | None = None
    state: Literal["open", "closed"] | None = None


class ReviewIn(BaseModel):
    commit_id: str | None = None
    body: str | None = None
    event: str | None = None


@router.get(REPO + "/pulls", name="pulls.list")
async def list_pulls(
    owner: str, repo: str, request: Request, sim: SimDep, identity: IdentityDep
) -> JSONResponse:
    full = f"{owner}/{repo}"
    require_read(identity, sim.repo(full))
    wanted = request.query_params.get("state", "open")
    pulls = [i for i in sim.world.issues.values() if i.repo == full and i.pull and wanted in ("all", i.state)]
    pulls = [
        p
        for p in pulls
        if _matches_refs(sim, p, request.query_params.get("head"), request.query_params.get("base"))
    ]
    pulls.sort(key=lambda p: p.number, reverse=True)
    page, headers = paginate(request, sim, pulls)
    body = [render_threads.pull(sim.ctx, p, sim.pull_snapshot(p), simple=True) for p in page]
    return answer(body, headers=headers)


def _matches_refs(sim: SimDep, item: Issue, head: str | None, base: str | None) -> bool:
    assert item.pull is not None
    head_owner = sim.repo(item.pull.head_repo).owner.login
    if head and head not in (f"{head_owner}:{item.pull.head_ref}", item.pull.head_ref):
        return False
    return not base or base == item.pull.base_ref


@router.post(REPO + "/pulls", name="pulls.create")
async def create_pull(
    owner: str, repo: str, data: PullIn, sim: SimDep, identity: IdentityDep
) -> JSONResponse:
    full = f"{owner}/{repo}"
    author = require_author(identity, sim.repo(full))
    item = sim.open_pull(
        full,
        head=data.head,
        base=data.base,
        title=data.title or data.head,
        body=data.body,
        user=author.login,
        draft=data.draft,
    )
    assert item.pull is not None
    item.pull.maintainer_can_modify = data.maintainer_can_modify
    sim.emit(ApiEvent("pull_request", "opened", full, author, item))
    body = render_threads.pull(sim.ctx, item, sim.pull_snapshot(item, stats=True))
    return answer(body, 201, {"location": body["url"]})


@router.get(REPO + "/pulls/{pull_number:int}", name="pulls.get")
async def get_pull(
    owner: str, repo: str, pull_number: int, request: Request, sim: SimDep, identity: IdentityDep
) -> Response:
    full = f"{owner}/{repo}"
    require_read(identity, sim.repo(full))
    item = sim.pull(full, pull_number)
    snap = sim.pull_snapshot(item, stats=True)
    if "diff" in request.headers.get("accept", ""):
        return PlainTextResponse(sim.repo(full).git.diff(snap.base_sha, snap.head_sha))
    return answer(render_threads.pull(sim.ctx, item, snap))


@router.patch(REPO + "/pulls/{pull_number:int}", name="pulls.update")
async def update_pull(
    owner: str, repo: str, pull_number: int, data: PullPatch, sim: SimDep, identity: IdentityDep
) -> JSONResponse:
    full = f"{owner}/{repo}"
    item = sim.pull(full, pull_number)
    sender = require_author(identity, sim.repo(full))
    if sender.login != item.user.login:
        sender = require_write(identity, sim.repo(full))
    item.title = data.title if data.title is not None else item.title
    item.body = data.body if data.body is not None else item.body
    if data.state == "closed" and item.state == "open":
        sim.close_issue(full, pull_number)
        sim.emit(ApiEvent("pull_request", "closed", full, sender, item))
    elif data.state == "open":
        item.state, item.closed_at = "open", None
    return answer(render_threads.pull(sim.ctx, item, sim.pull_snapshot(item, stats=True)))


@router.get(REPO + "/pulls/{pull_number:int}/files", name="pulls.list_files")
async def list_files(
    owner: str, repo: str, pull_number: int, request: Request, sim: SimDep, identity: IdentityDep
) -> JSONResponse:
    full = f"{owner}/{repo}"
    require_read(identity, sim.repo(full))
    snap = sim.pull_snapshot(sim.pull(full, pull_number))
    git = sim.repo(full).git
    changes = git.changes(git.merge_base(snap.base_sha, snap.head_sha) or snap.base_sha, snap.head_sha)
    page, headers = paginate(request, sim, changes)
    return answer([render_threads.diff_entry(sim.ctx, full, c, snap.head_sha) for c in page], headers=headers)


@router.get(REPO + "/pulls/{pull_number:int}/reviews", name="pulls.list_reviews")
async def list_reviews(
    owner: str, repo: str, pull_number: int, request: Request, sim: SimDep, identity: IdentityDep
) -> JSONResponse:
    full = f"{owner}/{repo}"
    require_read(identity, sim.repo(full))
    sim.pull(full, pull_number)
    page, headers = paginate(request, sim, sim.world.thread_reviews(full, pull_number))
    return answer([render_threads.review(sim.ctx, r) for r in page], headers=headers)


@router.post(REPO + "/pulls/{pull_number:int}/reviews", name="pulls.create_review")
async def create_review(
    owner: str, repo: str, pull_number: int, data: ReviewIn, sim: SimDep, identity: IdentityDep
) -> JSONResponse:
    """200, not 201, as GitHub answers; a review without `event` stays PENDING."""
    full = f"{owner}/{repo}"
    author = require_author(identity, sim.repo(full))
    item = sim.submit_review(
        full,
        pull_number,
        user=author.login,
        event=data.event or "",
        body=data.body or "",
        commit_id=data.commit_id,
    )
    if item.state != "PENDING":
        sim.emit(ApiEvent("pull_request_review", "submitted", full, author, item))
    return answer(render_threads.review(sim.ctx, item))
