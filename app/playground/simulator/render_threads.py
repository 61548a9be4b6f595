"""REST shapes of thread objects: issues, pull requests, comments, reactions, reviews, check runs,
commit statuses and changed files. Same method as `render.py`: GitHub's example plus our state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from app.playground.simulator import render
from app.playground.simulator.examples import DROP, overlay, rehome, rest_example
from app.playground.simulator.git import FileChange
from app.playground.simulator.render import Ctx
from app.playground.simulator.state import (
    REACTIONS,
    Account,
    CheckRun,
    Comment,
    Issue,
    Reaction,
    Review,
    Status,
    iso,
    node_id,
)

PULL_ONLY_FIELDS = (  # in `pull-request` but not in `pull-request-simple` (the list shape)
    "merged",
    "mergeable",
    "rebaseable",
    "mergeable_state",
    "merged_by",
    "comments",
    "review_comments",
    "maintainer_can_modify",
    "commits",
    "additions",
    "deletions",
    "changed_files",
)


@dataclass(frozen=True, slots=True)
class PullSnapshot:
    """What git says about a pull request right now."""

    head_sha: str
    base_sha: str
    commits: int
    additions: int
    deletions: int
    changed_files: int


def author_association(ctx: Ctx, repo_name: str, account: Account) -> str:
    repo = ctx.world.repos[repo_name]
    if account.login == repo.owner.login:
        return "OWNER"
    if repo.collaborators.get(account.login, "none") != "none":
        return "COLLABORATOR"
    return "NONE"


def reaction_rollup(ctx: Ctx, url: str, subject: tuple[str, int], repo: str) -> dict[str, Any]:
    found = [r.content for r in ctx.world.reactions if r.subject == subject and r.repo == repo]
    return {"url": f"{url}/reactions", "total_count": len(found)} | {c: found.count(c) for c in REACTIONS}


def issue(ctx: Ctx, item: Issue, *, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """An `issue` (a pull request seen through the issues API has `pull_request`)."""
    example = rehome(base if base is not None else rest_example("issue"), ctx.urls, item.repo)
    api = f"{ctx.repo_api(item.repo)}/issues/{item.number}"
    kind = "pull" if item.pull else "issues"
    fields = {
        "id": item.id,
        "node_id": node_id("Issue", item.id),
        "url": api,
        "repository_url": ctx.repo_api(item.repo),
        "labels_url": f"{api}/labels{{/name}}",
        "comments_url": f"{api}/comments",
        "events_url": f"{api}/events",
        "timeline_url": f"{api}/timeline",
        "html_url": f"{ctx.repo_web(item.repo)}/{kind}/{item.number}",
        "reactions": reaction_rollup(ctx, api, ("issue", item.number), item.repo),
        "pull_request": _issue_pull_links(ctx, item) if item.pull else DROP,
    }
    return overlay(example, fields | _issue_common(ctx, item))


def _issue_common(ctx: Ctx, item: Issue) -> dict[str, Any]:
    """Fields an issue and a pull request share."""
    repo = ctx.world.repos[item.repo]
    return {
        "number": item.number,
        "state": item.state,
        "state_reason": "completed" if item.state == "closed" else None,
        "title": item.title,
        "body": item.body,
        "user": render.user(ctx, item.user),
        "labels": [render.label(ctx, item.repo, repo.labels[name]) for name in item.labels],
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "locked": False,
        "active_lock_reason": None,
        "comments": len(ctx.world.thread_comments(item.repo, item.number)),
        "closed_at": iso(item.closed_at),
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
        "closed_by": None,
        "author_association": author_association(ctx, item.repo, item.user),
        "performed_via_github_app": None,
        "pinned_comment": None,
    }


def _issue_pull_links(ctx: Ctx, item: Issue) -> dict[str, Any]:
    web = f"{ctx.repo_web(item.repo)}/pull/{item.number}"
    return {
        "url": f"{ctx.repo_api(item.repo)}/pulls/{item.number}",
        "html_url": web,
        "diff_url": f"{web}.diff",
        "patch_url": f"{web}.patch",
        "merged_at": None,
    }


def pull(
    ctx: Ctx, item: Issue, snap: PullSnapshot, *, base: dict[str, Any] | None = None, simple: bool = False
) -> dict[str, Any]:
    """A `pull-request` (or, `simple`, a `pull-request-simple` as `pulls.list` returns)."""
    assert item.pull is not None
    example = rehome(base if base is not None else rest_example("pull-request"), ctx.urls, item.repo)
    fields = _pull_links(ctx, item, snap) | _issue_common(ctx, item) | _pull_sides(ctx, item, snap)
    fields["labels"] = [label | {"archived_by": None} for label in fields["labels"]]
    fields |= {"requested_reviewers": [], "requested_teams": [], "auto_merge": None, "draft": item.pull.draft}
    fields |= {"merged_at": None, "merge_commit_sha": None, "pinned_comment": DROP, "state_reason": DROP}
    fields |= {"closed_by": DROP, "performed_via_github_app": DROP}
    if simple:
        fields |= dict.fromkeys(PULL_ONLY_FIELDS, DROP)
    else:
        fields |= _pull_stats(ctx, item, snap)
    return overlay(example, fields)


def _pull_links(ctx: Ctx, item: Issue, snap: PullSnapshot) -> dict[str, Any]:
    assert item.pull is not None
    api, web = (
        f"{ctx.repo_api(item.repo)}/pulls/{item.number}",
        f"{ctx.repo_web(item.repo)}/pull/{item.number}",
    )
    issue_api = f"{ctx.repo_api(item.repo)}/issues/{item.number}"
    statuses = f"{ctx.repo_api(item.repo)}/statuses/{snap.head_sha}"
    links = {
        "url": api,
        "id": item.pull.id,
        "node_id": node_id("PullRequest", item.pull.id),
        "html_url": web,
        "diff_url": f"{web}.diff",
        "patch_url": f"{web}.patch",
        "issue_url": issue_api,
        "commits_url": f"{api}/commits",
        "review_comments_url": f"{api}/comments",
        "review_comment_url": f"{ctx.repo_api(item.repo)}/pulls/comments{{/number}}",
        "comments_url": f"{issue_api}/comments",
        "statuses_url": statuses,
    }
    rels: dict[str, Any] = {"self": api, "html": web, "issue": issue_api, "comments": f"{issue_api}/comments"}
    rels |= {"review_comments": f"{api}/comments", "review_comment": links["review_comment_url"]}
    rels |= {"commits": f"{api}/commits", "statuses": statuses}
    return links | {"_links": {name: {"href": href} for name, href in rels.items()}}


def _pull_sides(ctx: Ctx, item: Issue, snap: PullSnapshot) -> dict[str, Any]:
    assert item.pull is not None
    head_repo = ctx.world.repos[item.pull.head_repo]
    base_repo = ctx.world.repos[item.repo]
    head: dict[str, Any] = {
        "label": f"{head_repo.owner.login}:{item.pull.head_ref}",
        "ref": item.pull.head_ref,
    }
    head |= {"sha": snap.head_sha, "user": render.user(ctx, head_repo.owner)}
    base: dict[str, Any] = {
        "label": f"{base_repo.owner.login}:{item.pull.base_ref}",
        "ref": item.pull.base_ref,
    }
    base |= {"sha": snap.base_sha, "user": render.user(ctx, base_repo.owner)}
    return {
        "head": head | {"repo": _nested_repo(ctx, head_repo.full_name)},
        "base": base | {"repo": _nested_repo(ctx, base_repo.full_name)},
    }


def _nested_repo(ctx: Ctx, full_name: str) -> dict[str, Any]:
    rendered = render.repository(ctx, ctx.world.repos[full_name])
    for key in ("parent", "source", "organization", "subscribers_count", "network_count"):
        rendered.pop(key, None)
    return rendered


def _pull_stats(ctx: Ctx, item: Issue, snap: PullSnapshot) -> dict[str, Any]:
    assert item.pull is not None
    return {
        "merged": item.pull.merged,
        "mergeable": True,
        "rebaseable": True,
        "mergeable_state": "clean",
        "merged_by": None,
        "comments": len(ctx.world.thread_comments(item.repo, item.number)),
        "review_comments": 0,
        "maintainer_can_modify": item.pull.maintainer_can_modify,
        "commits": snap.commits,
        "additions": snap.additions,
        "deletions": snap.deletions,
        "changed_files": snap.changed_files,
    }


def comment(ctx: Ctx, item: Comment, *, base: dict[str, Any] | None = None) -> dict[str, Any]:
    example = rehome(base if base is not None else rest_example("issue-comment"), ctx.urls, item.repo)
    url = f"{ctx.repo_api(item.repo)}/issues/comments/{item.id}"
    thread = ctx.world.issues[(item.repo, item.issue_number)]
    kind = "pull" if thread.pull else "issues"
    app = ctx.world.apps.get(item.app_id) if item.app_id else None
    fields = {
        "id": item.id,
        "node_id": node_id("IssueComment", item.id),
        "url": url,
        "html_url": f"{ctx.repo_web(item.repo)}/{kind}/{item.issue_number}#issuecomment-{item.id}",
        "issue_url": f"{ctx.repo_api(item.repo)}/issues/{item.issue_number}",
        "body": item.body,
        "user": render.user(ctx, item.user),
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
        "author_association": author_association(ctx, item.repo, item.user),
        "performed_via_github_app": render.integration(ctx, app) if app else None,
        "reactions": reaction_rollup(ctx, url, ("issue_comment", item.id), item.repo),
    }
    return overlay(example, fields)


def reaction(ctx: Ctx, item: Reaction) -> dict[str, Any]:
    fields = {
        "id": item.id,
        "node_id": node_id("Reaction", item.id),
        "user": render.user(ctx, item.user),
        "content": item.content,
        "created_at": iso(item.created_at),
    }
    return overlay(rest_example("reaction"), fields)


def review(ctx: Ctx, item: Review, *, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A `pull-request-review` (REST states are upper case; a webhook's are lower case)."""
    example = rehome(base if base is not None else rest_example("pull-request-review"), ctx.urls, item.repo)
    web = f"{ctx.repo_web(item.repo)}/pull/{item.number}"
    api = f"{ctx.repo_api(item.repo)}/pulls/{item.number}"
    fields = {
        "id": item.id,
        "node_id": node_id("PullRequestReview", item.id),
        "user": render.user(ctx, item.user),
        "body": item.body,
        "state": item.state,
        "html_url": f"{web}#pullrequestreview-{item.id}",
        "pull_request_url": api,
        "_links": {"html": {"href": f"{web}#pullrequestreview-{item.id}"}, "pull_request": {"href": api}},
        "submitted_at": iso(item.submitted_at),
        "commit_id": item.commit_id,
        "author_association": author_association(ctx, item.repo, item.user),
    }
    return overlay(example, fields)


