"""GitHub's own webhook examples (tests/fixtures/octokit-webhooks/, recorded by octokit), signed and posted
to the app on the simulator: every one is answered 2xx; every event aqm acts on acts (a declared
trigger fires, a comment's lines are read) whatever fields it carries or lacks; every other one is
recorded `ignored`; and nothing logs a traceback."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from app.github.events import acts_on
from app.github.webhook import delivery_key
from app.playground.simulator import GitHubSimulator
from app.settings import Settings
from tests.e2e.helpers import SECRET, deliverer, running, settle

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "octokit-webhooks").glob("*.json"))
REPO = "Codertocat/Hello-World"  # the repository of the examples aqm acts on, issue #1 and PR #2
TRIGGERED = {"issues.opened", "issues.labeled", "pull_request.opened", "pull_request.synchronize"}
# Every trigger names a pipeline the repository lacks: a trigger that fires says so in the thread.
CONFIG = """\
github:
  triggers:
    - {event: issues.opened, pipeline: from-issue}
    - {event: issues.labeled, label: bug, pipeline: from-issue}
    - {event: pull_request.opened, pipeline: from-pull}
    - {event: pull_request.synchronize, pipeline: from-pull}
"""
AGENTS = "agents:\n  - id: only\n    runtime: command\n    command: [echo, hi]\n"


def seed_examples_world(sim: GitHubSimulator) -> None:
    """The examples' repository as they describe it: issue #1, PR #2 from `changes`, `.aqm/` config."""
    files = {"README.md": "# Hello\n", ".aqm/agents.yaml": AGENTS, ".aqm/config.yaml": CONFIG}
    sim.create_repo(REPO, files)
    sim.open_issue(
        REPO,
        "Spelling error in the README file",
        "It looks like you accidently spelled 'commit' with two 't's.",
        user="Codertocat",
    )
    sim.commit(REPO, {"README.md": "# Hello World\n"}, branch="changes", message="Update the README")
    sim.open_pull(REPO, head="changes", title="Update the README with new information", user="Codertocat")
    sim.add_token("aqm-token", login="aqm-bot")


@pytest.fixture
async def app(sim: GitHubSimulator, tmp_path: Path) -> AsyncIterator[FastAPI]:
    seed_examples_world(sim)
    settings = Settings(
        data_dir=tmp_path / "aqm-data",
        github_api_url=sim.base_url,
        github_token="aqm-token",
        github_webhook_secret=SECRET,
    )
    async with running(settings, sim.transport()) as application:
        yield application


def kind_of(event: str, payload: dict[str, Any]) -> str:
    return f"{event}.{payload.get('action')}"


def rounds() -> list[list[Path]]:
    """The examples in rounds of distinct events: octokit records some events twice (with and
    without `installation`, with a null body), which the app would rightly take for one delivery
    sent again under a new GUID (`delivery_key`); each round goes to a fresh app, so every variant
    is handled."""
    found: list[list[Path]] = []
    seen: dict[str, int] = {}
    for path in EXAMPLES:
        body = _body(path)
        key = delivery_key(path.name.split(".", 1)[0], json.loads(body), body)
        seen[key] = seen.get(key, -1) + 1
        if seen[key] == len(found):
            found.append([])
        found[seen[key]].append(path)
    return found


def _body(path: Path) -> bytes:
    """The bytes the deliverer posts for an example."""
    return json.dumps(json.loads(path.read_bytes()), separators=(",", ":")).encode()


ROUNDS = rounds()


def test_the_rounds_hold_every_example_once() -> None:
    assert sorted(path for round_ in ROUNDS for path in round_) == EXAMPLES
    assert len(EXAMPLES) == 329


@pytest.mark.parametrize("number", range(len(ROUNDS)), ids=[f"round-{n}" for n in range(len(ROUNDS))])
async def test_every_octokit_example_acts_or_is_ignored_without_a_traceback(
    sim: GitHubSimulator, app: FastAPI, caplog: pytest.LogCaptureFixture, number: int
) -> None:
    caplog.set_level(logging.DEBUG)
    hooks = deliverer(sim, app)
    sent: dict[str, str] = {}
    for path in ROUNDS[number]:
        delivery = await hooks.send(path.name.split(".", 1)[0], json.loads(path.read_bytes()))
        assert delivery.response_status is not None and 200 <= delivery.response_status < 300, path.name
        sent[path.name] = delivery.guid
        await settle(app)
    store = app.state.services.github_store
    outcomes = {name: (await store.get_delivery(guid)).status for name, guid in sent.items()}
    assert outcomes == {path.name: expected_outcome(path) for path in ROUNDS[number]}
    thread = sim.thread(REPO, 1) + sim.thread(REPO, 2)
    for name in sent:  # a trigger that fired said so in its thread
        if expected_outcome(EXAMPLES_BY_NAME[name]) == "done":
            assert ("from-pull" if name.startswith("pull_request") else "from-issue") in thread, name
    assert [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()] == []
    assert [
        r.getMessage() for r in caplog.records if r.name.startswith("aqm") and "refused" in r.getMessage()
    ] == []


EXAMPLES_BY_NAME = {path.name: path for path in EXAMPLES}


def expected_outcome(path: Path) -> str:
    """`done` for a declared trigger that fires; `ignored` for everything else, read or not (these
    comments hold no command, these reviews and check-run buttons find no task waiting)."""
    event, payload = path.name.split(".", 1)[0], json.loads(path.read_bytes())
    kind = kind_of(event, payload)
    fires = kind in TRIGGERED and (kind != "issues.labeled" or payload["label"]["name"] == "bug")
    return "done" if fires and acts_on(event, payload.get("action")) else "ignored"


async def test_a_payload_without_a_field_aqm_uses_is_refused_in_one_line_and_recorded(
    sim: GitHubSimulator, app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    payload = json.loads((EXAMPLES_BY_NAME["issue_comment.created.1.json"]).read_bytes())
    payload["comment"]["body"] = "/aqm help"
    del payload["comment"]["id"]  # the comment aqm would react to and answer: unknown
    delivery = await deliverer(sim, app).send("issue_comment", payload)
    assert delivery.response_status == 202  # GitHub is not asked to send it again: nothing would change
    await settle(app)
    record = await app.state.services.github_store.get_delivery(delivery.guid)
    assert (record.status, record.error) == ("refused", "issue_comment.created: comment.id: Field required")
    lines = [
        r.getMessage() for r in caplog.records if r.name.startswith("aqm") and "refused" in r.getMessage()
    ]
    assert lines == [f"delivery {delivery.guid} refused: issue_comment.created: comment.id: Field required"]
    assert [r for r in caplog.records if r.exc_info] == []
    assert sim.world.thread_comments(REPO, 1) == []  # nothing half-done in the thread
