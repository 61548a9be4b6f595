"""Issues, issue comments, labels and reactions (https://docs.github.com/rest/issues)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from app.playground.simulator import render, render_threads
from app.playground.simulator.auth import Identity, require_author, require_read, require_write
from app.playground.simulator.core import ApiEvent
from app.playground.simulator.routes.deps import IdentityDep, SimDep, answer, no_content, paginate
from app.playground.simulator.state import Account, Issue, iso

router = APIRouter()
REPO = "/repos/{owner}/{repo}"


class IssueIn(BaseModel):
    title: str | int
    body: str | None = None
    labels: list[str | dict[str, Any]] = []


class CommentIn(BaseModel):
    body: str


class ReactionIn(BaseModel):
    content: str


LabelsBody = Annotated[Any, Body()]  # `{"labels": [...]}` or a bare list, as GitHub accepts


def _app_id(identity: Identity) -> int | None:
    return identity.app.id if identity.kind == "installation" and identity.app else None


@router.post(REPO + "/issues", name="issues.create")
async def create_issue(
    owner: str, repo: str, data: IssueIn, sim: SimDep, identity: IdentityDep
) -> JSONResponse:
    full = f"{owner}/{repo}"
    author = require_author(identity, sim.repo(full))
    names = [label if isinstance(label, str) else str(label.get("name", "")) for label in data.labels]
    item = sim.open_issue(full, str(data.title), data.body, user=author.login, labels=names)
    sim.emit(ApiEvent("issues", "opened", full, author, item))
    body = render_threads.issue(sim.ctx, item)
    return answer(body, 201, {"location": body["url"]})


@router.get(REPO + "/issues/{issue_number:int}", name="issues.get")
async def get_issue(
    owner: str, repo: str, issue_number: int, sim: SimDep, identity: IdentityDep
) -> JSONResponse:
    require_read(identity, sim.repo(f"{owner}/{repo}"))
    return answer(render_threads.issue(sim.ctx, sim.issue(f"{owner}/{repo}", issue_number)))


@router.post(REPO + "/issues/{issue_number:int}/labels", name="issues.add_labels")
async def add_labels(
    owner: str, repo: str, issue_number: int, sim: SimDep, identity: IdentityDep, data: LabelsBody
) -> JSONResponse:
    full = f"{owner}/{repo}"
    sender = require_write(identity, sim.repo(full))
    names = _label_names(data)
    item = sim.issue(full, issue_number)
    added = [name for name in names if name not in item.labels]
    labels = sim.label_issue(full, issue_number, names)
    for name in added:
        sim.emit(ApiEvent("issues", "labeled", full, sender, item, {"label": name}))
    return answer([render.label(sim.ctx, full, label) for label in labels])


def _label_names(data: Any) -> list[str]:
    """`{"labels": [...]}` or a bare list; items are names or `{"name": ...}`."""
    items = data.get("labels", []) if isinstance(data, dict) else data
    if not isinstance(items, list):
        items = [items]
    return [str(item["name"]) if isinstance(item, dict) else str(item) for item in items]


@router.get(REPO + "/issues/{issue_number:int}/comments", name="issues.list_comments")
async def list_comments(
    owner: str, repo: str, issue_number: int, request: Request, sim: SimDep, identity: IdentityDep
) -> JSONResponse:
    full = f"{owner}/{repo}"
    require_read(identity, sim.repo(full))
    sim.issue(full, issue_number)
    comments = sim.world.thread_comments(full, issue_number)
    since = request.query_params.get("since")
    if since:
        comments = [c for c in comments if (iso(c.updated_at) or "") >= since]
    page, headers = paginate(request, sim, comments)
    return answer([render_threads.comment(sim.ctx, c) for c in page], headers=headers)


@router.post(REPO + "/issues/{issue_number:int}/comments", name="issues.create_comment")
async def create_comment(
    owner: str, repo: str, issue_number: int, data: CommentIn, sim: SimDep, identity: IdentityDep
) -> JSONResponse:
    full = f"{owner}/{repo}"
    author = require_author(identity, sim.repo(full))
    item = sim.add_comment(full, issue_number, user=author.login, body=data.body, app_id=_app_id(identity))
    sim.emit(ApiEvent("issue_comment", "created", full, author, item))
    body = render_threads.comment(sim.ctx, item)
    return answer(body, 201, {"location": body["url"]})


@router.get(REPO + "/issues/comments/{comment_id:int}", name="issues.get_comment")
async def get_comment(
    owner: str, repo: str, comment_id: int, sim: SimDep, identity: IdentityDep
) -> JSONResponse:
    require_read(identity, sim.repo(f"{owner}/{repo}"))
    return answer(render_threads.comment(sim.ctx, sim.comment(f"{owner}/{repo}", comment_id)))


@router.patch(REPO + "/issues/comments/{comment_id:int}", name="issues.update_comment")
async def update_comment(
    owner: str, repo: str, comment_id: int, data: CommentIn, sim: SimDep, identity: IdentityDep
) -> JSONResponse:
    full = f"{owner}/{repo}"
    editor = _may_change(sim.comment(full, comment_id).user, identity, sim, full)
    item, before = sim.edit_comment(full, comment_id, data.body)
    sim.emit(ApiEvent("issue_comment", "edited", full, editor, item, {"changes": {"body": {"from": before}}}))
    return answer(render_threads.comment(sim.ctx, item))


@router.delete(REPO + "/issues/comments/{comment_id:int}", name="issues.delete_comment")
async def delete_comment(
    owner: str, repo: str, comment_id: int, sim: SimDep, identity: IdentityDep
) -> Response:
    full = f"{owner}/{repo}"
    editor = _may_change(sim.comment(full, comment_id).user, identity, sim, full)
    item = sim.delete_comment(full, comment_id)
    sim.emit(ApiEvent("issue_comment", "deleted", full, editor, item))
    return no_content()


def _may_change(author: Account, identity: Identity, sim: SimDep, full: str) -> Account:
    """Authors edit their own comments; others need write access."""
    caller = require_author(identity, sim.repo(full))
    return caller if caller.login == author.login else require_write(identity, sim.repo(full))


@router.post(REPO + "/issues/comments/{comment_id:int}/reactions", name="reactions.create_for_issue_comment")
async def react_to_comment(
    owner: str, repo: str, comment_id: int, data: ReactionIn, sim: SimDep, identity: IdentityDep
) -> JSONResponse:
    full = f"{owner}/{repo}"
    sim.comment(full, comment_id)
    return _react(sim, identity, full, ("issue_comment", comment_id), data.content)


@router.post(REPO + "/issues/{issue_number:int}/reactions", name="reactions.create_for_issue")
async def react_to_issue(
    owner: str, repo: str, issue_number: int, data: ReactionIn, sim: SimDep, identity: IdentityDep
) -> JSONResponse:
    full = f"{owner}/{repo}"
    item: Issue = sim.issue(full, issue_number)
    return _react(sim, identity, full, ("issue", item.number), data.content)


def _react(
    sim: SimDep, identity: Identity, full: str, subject: tuple[str, int], content: str
) -> JSONResponse:
    """201 for a new reaction, 200 when this user already left the same one."""
    author = require_author(identity, sim.repo(full))
    item, created = sim.react(full, subject, user=author.login, content=content)
    return answer(render_threads.reaction(sim.ctx, item), 201 if created else 200)
