"""parse_event gives githubkit's own answers, with one TypeAdapter per event name (not per call)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from githubkit.webhooks import parse
from pydantic import ValidationError

from app.github import webhook
from app.github.webhook import delivery_key, parse_event

FIXTURES = Path(__file__).resolve().parents[3] / "app" / "playground" / "fixtures" / "webhooks"
PAYLOADS = sorted(FIXTURES.glob("*.json"))


@pytest.mark.parametrize("path", PAYLOADS, ids=[p.stem for p in PAYLOADS])
def test_every_recorded_payload_parses_as_githubkit_parses_it(path: Path) -> None:
    event = path.name.split(".", 1)[0]
    body = path.read_bytes()
    try:
        expected = parse(event, body)
    except ValidationError:  # a few recorded payloads lack fields githubkit requires: same refusal
        with pytest.raises(ValidationError):
            parse_event(event, body)
        return
    assert parse_event(event, body) == expected


def test_an_event_githubkit_does_not_know_is_none() -> None:
    assert parse_event("no_such_event", b"{}") is None


def test_the_adapter_of_an_event_is_built_once() -> None:
    body = (FIXTURES / "issue_comment.created.json").read_bytes()
    parse_event("issue_comment", body)
    built = webhook._event_adapter.cache_info().misses
    for _ in range(3):
        parse_event("issue_comment", body)
    assert webhook._event_adapter.cache_info().misses == built


def comment_event(**changes: object) -> bytes:
    comment = {"id": 7, "updated_at": "2026-01-01T00:00:00Z", "body": "/aqm run"} | changes
    return json.dumps({"action": "created", "comment": comment, "sender": {"login": "a"}}).encode()


KEYS = {  # (event, body A, body B, same key?)
    "one comment event re-sent with other bytes": (
        "issue_comment",
        comment_event(),
        json.dumps(json.loads(comment_event()) | {"sender": {"login": "a", "x": 1}}).encode(),
        True,
    ),
    "an edit later": (
        "issue_comment",
        comment_event(),
        comment_event(updated_at="2026-01-01T00:00:09Z"),
        False,
    ),
    "another text in the same second": (
        "issue_comment",
        comment_event(),
        comment_event(body="/aqm help"),
        False,
    ),
    "another comment": ("issue_comment", comment_event(), comment_event(id=8), False),
    "an event without a timestamp: the body itself": ("check_run", b'{"a": 1}', b'{"a": 1}', True),
    "an event without a timestamp, other bytes": ("check_run", b'{"a": 1}', b'{"a": 2}', False),
    "a body without the object's fields: the body itself": ("issue_comment", b'{"a": 1}', b'{"a": 2}', False),
}


def key(event: str, body: bytes) -> str:
    """The key as the intake computes it, from the body it parsed once."""
    return delivery_key(event, json.loads(body), body)


@pytest.mark.parametrize(("event", "first", "second", "same"), list(KEYS.values()), ids=list(KEYS))
def test_the_same_event_under_two_guids_has_one_delivery_key(
    event: str, first: bytes, second: bytes, same: bool
) -> None:
    assert (key(event, first) == key(event, second)) is same


def test_a_comment_key_names_the_event_the_comment_and_its_version() -> None:
    assert key("issue_comment", comment_event()).startswith(
        "issue_comment.created:comment:7:2026-01-01T00:00:00Z:"
    )
