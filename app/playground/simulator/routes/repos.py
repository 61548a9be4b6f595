"""Repositories: metadata, contents, refs, collaborator permissions and commit statuses
(https://docs.github.com/rest/repos, https://docs.github.com/rest/git/refs)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from app.playground.simulator import render, render_threads
from app.playground.simulator.auth import permission_of, require_read, require_write
from app.playground.simulator.errors import BlobTooLarge, NotFound, Unprocessable
from app.playground.simulator.git import GitError
from app.playground.simulator.routes.deps import IdentityDep, SimDep, answer, paginate
from app.playground.simulator.state import Permission, Repo

router = APIRouter()
REPO = "/repos/{owner}/{repo}"
# GitHub's contents API serves files up to 1 MB as JSON, up to 100 MB raw
# (https://docs.github.com/rest/repos/contents#get-repository-content). Kept here, not shared with
# the app's gateway: the stand-in states GitHub's limit on its own, so a mismatch would show.
CONTENTS_JSON_MAX_BYTES = 1024 * 1024
CONTENTS_RAW_MAX_BYTES = 100 * 1024 * 1024


class RefIn(BaseModel):
    ref: str
    sha: str


class StatusIn(BaseModel):
    state: str
    target_url: str | None = None
    description: str | None = None
    context: str = "default"


@router.get(REPO, name="repos.get")
async def get_repo(owner: str, repo: str, sim: SimDep, identity: IdentityDep) -> JSONResponse:
    found = sim.repo(f"{owner}/{repo}")
    require_read(identity, found)
    permission = permission_of(identity, found) if identity.kind != "anonymous" else None
    return answer(render.repository(sim.ctx, found, permission=permission))


@router.get(REPO + "/contents", name="repos.get_content")
@router.get(REPO + "/contents/{path:path}", name="repos.get_content")
async def get_content(
    owner: str, repo: str, request: Request, sim: SimDep, identity: IdentityDep, path: str = ""
) -> Response:
    """A file (base64, newline every 60 chars), a directory listing, or raw bytes on request;
    403 `too_large` for a file over 1 MB unless asked raw (over 100 MB: always)."""
    found = sim.repo(f"{owner}/{repo}")
    require_read(identity, found)
    ref = request.query_params.get("ref") or found.default_branch
    sha = found.git.resolve(ref)
    if sha is None:
        raise NotFound(f"No commit found for the ref {ref}")
    path = path.strip("/")
    entry = found.git.entry(sha, path)
    if entry is None:
        raise NotFound()
    if entry.type == "tree":
        listing = [render.content_entry(sim.ctx, found, item, ref) for item in found.git.list_dir(sha, path)]
        return answer(listing)
    raw = "raw" in request.headers.get("accept", "")
    if entry.size > (CONTENTS_RAW_MAX_BYTES if raw else CONTENTS_JSON_MAX_BYTES):
        raise BlobTooLarge()
    data = found.git.blob(entry.sha)
    if raw:
        return Response(data, media_type="application/vnd.github.raw")
    return answer(render.content_file(sim.ctx, found, entry, ref, data))


@router.get(REPO + "/branches/{branch:path}", name="repos.get_branch")
async def get_branch(owner: str, repo: str, branch: str, sim: SimDep, identity: IdentityDep) -> JSONResponse:
    found = sim.repo(f"{owner}/{repo}")
    require_read(identity, found)
    sha = found.git.ref_sha(f"refs/heads/{branch}")
    if sha is None:
        raise NotFound("Branch not found")
    return answer(render.branch(sim.ctx, found, branch, found.git.commit(sha)))


@router.post(REPO + "/git/refs", name="git.create_ref")
async def create_ref(owner: str, repo: str, data: RefIn, sim: SimDep, identity: IdentityDep) -> JSONResponse:
    found = sim.repo(f"{owner}/{repo}")
    require_write(identity, found)
    if not data.ref.startswith("refs/") or data.ref.count("/") < 2:
        raise Unprocessable(message="ref must start with 'refs' and have at least two slashes.")
    if found.git.resolve(data.sha) != data.sha:
        raise Unprocessable(message="Object does not exist")
    if found.git.ref_sha(data.ref) is not None:
        raise Unprocessable(message="Reference already exists")
    found.git.update_ref(data.ref, data.sha, expect_absent=True)
    body = render.git_ref(sim.ctx, found, data.ref, data.sha)
    return answer(body, 201, {"location": body["url"]})


@router.get(REPO + "/git/trees/{tree_sha:path}", name="git.get_tree")
async def get_tree(
    owner: str, repo: str, tree_sha: str, request: Request, sim: SimDep, identity: IdentityDep
) -> JSONResponse:
    """A tree by SHA or branch name; `?recursive=1` lists everything below it (`.aqm/` in one call)."""
    found = sim.repo(f"{owner}/{repo}")
    require_read(identity, found)
    tree = found.git.tree_of(tree_sha)
    if tree is None:
        raise NotFound()
    recursive = request.query_params.get("recursive") not in (None, "", "0", "false")
    return answer(render.git_tree(sim.ctx, found, tree, found.git.walk(tree, recursive=recursive)))


@router.get(REPO + "/git/blobs/{file_sha}", name="git.get_blob")
async def get_blob(owner: str, repo: str, file_sha: str, sim: SimDep, identity: IdentityDep) -> JSONResponse:
    found = sim.repo(f"{owner}/{repo}")
    require_read(identity, found)
    try:
        data = found.git.blob(file_sha)
    except GitError:
        raise NotFound() from None
    return answer(render.git_blob(sim.ctx, found, file_sha, data))


@router.get(REPO + "/collaborators/{username}/permission", name="repos.get_collaborator_permission_level")
async def get_permission(
    owner: str, repo: str, username: str, sim: SimDep, identity: IdentityDep
) -> JSONResponse:
    found = sim.repo(f"{owner}/{repo}")
    require_read(identity, found)
    account = sim.world.accounts.get(username)
    if account is None:
        raise NotFound()
    return answer(render.collaborator_permission(sim.ctx, account, _permission(found, username)))


def _permission(repo: Repo, login: str) -> Permission:
    """Owner: admin; a collaborator: their level; anyone else: read on a public repository."""
    if login == repo.owner.login:
        return "admin"
    granted = repo.collaborators.get(login)
    if granted is not None:
        return granted
    return "none" if repo.private else "read"


@router.post(REPO + "/statuses/{sha}", name="repos.create_commit_status")
async def create_status(
    owner: str, repo: str, sha: str, data: StatusIn, sim: SimDep, identity: IdentityDep
) -> JSONResponse:
    full = f"{owner}/{repo}"
    creator = require_write(identity, sim.repo(full))
    item = sim.create_status(
        full,
        sha,
        creator=creator,
        state=data.state,
        context=data.context,
        target_url=data.target_url,
        description=data.description,
    )
    body = render_threads.status(sim.ctx, item)
    return answer(body, 201, {"location": body["url"]})


@router.get(REPO + "/commits/{ref:path}/statuses", name="repos.list_commit_statuses_for_ref")
async def list_statuses(
    owner: str, repo: str, ref: str, request: Request, sim: SimDep, identity: IdentityDep
) -> JSONResponse:
    found = sim.repo(f"{owner}/{repo}")
    require_read(identity, found)
    sha = found.git.resolve(ref)
    if sha is None:
        raise NotFound(f"No commit found for SHA: {ref}")
    items = [s for s in reversed(sim.world.statuses) if s.repo == found.full_name and s.sha == sha]
    page, headers = paginate(request, sim, items)
    return answer([render_threads.status(sim.ctx, s) for s in page], headers=headers)


# last: `{ref:path}` would swallow `/commits/{ref}/statuses` and `/check-runs` registered before it
@router.get(REPO + "/commits/{ref:path}", name="repos.get_commit")
async def get_commit(owner: str, repo: str, ref: str, sim: SimDep, identity: IdentityDep) -> JSONResponse:
    found = sim.repo(f"{owner}/{repo}")
    require_read(identity, found)
    sha = found.git.resolve(ref)
    if sha is None:
        raise Unprocessable(message=f"No commit found for SHA: {ref}")
    return answer(render.commit(sim.ctx, found, found.git.commit(sha)))
