"""The Git Data API: blobs, trees, commits and refs written one object at a time
(https://docs.github.com/rest/git). Commits made here are signed by the simulator, as GitHub signs
commits an App makes through the API (`verification.verified`); commits pushed over git are not."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.playground.simulator import render
from app.playground.simulator.apps import SimApps
from app.playground.simulator.auth import require_read, require_write
from app.playground.simulator.errors import NotFound, Unprocessable
from app.playground.simulator.git import GitError
from app.playground.simulator.routes.deps import IdentityDep, SimDep, answer
from app.playground.simulator.state import Repo, node_id

router = APIRouter()
REPO = "/repos/{owner}/{repo}"
SIGNATURE = "-----BEGIN PGP SIGNATURE-----\nsimulated\n-----END PGP SIGNATURE-----"
REF_PREFIXES = ("heads/", "tags/", "pull/", "aqm/")  # refs the simulator serves by name


class BlobIn(BaseModel):
    content: str
    encoding: Literal["utf-8", "base64"] = "utf-8"


class TreeItemIn(BaseModel):
    path: str
    mode: Literal["100644", "100755", "040000", "160000", "120000"]
    type: Literal["blob", "tree", "commit"]
    sha: str


class TreeIn(BaseModel):
    tree: list[TreeItemIn]
    base_tree: str | None = None


class CommitIn(BaseModel):
    message: str
    tree: str
    parents: list[str] = []


class RefUpdateIn(BaseModel):
    sha: str
    force: bool = False


@router.get(REPO + "/git/ref/{ref:path}", name="git.get_ref")
async def get_ref(owner: str, repo: str, ref: str, sim: SimDep, identity: IdentityDep) -> JSONResponse:
    found = sim.repo(f"{owner}/{repo}")
    require_read(identity, found)
    full_ref = f"refs/{ref}"
    sha = found.git.ref_sha(full_ref) if ref.startswith(REF_PREFIXES) else None
    if sha is None:
        raise NotFound()
    return answer(render.git_ref(sim.ctx, found, full_ref, sha))


@router.patch(REPO + "/git/refs/{ref:path}", name="git.update_ref")
async def update_ref(
    owner: str, repo: str, ref: str, data: RefUpdateIn, sim: SimDep, identity: IdentityDep
) -> JSONResponse:
    """Move a ref; without `force`, only forward (422 `Update is not a fast forward`)."""
    found = sim.repo(f"{owner}/{repo}")
    require_write(identity, found)
    full_ref = f"refs/{ref}"
    current = found.git.ref_sha(full_ref)
    if current is None:
        raise Unprocessable(message="Reference does not exist")
    if found.git.resolve(data.sha) != data.sha:
        raise Unprocessable(message="Object does not exist")
    if not data.force and found.git.merge_base(current, data.sha) != current:
        raise Unprocessable(message="Update is not a fast forward")
    found.git.git("update-ref", full_ref, data.sha, current)
    return answer(render.git_ref(sim.ctx, found, full_ref, data.sha))


@router.post(REPO + "/git/blobs", name="git.create_blob")
async def create_blob(
    owner: str, repo: str, data: BlobIn, sim: SimDep, identity: IdentityDep
) -> JSONResponse:
    found = sim.repo(f"{owner}/{repo}")
    require_write(identity, found)
    raw = base64.b64decode(data.content) if data.encoding == "base64" else data.content.encode()
    sha = found.git.git("hash-object", "-w", "--stdin", stdin=raw).decode().strip()
    return answer({"sha": sha, "url": f"{sim.ctx.repo_api(found)}/git/blobs/{sha}"}, 201)


@router.post(REPO + "/git/trees", name="git.create_tree")
async def create_tree(
    owner: str, repo: str, data: TreeIn, sim: SimDep, identity: IdentityDep
) -> JSONResponse:
    """A flat tree of the items given (no `base_tree` merging: aqm writes whole trees)."""
    found = sim.repo(f"{owner}/{repo}")
    require_write(identity, found)
    if data.base_tree is not None or any("/" in item.path for item in data.tree):
        raise Unprocessable(message="the simulator writes flat trees only")
    listing = "".join(f"{item.mode} {item.type} {item.sha}\t{item.path}\n" for item in data.tree)
    try:
        sha = found.git.git("mktree", stdin=listing.encode()).decode().strip()
    except GitError:
        raise Unprocessable(message="tree.sha is not a valid object") from None
    return answer(render.git_tree(sim.ctx, found, sha, found.git.walk(sha, recursive=False)), 201)


@router.post(REPO + "/git/commits", name="git.create_commit")
async def create_commit(
    owner: str, repo: str, data: CommitIn, sim: SimDep, identity: IdentityDep
) -> JSONResponse:
    """A commit by the caller, signed (GitHub signs what an App commits through the API)."""
    found = sim.repo(f"{owner}/{repo}")
    account = require_write(identity, found)
    if found.git.tree_of(data.tree) is None or any(found.git.resolve(p) != p for p in data.parents):
        raise Unprocessable(message="Object does not exist")
    email = f"{account.id}+{account.login}@users.noreply.github.com"
    env = {"GIT_AUTHOR_NAME": account.login, "GIT_AUTHOR_EMAIL": email}
    env |= {"GIT_COMMITTER_NAME": "GitHub", "GIT_COMMITTER_EMAIL": "noreply@github.com"}
    parents = [word for parent in data.parents for word in ("-p", parent)]
    sha = found.git.git("commit-tree", data.tree, *parents, "-m", data.message, env=env).decode().strip()
    sim.world.signed[sha] = account.login
    return answer(_commit(sim, found, sha), 201)


@router.get(REPO + "/git/commits/{sha}", name="git.get_commit")
async def get_commit(owner: str, repo: str, sha: str, sim: SimDep, identity: IdentityDep) -> JSONResponse:
    found = sim.repo(f"{owner}/{repo}")
    require_read(identity, found)
    if found.git.resolve(sha) != sha:
        raise NotFound()
    return answer(_commit(sim, found, sha))


def _commit(sim: SimApps, repo: Repo, sha: str) -> dict[str, Any]:
    """A git commit as the Git Data API shows it, with its signature's verification."""
    info = repo.git.commit(sha)
    api, web = sim.ctx.repo_api(repo), sim.ctx.repo_web(repo)
    date = datetime.fromtimestamp(info.timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    person = {"name": info.author_name, "email": info.author_email, "date": date}
    signed = sim.world.signed.get(sha) == info.author_name
    return {
        "sha": sha,
        "node_id": node_id("Commit", int(sha[:8], 16)),
        "url": f"{api}/git/commits/{sha}",
        "html_url": f"{web}/commit/{sha}",
        "author": person,
        "committer": {"name": "GitHub", "email": "noreply@github.com", "date": date} if signed else person,
        "message": info.message,
        "tree": {"sha": info.tree, "url": f"{api}/git/trees/{info.tree}"},
        "parents": [
            {"sha": p, "url": f"{api}/git/commits/{p}", "html_url": f"{sim.ctx.repo_web(repo)}/commit/{p}"}
            for p in info.parents
        ],
        "verification": {
            "verified": signed,
            "reason": "valid" if signed else "unsigned",
            "signature": "-----BEGIN PGP SIGNATURE-----\nsimulated\n-----END PGP SIGNATURE-----"
            if signed
            else None,
            "payload": None,
            "verified_at": date if signed else None,
        },
    }
