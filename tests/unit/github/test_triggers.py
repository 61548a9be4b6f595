"""Trigger matching and authorisation (app/github/triggers.py): pure, from recorded payload shapes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from app.github.events import IssueEvent, PullRequestEvent, read_event
from app.github.triggers import EventFacts, authorise, matching, tell_fork
from app.playground.simulator.templates import template
from app.spec.models import GitHubSettings, Trigger

FIXTURES = Path(__file__).parents[3] / "app" / "playground" / "fixtures" / "webhooks"

SETTINGS = GitHubSettings(
    triggers=[
        Trigger(event="issues.opened", pipeline="triage"),
        Trigger(event="issues.labeled", label="aqm", pipeline="implement", agent="dev"),
        Trigger(event="pull_request.opened", pipeline="review"),
        Trigger(event="issues.opened", pipeline="second"),
    ],
    allow_bots=["Renovate[bot]"],
)


def facts(kind: str, **fields: Any) -> EventFacts:
    return replace(EventFacts(kind, "octocat", sender_is_bot=False), **fields)


MATCHES = {
    "an opened issue fires every issues.opened trigger, in order": (
        facts("issues.opened"),
        ["triage", "second"],
    ),
    "the trigger's label must be the label added": (facts("issues.labeled", label="aqm"), ["implement"]),
    "labels compare case-insensitively, as on GitHub": (facts("issues.labeled", label="AQM"), ["implement"]),
    "another label fires nothing": (facts("issues.labeled", label="bug"), []),
    "an opened pull request fires its trigger": (facts("pull_request.opened"), ["review"]),
    "an event nobody declared fires nothing": (facts("pull_request.synchronize"), []),
}


@pytest.mark.parametrize(("event", "pipelines"), list(MATCHES.values()), ids=list(MATCHES))
def test_matching(event: EventFacts, pipelines: list[str]) -> None:
    assert [t.pipeline for t in matching(SETTINGS, event)] == pipelines


def test_a_labeled_trigger_without_a_label_fires_for_any_label() -> None:
    settings = GitHubSettings(triggers=[Trigger(event="issues.labeled", pipeline="p")])
    assert len(matching(settings, facts("issues.labeled", label="anything"))) == 1


AUTHORISATION = {
    "any person may fire a declared trigger": (facts("issues.opened"), "run"),
    "a bot may not": (facts("issues.opened", sender="dependabot[bot]", sender_is_bot=True), "bot"),
    "an allowlisted bot may (login compared case-insensitively)": (
        facts("issues.opened", sender="renovate[bot]", sender_is_bot=True),
        "run",
    ),
    "a pull request from a fork waits for a maintainer": (
        facts("pull_request.opened", from_fork=True),
        "fork",
    ),
    "the app's own task branch never triggers, even allowlisted": (
        facts("pull_request.opened", sender="renovate[bot]", sender_is_bot=True, head_ref="aqm/T-00AB12"),
        "own",
    ),
    "a person's branch named like ours is still theirs": (
        facts("pull_request.opened", head_ref="aqm/T-00AB12"),
        "run",
    ),
}


@pytest.mark.parametrize(("event", "verdict"), list(AUTHORISATION.values()), ids=list(AUTHORISATION))
def test_authorise(event: EventFacts, verdict: str) -> None:
    assert authorise(SETTINGS, event) == verdict


def test_a_fork_is_told_once_when_opened_and_only_if_a_pull_request_trigger_exists() -> None:
    assert tell_fork(SETTINGS, facts("pull_request.opened", from_fork=True))
    assert not tell_fork(SETTINGS, facts("pull_request.synchronize", from_fork=True))
    issues_only = GitHubSettings(triggers=[Trigger(event="issues.opened", pipeline="p")])
    assert not tell_fork(issues_only, facts("pull_request.opened", from_fork=True))


def parsed(name: str, **changes: Any) -> IssueEvent | PullRequestEvent:
    payload = template(name)
    for path, value in changes.items():
        target = payload
        *parents, last = path.split(".")
        for key in parents:
            target = target[key]
        target[last] = value
    event_name, action = name.split(".")
    event = read_event(event_name, action, json.dumps(payload))
    assert isinstance(event, IssueEvent | PullRequestEvent)
    return event


def test_facts_of_recorded_payloads() -> None:
    opened = EventFacts.of("issues.opened", parsed("issues.opened"))
    assert (opened.sender, opened.sender_is_bot, opened.from_fork, opened.head_ref) == (
        "Codertocat",
        False,
        False,
        None,
    )
    labeled = EventFacts.of("issues.labeled", parsed("issues.labeled"))
    assert labeled.label == json.loads((FIXTURES / "issues.labeled.json").read_text())["label"]["name"]
    sync = EventFacts.of("pull_request.synchronize", parsed("pull_request.synchronize"))
    raw = json.loads((FIXTURES / "pull_request.synchronize.json").read_text())
    assert (sync.head_sha, sync.head_ref, sync.from_fork) == (
        raw["after"],
        raw["pull_request"]["head"]["ref"],
        False,
    )
    fork = parsed("pull_request.opened", **{"pull_request.head.repo.full_name": "someone/Hello-World"})
    assert EventFacts.of("pull_request.opened", fork).from_fork
    bot = parsed("issues.opened", **{"sender.type": "Bot", "sender.login": "dependabot[bot]"})
    assert EventFacts.of("issues.opened", bot).sender_is_bot
