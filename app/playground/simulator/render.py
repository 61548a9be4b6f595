"""REST shapes of accounts, repositories, the App, installations, tokens, labels, refs and contents.

Each function overlays the simulator's state on GitHub's own example (see `examples.py`); the
thread objects (issues, pull requests, comments, reviews, check runs) are in `render_threads.py`.
"""

from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from app.playground.simulator.examples import DROP, Urls, overlay, rehome, rest_example
from app.playground.simulator.git import CommitInfo, TreeEntry
from app.playground.simulator.state import (
    Account,
    GitHubApp,
    Installation,
    Label,
    Permission,
    Repo,
    Token,
    World,
    iso,
    node_id,
)

PERMISSION_FLAGS: dict[str, dict[str, bool]] = {
    "admin": {"admin": True, "maintain": True, "push": True, "triage": True, "pull": True},
    "write": {"admin": False, "maintain": False, "push": True, "triage": True, "pull": True},
    "read": {"admin": False, "maintain": False, "push": False, "triage": False, "pull": True},
    "none": {"admin": False, "maintain": False, "push": False, "triage": False, "pull": False},
}


@dataclass(frozen=True, slots=True)
class Ctx:
    """What every renderer needs: the state and the simulator's URLs."""

    world: World
    urls: Urls

    def repo_api(self, repo: Repo | str) -> str:
        return f"{self.urls.api}repos/{repo if isinstance(repo, str) else repo.full_name}"

    def repo_web(self, repo: Repo | str) -> str:
        return f"{self.urls.web}{repo if isinstance(repo, str) else repo.full_name}"


def user(ctx: Ctx, account: Account) -> dict[str, Any]:
    """A `simple-user`; a bot's html_url is its App's page, as on GitHub."""
    url = f"{ctx.urls.api}users/{quote(account.login)}"
    slug = account.login.removesuffix("[bot]")
    return {
        "login": account.login,
        "id": account.id,
        "node_id": node_id("Bot" if account.type == "Bot" else "User", account.id),
        "avatar_url": f"{ctx.urls.web}avatars/u/{account.id}?v=4",
        "gravatar_id": "",
        "url": url,
        "html_url": f"{ctx.urls.web}apps/{slug}"
        if account.type == "Bot"
        else f"{ctx.urls.web}{account.login}",
        "followers_url": f"{url}/followers",
        "following_url": f"{url}/following{{/other_user}}",
        "gists_url": f"{url}/gists{{/gist_id}}",
        "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{url}/subscriptions",
        "organizations_url": f"{url}/orgs",
        "repos_url": f"{url}/repos",
        "events_url": f"{url}/events{{/privacy}}",
        "received_events_url": f"{url}/received_events",
        "type": account.type,
        "user_view_type": "public",
        "site_admin": account.site_admin,
    }


def organization(ctx: Ctx, account: Account) -> dict[str, Any]:
    url = f"{ctx.urls.api}orgs/{account.login}"
    return {
        "login": account.login,
        "id": account.id,
        "node_id": node_id("Organization", account.id),
        "url": url,
        "repos_url": f"{url}/repos",
        "events_url": f"{url}/events",
        "hooks_url": f"{url}/hooks",
        "issues_url": f"{url}/issues",
        "members_url": f"{url}/members{{/member}}",
        "public_members_url": f"{url}/public_members{{/member}}",
        "avatar_url": f"{ctx.urls.web}avatars/u/{account.id}?v=4",
        "description": "",
    }


def repository(
    ctx: Ctx, repo: Repo, *, base: dict[str, Any] | None = None, permission: Permission | None = None
) -> dict[str, Any]:
    """A `full-repository` (or, with `base`, the same fields laid over a webhook example's repository)."""
    example = base if base is not None else rest_example("full-repository-default-response")
    example = rehome(example, ctx.urls, repo.full_name)
    fields = _repo_identity(ctx, repo) | _repo_counts(ctx, repo) | _repo_times(repo, example)
    fields["owner"] = user(ctx, repo.owner)
    fields["organization"] = organization(ctx, repo.owner) if repo.owner.type == "Organization" else DROP
    parent = ctx.world.repos.get(repo.parent) if repo.parent else None
    nested = repository(ctx, parent, base=base) if parent else DROP
    fields |= {"parent": nested, "source": nested, "template_repository": DROP}
    fields["permissions"] = PERMISSION_FLAGS[permission] if permission else DROP
    return overlay(example, fields)


def _repo_times(repo: Repo, example: dict[str, Any]) -> dict[str, Any]:
    """ISO timestamps, or epoch seconds where the example has them (a push payload's repository)."""
    epoch = isinstance(example.get("created_at"), int)
    stamp: Any = int(repo.created_at.timestamp()) if epoch else iso(repo.created_at)
    return {"created_at": stamp, "pushed_at": stamp, "updated_at": iso(repo.created_at)}


