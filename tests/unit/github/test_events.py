"""Reading webhook payloads (app/github/events.py): GitHub's real examples are read for the fields aqm
uses whatever else they carry or lack; events aqm does not act on are not parsed at all; a payload
without a used field is refused in one line that names it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.github import events
from app.github.events import ACTED, UnreadableEvent, acts_on, read_event
from app.playground.simulator.templates import event_of, template, template_names

ROOT = Path(__file__).resolve().parents[3]
OCTOKIT = sorted((ROOT / "tests" / "fixtures" / "octokit-webhooks").glob("*.json"))
PLAYGROUND = sorted((ROOT / "app" / "playground" / "fixtures" / "webhooks").glob("*.json"))


def kind_of(path: Path) -> tuple[str, str | None]:
    """The event (from the file name, as GitHub's header names it) and the payload's action."""
    action = json.loads(path.read_bytes()).get("action")
    return path.name.split(".", 1)[0], action


def test_every_octokit_example_is_copied() -> None:
    assert len(OCTOKIT) == 329


@pytest.mark.parametrize("path", OCTOKIT + PLAYGROUND, ids=[p.name for p in OCTOKIT + PLAYGROUND])
def test_every_real_example_is_read_when_acted_on_and_left_unread_otherwise(path: Path) -> None:
    event, action = kind_of(path)
    read = read_event(event, action, path.read_bytes())
    if not acts_on(event, action):
        assert read is None
        return
    assert isinstance(read, ACTED[f"{event}.{action}"])
    raw = json.loads(path.read_bytes())
    assert (read.repository.full_name, read.sender.login) == (
        raw["repository"]["full_name"],
        raw["sender"]["login"],
    )
    assert read.installation_id == (raw.get("installation") or {}).get("id")


def examples(kind: str) -> list[dict[str, Any]]:
    event, action = kind.split(".")
    found = [json.loads(p.read_bytes()) for p in OCTOKIT if kind_of(p) == (event, action)]
    assert found, kind
    return found


def test_the_fields_read_are_the_payloads_own() -> None:
    for raw in examples("issue_comment.created"):
        comment = read_event("issue_comment", "created", json.dumps(raw))
        assert isinstance(comment, events.CommentEvent)
        assert (comment.comment.id, comment.comment.body) == (raw["comment"]["id"], raw["comment"]["body"])
        assert comment.thread == (raw["issue"]["number"], "pull_request" in raw["issue"])
    for raw in examples("pull_request.opened"):
        pull = read_event("pull_request", "opened", json.dumps(raw))
        assert isinstance(pull, events.PullRequestEvent)
        head = raw["pull_request"]["head"]
        assert (pull.pull_request.head.sha, pull.pull_request.head.ref) == (head["sha"], head["ref"])
    for raw in examples("issues.labeled"):
        labeled = read_event("issues", "labeled", json.dumps(raw))
        assert isinstance(labeled, events.IssueEvent) and labeled.label is not None
        assert labeled.label.name == raw["label"]["name"]
    for raw in examples("pull_request_review.submitted"):
        review = read_event("pull_request_review", "submitted", json.dumps(raw))
        assert isinstance(review, events.ReviewEvent)
        assert (review.review.state, review.review.commit_id) == (
            raw["review"]["state"],
            raw["review"]["commit_id"],
        )


def test_the_pull_request_opened_with_a_null_body_is_read() -> None:
    nulls = [raw for raw in examples("pull_request.opened") if raw["pull_request"]["body"] is None]
    assert nulls
    assert all(read_event("pull_request", "opened", json.dumps(raw)) is not None for raw in nulls)


def test_an_edit_keeps_the_body_before_it() -> None:
    for raw in examples("issue_comment.edited"):
        edited = read_event("issue_comment", "edited", json.dumps(raw))
        assert isinstance(edited, events.CommentEvent)
        before = raw.get("changes", {}).get("body", {}).get("from")
        got = edited.changes.body.from_ if edited.changes and edited.changes.body else None
        assert got == before


UNREAD = {  # events aqm does not act on: not even JSON is looked at
    "a push": ("push", None),
    "a check suite whose app declares unknown events (githubkit #118)": ("check_suite", "requested"),
    "an installation": ("installation", "created"),
    "a reopened pull request": ("pull_request", "reopened"),
    "a deleted comment": ("issue_comment", "deleted"),
    "an event GitHub invents tomorrow": ("copilot_thing", "happened"),
}


@pytest.mark.parametrize(("event", "action"), list(UNREAD.values()), ids=list(UNREAD))
def test_an_event_aqm_does_not_act_on_is_not_parsed(event: str, action: str | None) -> None:
    assert read_event(event, action, b"\x00 not json {") is None


def comment_payload(**changes: Any) -> dict[str, Any]:
    raw = examples("issue_comment.created")[0]
    for path, value in changes.items():
        target = raw
        *parents, last = path.split(".")
        for key in parents:
            target = target[key]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value
    return raw


DELETE = object()
REFUSED = {  # payload -> what the one line names
    "a comment without an id": (comment_payload(**{"comment.id": DELETE}), "comment.id: Field required"),
    "an id that is text": (
        comment_payload(**{"comment.id": "7"}),
        "comment.id: Input should be a valid integer",
    ),
    "no repository": (comment_payload(repository=DELETE), "repository: Field required"),
    "a sender without a login": (comment_payload(**{"sender.login": None}), "sender.login"),
    "a list for a body": (comment_payload(**{"comment.body": ["/aqm run"]}), "comment.body"),
}


@pytest.mark.parametrize(("payload", "named"), list(REFUSED.values()), ids=list(REFUSED))
def test_a_payload_without_a_field_aqm_uses_is_refused_in_one_line(
    payload: dict[str, Any], named: str
) -> None:
    with pytest.raises(UnreadableEvent) as refused:
        read_event("issue_comment", "created", json.dumps(payload))
    line = str(refused.value)
    assert line.startswith("issue_comment.created: ") and named in line
    assert "\n" not in line and len(line) <= events.MAX_REASON_CHARS


def test_a_body_that_is_not_a_json_object_is_refused() -> None:
    for body in (b"[]", b"nope", b'"text"'):
        with pytest.raises(UnreadableEvent):
            read_event("issues", "opened", body)


def test_a_refusal_quotes_no_payload_text() -> None:
    secret = "ghp_" + "x" * 36
    with pytest.raises(UnreadableEvent) as refused:
        read_event("issue_comment", "created", json.dumps(comment_payload(**{"comment.id": secret})))
    assert secret not in str(refused.value)


@pytest.mark.parametrize("name", template_names())
def test_every_simulator_template_is_read_like_the_real_examples(name: str) -> None:
    payload = template(name)
    event, action = event_of(name), payload.get("action")
    read = read_event(event, action, json.dumps(payload))
    assert (read is not None) is acts_on(event, action)
