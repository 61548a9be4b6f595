"""A classic PAT cannot write check runs (GitHub answers 403): the app writes commit statuses.

The app runs with `AQM_GITHUB_TOKEN` (a maintainer's token) instead of App credentials. On a pull
request, its check-run creation is refused once; it then sets the commit status `aqm/<pipeline>` of
the PR head (pending, then the end), linking the task's page, and does not ask for a check run
again with that token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.playground.simulator import GitHubSimulator, Seeded
from app.queue import InProcessQueue
from app.server.app import create_app
from app.settings import Settings

SECRET = "statuses-secret"
TOKEN = "ghp_" + "c" * 36
PIPELINE = """\
agents:
  - id: lint
    runtime: command
    command: ["echo", "lint: clean"]
    handoffs: [{to: check}]
  - id: check
    runtime: command
    command: ["sh", "-c", "echo 'tests failed'; exit 1"]
"""


@pytest.fixture
def sim(tmp_path: Path) -> GitHubSimulator:
    return GitHubSimulator(tmp_path / "github")


@pytest.fixture
def seeded(sim: GitHubSimulator) -> Seeded:
    seeded = sim.seed_standard(files={"README.md": "# demo\n", ".aqm/agents.yaml": PIPELINE})
    sim.add_token(TOKEN, login="maintainer")  # a collaborator with write access
    return seeded


@pytest.fixture
async def app(sim: GitHubSimulator, seeded: Seeded, tmp_path: Path) -> AsyncIterator[FastAPI]:
    settings = Settings(
        data_dir=tmp_path / "aqm-data",
        github_api_url=sim.base_url,
        github_token=TOKEN,
        github_webhook_secret=SECRET,
        public_url="https://aqm.example.com/",
    )
    application = create_app(settings, github_transport=sim.transport())
    async with application.router.lifespan_context(application):
        yield application


async def run(sim: GitHubSimulator, app: FastAPI, number: int) -> None:
    hooks = sim.deliverer("http://aqm.test/webhook", transport=httpx.ASGITransport(app=app), secret=SECRET)
    await hooks.comment_created("octo/demo", number, "maintainer", "/aqm run")
    queue = app.state.queue
    assert isinstance(queue, InProcessQueue)
    await queue.join()


async def test_a_pat_gets_commit_statuses_instead_of_check_runs(sim: GitHubSimulator, app: FastAPI) -> None:
    head = sim.commit("octo/demo", {"feature.txt": "v1\n"}, branch="feature", message="feature")
    pull = sim.open_pull("octo/demo", head="feature", title="A feature", user="outsider")
    await run(sim, app, pull.number)
    assert "tests failed" in sim.thread("octo/demo", pull.number)
    statuses = [s for s in sim.world.statuses if s.sha == head]
    assert [s.state for s in statuses] == ["pending", "failure"], statuses
    task_id = statuses[0].description.split()[1] if statuses[0].description else ""
    assert task_id.startswith("T-")
    for status in statuses:
        assert status.context == "aqm/default"
        assert status.target_url == f"https://aqm.example.com/tasks/{task_id}"
        assert status.description and len(status.description) <= 140
        assert status.creator.login == "maintainer"
    assert not sim.world.check_runs and sim.traffic.count("checks.create") == 1  # refused once

    await run(sim, app, pull.number)  # the next task: no check run asked for again
    assert sim.traffic.count("checks.create") == 1
    assert [s.state for s in sim.world.statuses if s.sha == head][2:] == ["pending", "failure"]


GATED = """\
agents:
  - id: review
    runtime: command
    command: ["echo", "ready for review"]
    gate: {type: human}
    handoffs: [{to: done, condition: on_approve}]
  - id: done
    runtime: command
    command: ["echo", "shipped"]
"""


async def test_a_restarted_server_ends_the_status_of_a_task_paused_before(
    sim: GitHubSimulator, seeded: Seeded, tmp_path: Path
) -> None:
    sim.commit("octo/demo", {".aqm/agents.yaml": GATED}, message="a gated pipeline")
    head = sim.commit("octo/demo", {"feature.txt": "v1\n"}, branch="feature", message="feature")
    pull = sim.open_pull("octo/demo", head="feature", title="A feature", user="outsider")
    settings = Settings(
        data_dir=tmp_path / "aqm-data",
        github_api_url=sim.base_url,
        github_token=TOKEN,
        github_webhook_secret=SECRET,
    )
    for comment in ("/aqm run", "/approve"):  # a new server process for each: the refusal is forgotten
        application = create_app(settings, github_transport=sim.transport())
        async with application.router.lifespan_context(application):
            hooks = sim.deliverer(
                "http://aqm.test/webhook", transport=httpx.ASGITransport(app=application), secret=SECRET
            )
            await hooks.comment_created("octo/demo", pull.number, "maintainer", comment)
            queue = application.state.queue
            assert isinstance(queue, InProcessQueue)
            await queue.join()
    assert "shipped" in sim.thread("octo/demo", pull.number)
    states = [s.state for s in sim.world.statuses if s.sha == head]
    assert states == ["pending", "pending", "success"], states  # starting, waiting, completed
    assert sim.traffic.count("checks.create") == 1