def _repo_identity(ctx: Ctx, repo: Repo) -> dict[str, Any]:
    return {
        "id": repo.id,
        "node_id": node_id("Repository", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "private": repo.private,
        "visibility": "private" if repo.private else "public",
        "html_url": ctx.repo_web(repo),
        "url": ctx.repo_api(repo),
        "description": repo.description,
        "fork": repo.parent is not None,
        "git_url": f"git://{ctx.urls.host}/{repo.full_name}.git",
        "ssh_url": f"git@{ctx.urls.host}:{repo.full_name}.git",
        "clone_url": repo.git.clone_url,
        "svn_url": ctx.repo_web(repo),
        "mirror_url": None,
        "homepage": None,
        "language": None,
        "default_branch": repo.default_branch,
        "license": None,
        "topics": [],
        "is_template": False,
        "archived": False,
        "disabled": False,
        "temp_clone_token": DROP,
    }


def _repo_counts(ctx: Ctx, repo: Repo) -> dict[str, Any]:
    open_issues = sum(
        1 for (name, _), issue in ctx.world.issues.items() if name == repo.full_name and issue.state == "open"
    )
    forks = sum(1 for other in ctx.world.repos.values() if other.parent == repo.full_name)
    counts = {
        "forks_count": forks,
        "forks": forks,
        "open_issues_count": open_issues,
        "open_issues": open_issues,
    }
    zeros = ("stargazers_count", "watchers_count", "watchers", "size", "subscribers_count", "network_count")
    return counts | dict.fromkeys(zeros, 0)


def label(ctx: Ctx, repo: str, item: Label) -> dict[str, Any]:
    return {
        "id": item.id,
        "node_id": node_id("Label", item.id),
        "url": f"{ctx.repo_api(repo)}/labels/{quote(item.name)}",
        "name": item.name,
        "color": item.color,
        "default": item.default,
        "description": item.description,
        "archived_at": None,
        "archived_by": None,
    }


def integration(ctx: Ctx, app: GitHubApp) -> dict[str, Any]:
    """The App itself (`GET /app`, `performed_via_github_app`, a check run's `app`)."""
    fields = {
        "id": app.id,
        "slug": app.slug,
        "client_id": app.client_id,
        "node_id": node_id("Integration", app.id),
        "owner": user(ctx, app.owner),
        "name": app.name,
        "description": f"{app.name} (simulated)",
        "external_url": f"{ctx.urls.web}apps/{app.slug}",
        "html_url": f"{ctx.urls.web}apps/{app.slug}",
        "created_at": iso(app.created_at),
        "updated_at": iso(app.created_at),
        "permissions": dict(app.permissions),
        "events": list(app.events),
    }
    return overlay(rehome(rest_example("integration"), ctx.urls), fields)


def installation(ctx: Ctx, inst: Installation) -> dict[str, Any]:
    app = ctx.world.apps[inst.app_id]
    fields = {
        "id": inst.id,
        "account": user(ctx, inst.account),
        "repository_selection": inst.repository_selection,
        "access_tokens_url": f"{ctx.urls.api}app/installations/{inst.id}/access_tokens",
        "repositories_url": f"{ctx.urls.api}installation/repositories",
        "html_url": f"{ctx.urls.web}settings/installations/{inst.id}",
        "app_id": app.id,
        "client_id": app.client_id,
        "app_slug": app.slug,
        "target_id": inst.account.id,
        "target_type": inst.account.type,
        "permissions": dict(app.permissions),
        "events": list(app.events),
        "created_at": iso(inst.created_at),
        "updated_at": iso(inst.created_at),
        "single_file_name": None,
        "has_multiple_single_files": False,
        "single_file_paths": [],
        "suspended_at": None,
        "suspended_by": None,
    }
    return overlay(rehome(rest_example("installation"), ctx.urls), fields)


def installation_token(ctx: Ctx, token: Token, repos: list[Repo] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "token": token.value,
        "expires_at": iso(token.expires_at),  # exactly YYYY-MM-DDTHH:MM:SSZ: githubkit strptime()s it
        "permissions": dict(token.permissions),
        "repository_selection": "selected" if repos is not None else "all",
    }
    if repos is not None:
        body["repositories"] = [repository(ctx, repo) for repo in repos]
    return body


def collaborator_permission(ctx: Ctx, account: Account, permission: Permission) -> dict[str, Any]:
    collaborator = user(ctx, account) | {"permissions": PERMISSION_FLAGS[permission], "role_name": permission}
    return {"permission": permission, "role_name": permission, "user": collaborator}


def git_ref(ctx: Ctx, repo: Repo, ref: str, sha: str) -> dict[str, Any]:
    api = ctx.repo_api(repo)
    return {
        "ref": ref,
        "node_id": node_id("Ref", zlib.crc32(f"{repo.full_name}:{ref}".encode())),
        "url": f"{api}/git/{ref}",
        "object": {"type": "commit", "sha": sha, "url": f"{api}/git/commits/{sha}"},
    }


def content_entry(ctx: Ctx, repo: Repo, entry: TreeEntry, ref: str) -> dict[str, Any]:
    """One item of a directory listing (a file without its content)."""
    kind = {"tree": "dir", "commit": "submodule"}.get(entry.type, "file")
    if entry.mode == "120000":
        kind = "symlink"
    api, web = ctx.repo_api(repo), ctx.repo_web(repo)
    git_url = f"{api}/git/{'trees' if kind == 'dir' else 'blobs'}/{entry.sha}"
    self_url = f"{api}/contents/{quote(entry.path)}?ref={quote(ref)}"
    html_url = f"{web}/{'tree' if kind == 'dir' else 'blob'}/{ref}/{quote(entry.path)}"
    download = f"{web}/raw/{ref}/{quote(entry.path)}" if kind == "file" else None
    return {
        "type": kind,
        "size": entry.size,
        "name": entry.path.rsplit("/", 1)[-1],
        "path": entry.path,
        "sha": entry.sha,
        "url": self_url,
        "git_url": git_url,
        "html_url": html_url,
        "download_url": download,
        "_links": {"self": self_url, "git": git_url, "html": html_url},
    }


def commit(ctx: Ctx, repo: Repo, info: CommitInfo) -> dict[str, Any]:
    """A `commit` (`GET /repos/{o}/{r}/commits/{ref}`, a branch's `commit`)."""
    api, web = ctx.repo_api(repo), ctx.repo_web(repo)
    when = datetime.fromtimestamp(info.timestamp, UTC)
    person = {"name": info.author_name, "email": info.author_email, "date": iso(when)}
    return {
        "sha": info.sha,
        "node_id": node_id("Commit", zlib.crc32(info.sha.encode())),
        "url": f"{api}/commits/{info.sha}",
        "html_url": f"{web}/commit/{info.sha}",
        "comments_url": f"{api}/commits/{info.sha}/comments",
        "commit": {
            "url": f"{api}/git/commits/{info.sha}",
            "author": person,
            "committer": dict(person),
            "message": info.message,
            "comment_count": 0,
            "tree": {"sha": info.tree, "url": f"{api}/git/trees/{info.tree}"},
            "verification": {"verified": False, "reason": "unsigned", "payload": None, "signature": None},
        },
        "author": None,  # no GitHub account is linked to the simulator's commit e-mails
        "committer": None,
        "parents": [
            {"sha": p, "url": f"{api}/commits/{p}", "html_url": f"{web}/commit/{p}"} for p in info.parents
        ],
    }


def branch(ctx: Ctx, repo: Repo, name: str, info: CommitInfo) -> dict[str, Any]:
    """A `branch-with-protection`; the simulator protects no branch."""
    url = f"{ctx.repo_api(repo)}/branches/{quote(name)}"
    checks = {"enforcement_level": "off", "contexts": [], "checks": []}
    return {
        "name": name,
        "commit": commit(ctx, repo, info),
        "_links": {"self": url, "html": f"{ctx.repo_web(repo)}/tree/{quote(name)}"},
        "protected": False,
        "protection": {"enabled": False, "required_status_checks": checks},
        "protection_url": f"{url}/protection",
    }


def git_tree(ctx: Ctx, repo: Repo, sha: str, entries: list[TreeEntry]) -> dict[str, Any]:
    api = ctx.repo_api(repo)
    items = []
    for entry in entries:
        item: dict[str, Any] = {"path": entry.path, "mode": entry.mode, "type": entry.type, "sha": entry.sha}
        if entry.type == "blob":
            item |= {"size": entry.size, "url": f"{api}/git/blobs/{entry.sha}"}
        elif entry.type == "tree":
            item["url"] = f"{api}/git/trees/{entry.sha}"
        items.append(item)
    return {"sha": sha, "url": f"{api}/git/trees/{sha}", "tree": items, "truncated": False}


def git_blob(ctx: Ctx, repo: Repo, sha: str, data: bytes) -> dict[str, Any]:
    return {
        "sha": sha,
        "node_id": node_id("Blob", zlib.crc32(sha.encode())),
        "size": len(data),
        "url": f"{ctx.repo_api(repo)}/git/blobs/{sha}",
        "content": _base64_lines(data),
        "encoding": "base64",
    }


def _base64_lines(data: bytes) -> str:
    """Base64 with a newline every 60 characters, as GitHub sends it."""
    encoded = base64.b64encode(data).decode()
    return "".join(f"{encoded[i : i + 60]}\n" for i in range(0, len(encoded), 60))


def content_file(ctx: Ctx, repo: Repo, entry: TreeEntry, ref: str, data: bytes) -> dict[str, Any]:
    """A file with its content in base64, a newline every 60 characters as GitHub sends it."""
    content = _base64_lines(data)
    return content_entry(ctx, repo, entry, ref) | {"type": "file", "encoding": "base64", "content": content}


def rate_limit(used: int, limit: int, reset: int) -> dict[str, Any]:
    body: dict[str, Any] = rest_example("rate-limit-overview")
    core = {"limit": limit, "used": used, "remaining": max(limit - used, 0), "reset": reset}
    body["resources"]["core"] = core
    body["rate"] = dict(core)  # dropped in 2026-03-10, still sent for 2022-11-28 clients
    return body
