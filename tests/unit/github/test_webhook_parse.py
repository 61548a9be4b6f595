"""parse_event gives githubkit's own answers, with one TypeAdapter per event name (not per call)."""

from __future__ import annotations

from pathlib import Path

import pytest
from githubkit.webhooks import parse
from pydantic import ValidationError

from app.github import webhook
from app.github.webhook import parse_event

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
