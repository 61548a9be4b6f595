"""delivery_key: one key for the same event under two GUIDs. (Reading the payloads: test_events.py.)"""

from __future__ import annotations

import json

import pytest

from app.github.webhook import delivery_key


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
