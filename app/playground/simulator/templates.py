"""Webhook payload templates: GitHub's recorded examples, fixed in this one place so githubkit 0.16.1
parses every one of them, plus the templates GitHub's examples lack.

The fixes add fields GitHub introduced after the examples were recorded (see the fixtures' README
and `reference/github.md` 3.2): label archiving (`archived_at`, `archived_by`), `repository.disabled`,
`installation.app_slug`, `discussion.state_reason`, and a check run's `node_id`, `details_url` and its
App's `permissions`/`events`. Derived templates:
- `pull_request_review.submitted.changes_requested`: the `commented` review with its state changed;
- `issue_comment.created.pull_request`: an App delivery of a comment on a pull request
  (`issue.pull_request` present — how GitHub marks a PR thread);
- `issue_comment.deleted`, `check_run.created`, `check_run.completed`: other actions of examples
  whose shapes are the same.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import cache
from typing import Any

from app.playground.simulator.examples import webhook_example, webhook_example_names

Payload = dict[str, Any]


def _walk(obj: Any, visit: Callable[[dict[str, Any]], None]) -> None:
    if isinstance(obj, dict):
        visit(obj)
        for value in obj.values():
            _walk(value, visit)
    elif isinstance(obj, list):
        for value in obj:
            _walk(value, visit)


def _is_label(obj: dict[str, Any]) -> bool:
    return {"name", "color", "default"} <= obj.keys()


def _is_repository(obj: dict[str, Any]) -> bool:
    return {"full_name", "forks_url", "owner"} <= obj.keys()


def _fix_everywhere(obj: dict[str, Any]) -> None:
    if _is_label(obj):
        obj.setdefault("archived_at", None)
        obj.setdefault("archived_by", None)
    if _is_repository(obj):
        obj.setdefault("disabled", False)


def _fix_installation(payload: Payload) -> None:
    payload["installation"].setdefault("app_slug", "octoapp")


def _fix_check_run(payload: Payload) -> None:
    run = payload["check_run"]
    run.setdefault("node_id", "MDg6Q2hlY2tSdW40")
    run.setdefault("details_url", "https://example.com")
    for app in (run["app"], run["check_suite"]["app"]):
        app.setdefault("permissions", {"checks": "write", "metadata": "read"})
        app.setdefault("events", ["check_run"])


def _fix_discussion(payload: Payload) -> None:
    payload["discussion"].setdefault("state_reason", None)


SPECIFIC_FIXES: dict[str, Callable[[Payload], None]] = {
    "installation.created": _fix_installation,
    "installation.deleted": _fix_installation,
    "installation_repositories.added": _fix_installation,
    "check_run.rerequested": _fix_check_run,
    "discussion_comment.created": _fix_discussion,
}


def _fixed(name: str) -> Payload:
    payload = webhook_example(name)
    _walk(payload, _fix_everywhere)
    if name in SPECIFIC_FIXES:
        SPECIFIC_FIXES[name](payload)
    return payload


def _changes_requested() -> Payload:
    payload = _fixed("pull_request_review.submitted")
    payload["review"]["state"] = "changes_requested"
    payload["review"]["body"] = "Please change this."
    return payload


def _comment_on_pull() -> Payload:
    payload = _fixed("issue_comment.created.with-installation")
    issue = payload["issue"]
    html = issue["html_url"].replace("/issues/", "/pull/")
    issue["pull_request"] = {
        "url": issue["url"].replace("/issues/", "/pulls/"),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "merged_at": None,
    }
    issue["html_url"] = html
    return payload


def _with_action(name: str, action: str, *, drop: tuple[str, ...] = ()) -> Callable[[], Payload]:
    def build() -> Payload:
        payload = _fixed(name)
        payload["action"] = action
        for key in drop:
            payload.pop(key, None)
        return payload

    return build


DERIVED: dict[str, Callable[[], Payload]] = {
    "pull_request_review.submitted.changes_requested": _changes_requested,
    "issue_comment.created.pull_request": _comment_on_pull,
    "issue_comment.deleted": _with_action("issue_comment.created.with-installation", "deleted"),
    "check_run.created": _with_action("check_run.requested_action", "created", drop=("requested_action",)),
    "check_run.completed": _with_action(
        "check_run.requested_action", "completed", drop=("requested_action",)
    ),
}


@cache
def _template(name: str) -> Payload:
    return DERIVED[name]() if name in DERIVED else _fixed(name)


def template(name: str) -> Payload:
    """A fresh copy of the fixed template `name` (a fixture file stem or a derived name)."""
    return copy.deepcopy(_template(name))


def template_names() -> list[str]:
    return sorted([*webhook_example_names(), *DERIVED])


def event_of(name: str) -> str:
    """The `X-GitHub-Event` a template is for: the part of its name before the first dot."""
    return name.split(".", 1)[0]