def check_run(
    ctx: Ctx, item: CheckRun, pulls: list[tuple[Issue, PullSnapshot]], *, base: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A `check-run`; `pulls` are the open pull requests whose head is `item.head_sha`."""
    example = rehome(base if base is not None else rest_example("check-run"), ctx.urls, item.repo)
    url = f"{ctx.repo_api(item.repo)}/check-runs/{item.id}"
    output = {"title": None, "summary": None, "text": None} | item.output
    output |= {"annotations_count": 0, "annotations_url": f"{url}/annotations"}
    fields = {
        "id": item.id,
        "head_sha": item.head_sha,
        "node_id": node_id("CheckRun", item.id),
        "external_id": item.external_id or "",
        "url": url,
        "html_url": f"{ctx.repo_web(item.repo)}/runs/{item.id}",
        "details_url": item.details_url or f"{ctx.repo_web(item.repo)}/runs/{item.id}",
        "status": item.status,
        "conclusion": item.conclusion,
        "started_at": iso(item.started_at),
        "completed_at": iso(item.completed_at),
        "output": output,
        "name": item.name,
        "check_suite": {"id": item.suite_id},
        "app": render.integration(ctx, ctx.world.apps[item.app_id]),
        "pull_requests": [_minimal_pull(ctx, pr, snap) for pr, snap in pulls],
        "deployment": DROP,
    }
    return overlay(example, fields)


def _minimal_pull(ctx: Ctx, item: Issue, snap: PullSnapshot) -> dict[str, Any]:
    assert item.pull is not None
    head_repo, base_repo = ctx.world.repos[item.pull.head_repo], ctx.world.repos[item.repo]

    def side(ref: str, sha: str, repo_id: int, name: str, full_name: str) -> dict[str, Any]:
        return {"ref": ref, "sha": sha, "repo": {"id": repo_id, "url": ctx.repo_api(full_name), "name": name}}

    return {
        "url": f"{ctx.repo_api(item.repo)}/pulls/{item.number}",
        "id": item.pull.id,
        "number": item.number,
        "head": side(item.pull.head_ref, snap.head_sha, head_repo.id, head_repo.name, head_repo.full_name),
        "base": side(item.pull.base_ref, snap.base_sha, base_repo.id, base_repo.name, base_repo.full_name),
    }


def status(ctx: Ctx, item: Status) -> dict[str, Any]:
    fields = {
        "url": f"{ctx.repo_api(item.repo)}/statuses/{item.sha}",
        "avatar_url": render.user(ctx, item.creator)["avatar_url"],
        "id": item.id,
        "node_id": node_id("StatusContext", item.id),
        "state": item.state,
        "description": item.description,
        "target_url": item.target_url,
        "context": item.context,
        "created_at": iso(item.created_at),
        "updated_at": iso(item.created_at),
        "creator": render.user(ctx, item.creator),
    }
    return overlay(rest_example("status"), fields)


def diff_entry(ctx: Ctx, repo: str, change: FileChange, head_sha: str) -> dict[str, Any]:
    web, path = ctx.repo_web(repo), quote(change.path)
    return {
        "sha": change.blob_sha,
        "filename": change.path,
        "status": change.status,
        "additions": change.additions,
        "deletions": change.deletions,
        "changes": change.additions + change.deletions,
        "blob_url": f"{web}/blob/{head_sha}/{path}",
        "raw_url": f"{web}/raw/{head_sha}/{path}",
        "contents_url": f"{ctx.repo_api(repo)}/contents/{path}?ref={head_sha}",
    }
