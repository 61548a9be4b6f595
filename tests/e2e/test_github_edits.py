"""The app edits the run card only when its text changes, and the check run only when its status
or output does: a job remembers what it last sent (the Reporter's edits can lag the run, so
consecutive renders are often the same).
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from app.playground.simulator import GitHubSimulator, Seeded
from app.playground.simulator.core import ApiEvent
from tests.e2e.helpers import deliverer, settle

PIPELINE = "agents:\n" + "".join(
    f"  - id: s{i}\n    runtime: command\n    command: [echo, stage {i}]\n"
    + (f"    handoffs: [{{to: s{i + 1}}}]\n" if i < 4 else "")
    for i in range(5)
)


@pytest.fixture
def seeded(sim: GitHubSimulator) -> Seeded:
    return sim.seed_standard(files={"README.md": "# demo\n", ".aqm/agents.yaml": PIPELINE})


async def test_every_card_edit_changes_the_card_and_the_last_one_shows_the_end(
    sim: GitHubSimulator, app: FastAPI
) -> None:
    edits: list[tuple[str, str]] = []  # (before, after) of each card edit

    def on_event(event: ApiEvent) -> None:
        if event.event == "issue_comment" and event.action == "edited":
            edits.append((event.extra["changes"]["body"]["from"], event.subject.body))

    sim.listeners.append(on_event)
    sim.commit("octo/demo", {"feature.txt": "v1\n"}, branch="feature", message="feature")
    pull = sim.open_pull("octo/demo", head="feature", title="A feature", user="outsider")
    hooks = deliverer(sim, app)
    await hooks.comment_created("octo/demo", pull.number, "maintainer", "/aqm run")
    await settle(app)
    assert edits, "the card was never edited"
    assert [before == after for before, after in edits] == [False] * len(edits)
    assert "Completed" in edits[-1][1]
    runs = list(sim.world.check_runs.values())
    assert len(runs) == 1 and runs[0].conclusion == "success"
    assert sim.traffic.count("checks.update") == 1  # in progress when created; one update at the end
