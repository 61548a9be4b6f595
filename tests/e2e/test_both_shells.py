"""The App's e2e flows through both shells of the GitHub core: the App (webhook → queue → worker)
and the Action (`python -m action`, one process per workflow run, task state on GitHub between
them). Same commands, permissions, triggers and thread."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.playground.simulator import GitHubSimulator, Seeded
from tests.e2e.helpers import ASKER, GATED_PIPELINE, REPO, seed_pipeline
from tests.e2e.shells import SHELLS, Shell, shell_on

TRIGGERS = """\
github:
  triggers:
    - {event: issues.opened, pipeline: default}
"""


@pytest.fixture
def seeded(sim: GitHubSimulator) -> Seeded:
    return seed_pipeline(sim, GATED_PIPELINE, {".aqm/pipelines/asker.yaml": ASKER})


@pytest.fixture(params=SHELLS)
async def shell(
    request: pytest.FixtureRequest, sim: GitHubSimulator, seeded: Seeded, tmp_path: Path
) -> AsyncIterator[Shell]:
    async with shell_on(request.param, sim, seeded, tmp_path) as chosen:
        yield chosen


async def say(shell: Shell, sim: GitHubSimulator, number: int, user: str, body: str) -> str:
    """Comment `body` as `user`, let the shell handle it, and return the thread as a person reads it."""
    await shell.handle(await shell.hooks.comment_created(REPO, number, user, body))
    return sim.thread(REPO, number)


async def test_run_gate_refusal_and_approval_on_an_issue(shell: Shell, sim: GitHubSimulator) -> None:
    issue = sim.open_issue(REPO, "Add greet()", "Please add a greet function.", user="maintainer")
    thread = await say(shell, sim, issue.number, "maintainer", "/aqm run")
    assert "Waiting for approval" in thread and "/approve T-" in thread, thread
    assert "wrote greet.py" in thread
    thread = await say(shell, sim, issue.number, "outsider", "/approve")
    assert "write access" in thread and "shipped" not in thread
    thread = await say(shell, sim, issue.number, "maintainer", "/approve looks good")
    assert "shipped" in thread and "Completed" in thread, thread
    assert "aqm/T-" in thread and "→ main, open, by @aqm[bot]" in thread  # the agents' commit as a PR
    assert thread.count("wrote greet.py") == 1  # the first stage ran once


async def test_a_review_of_the_paused_head_approves_and_a_stale_one_is_refused(
    shell: Shell, sim: GitHubSimulator
) -> None:
    old_head = sim.commit(REPO, {"feature.txt": "v1\n"}, branch="feature", message="feature")
    pull = sim.open_pull(REPO, head="feature", title="A feature", body="Adds a feature.", user="outsider")
    assert "Waiting for approval" in await say(shell, sim, pull.number, "maintainer", "/aqm run review it")
    sim.commit(REPO, {"feature.txt": "v2\n"}, branch="feature", message="newer")
    await shell.handle(
        await shell.hooks.review_submitted(REPO, pull.number, user="maintainer", state="approved")
    )
    thread = sim.thread(REPO, pull.number)
    assert "Waiting for approval" in thread and "shipped" not in thread
    stale = await shell.hooks.review_submitted(
        REPO, pull.number, user="maintainer", state="approved", commit_id=old_head
    )
    await shell.handle(stale)
    thread = sim.thread(REPO, pull.number)
    assert "shipped" in thread and "Completed" in thread, thread
    assert "aqm/T-" in thread and "→ feature" in thread  # a child PR into the thread PR's branch


async def test_answer_continues_a_task_waiting_for_human_input(shell: Shell, sim: GitHubSimulator) -> None:
    issue = sim.open_issue(REPO, "Pick a database", "", user="maintainer")
    thread = await say(shell, sim, issue.number, "maintainer", "/aqm run --pipeline asker")
    assert "which database?" in thread
    thread = await say(shell, sim, issue.number, "outsider", "/aqm answer postgres")
    assert "needs write access" in thread and "going with postgres" not in thread
    thread = await say(shell, sim, issue.number, "maintainer", "/aqm answer use postgres")
    assert "going with postgres" in thread and "Completed" in thread, thread


async def test_status_then_cancel_of_a_paused_task(shell: Shell, sim: GitHubSimulator) -> None:
    issue = sim.open_issue(REPO, "Add greet()", "", user="maintainer")
    await say(shell, sim, issue.number, "maintainer", "/aqm run")
    before = len(sim.world.thread_comments(REPO, issue.number))
    await say(shell, sim, issue.number, "outsider", "/aqm status")  # anyone may ask
    status = sim.world.thread_comments(REPO, issue.number)[before:]
    assert len(status) == 2 and "Waiting for approval" in (status[1].body or "")
    thread = await say(shell, sim, issue.number, "maintainer", "/aqm cancel")
    assert "Cancelled" in thread or "cancelled" in thread, thread
    thread = await say(shell, sim, issue.number, "maintainer", "/approve")
    assert "No aqm task waits for approval" in thread and "shipped" not in thread


async def test_a_declared_trigger_starts_the_pipeline_when_an_issue_is_opened(
    shell: Shell, sim: GitHubSimulator
) -> None:
    sim.commit(REPO, {".aqm/config.yaml": TRIGGERS}, message="aqm config")
    opened = await shell.hooks.issue_opened(REPO, "Add greet()", "Please add it.", user="outsider")
    await shell.handle(opened)
    thread = sim.thread(REPO, opened.subject_id or 0)
    assert "wrote greet.py" in thread and "Waiting for approval" in thread, thread


async def test_an_approving_review_on_the_tasks_own_pull_request_approves_its_gate(
    shell: Shell, sim: GitHubSimulator
) -> None:
    issue = sim.open_issue(REPO, "Add greet()", "", user="maintainer")
    assert "Waiting for approval" in await say(shell, sim, issue.number, "maintainer", "/aqm run")
    [own] = [p for p in sim.world.issues.values() if p.pull is not None]  # aqm/T-…, opened at the pause
    await shell.handle(
        await shell.hooks.review_submitted(REPO, own.number, user="maintainer", state="approved")
    )
    thread = sim.thread(REPO, issue.number)
    assert "shipped" in thread and "Completed" in thread, thread
    assert thread.count("wrote greet.py") == 1
