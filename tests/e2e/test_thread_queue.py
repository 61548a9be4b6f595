"""One running task per thread, on the in-process queue: a second run waits, is told so, then runs.

The real app (FastAPI, in-process queue) and the simulator in process; the pipelines are command
stages. Two `/aqm run` comments arrive together and two queue workers take them at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import update

from app.github.services import Services
from app.playground.simulator import GitHubSimulator
from app.store.github import DELIVERIES
from tests.e2e.helpers import app_on_simulator, deliverer, seed_pipeline, settle

SLOW = """\
agents:
  - {id: slow, runtime: command, command: ["sh", "-c", "sleep 1; echo slow stage done"]}
"""
GATED = """\
agents:
  - {id: ask, runtime: command, command: ["echo", "asked"], gate: {type: human}}
"""


@pytest.fixture
async def slow_app(sim: GitHubSimulator, tmp_path: Path) -> AsyncIterator[FastAPI]:
    async with app_on_simulator(sim, seed_pipeline(sim, SLOW), tmp_path) as application:
        yield application


@pytest.fixture
async def gated_app(sim: GitHubSimulator, tmp_path: Path) -> AsyncIterator[FastAPI]:
    async with app_on_simulator(sim, seed_pipeline(sim, GATED), tmp_path) as application:
        yield application


async def two_runs(sim: GitHubSimulator, app: FastAPI) -> int:
    issue = sim.open_issue("octo/demo", "Do it", "twice", user="maintainer")
    hooks = deliverer(sim, app)
    await hooks.comment_created("octo/demo", issue.number, "maintainer", "/aqm run first")
    await hooks.comment_created("octo/demo", issue.number, "maintainer", "/aqm run second")
    await settle(app)
    return issue.number


async def ran_one_after_the_other(
    services: Services, sim: GitHubSimulator, number: int, first: str, second: str
) -> None:
    """`second` was told it is queued behind `first`, and its last stage began after `first`'s
    last stage ended: the two never ran at the same time; each said so in its slow stage."""
    thread = sim.thread("octo/demo", number)
    assert f"`{second}` is queued behind `{first}`" in thread, thread
    [*_, one] = await services.store.list_stages(first, texts=False)
    [*_, two] = await services.store.list_stages(second, texts=False)
    assert one.finished_at is not None and two.started_at is not None
    assert two.started_at >= one.finished_at  # never at the same time
    assert thread.count("slow stage done") == 2


async def test_a_second_run_waits_for_the_first_and_the_thread_is_told(
    sim: GitHubSimulator, slow_app: FastAPI
) -> None:
    number = await two_runs(sim, slow_app)
    services: Services = slow_app.state.services
    newest, oldest = await services.github_store.thread_tasks("octo/demo", number)
    assert [status for _, status in (oldest, newest)] == ["completed", "completed"]
    first, second = oldest[0].task_id, newest[0].task_id
    assert (await services.store.get_task(first)).description == "first"  # in the order asked
    thread = sim.thread("octo/demo", number)
    assert thread.count("is queued behind") == 1, thread
    await ran_one_after_the_other(services, sim, number, first, second)


async def test_a_task_waiting_for_a_human_does_not_hold_the_thread(
    sim: GitHubSimulator, gated_app: FastAPI
) -> None:
    issue = sim.open_issue("octo/demo", "Do it", "twice", user="maintainer")
    hooks = deliverer(sim, gated_app)
    await hooks.comment_created("octo/demo", issue.number, "maintainer", "/aqm run first")
    await settle(gated_app)
    await hooks.comment_created("octo/demo", issue.number, "maintainer", "/aqm run second")
    await settle(gated_app)
    services: Services = gated_app.state.services
    statuses = [status for _, status in await services.github_store.thread_tasks("octo/demo", issue.number)]
    assert statuses == ["awaiting_gate", "awaiting_gate"]
    assert "queued behind" not in sim.thread("octo/demo", issue.number)


async def test_a_replayed_delivery_finds_its_task_and_starts_no_other(
    sim: GitHubSimulator, slow_app: FastAPI
) -> None:
    issue = sim.open_issue("octo/demo", "Do it", "once", user="maintainer")
    hooks = deliverer(sim, slow_app)
    asked = await hooks.comment_created("octo/demo", issue.number, "maintainer", "/aqm run once")
    await settle(slow_app)
    services: Services = slow_app.state.services
    # as if the job had died after recording its task: the delivery is pending again and replayed
    async with services.store.transaction() as connection:
        await connection.execute(
            update(DELIVERIES).where(DELIVERIES.c.id == asked.guid).values(status="pending")
        )
    await slow_app.state.queue.enqueue(asked.guid, job_id=f"{asked.guid}:2")
    await settle(slow_app)
    assert (await services.github_store.get_delivery(asked.guid)).attempts == 2
    tasks = await services.github_store.thread_tasks("octo/demo", issue.number)
    assert [status for _, status in tasks] == ["completed"]
    thread = sim.thread("octo/demo", issue.number)
    assert thread.count("slow stage done") == 1 and thread.count("Edited in place as the task runs") == 1


async def test_a_queued_run_can_be_cancelled_before_it_starts(sim: GitHubSimulator, tmp_path: Path) -> None:
    slower = SLOW.replace("sleep 1;", "sleep 3;")
    async with app_on_simulator(sim, seed_pipeline(sim, slower), tmp_path) as app:
        issue = sim.open_issue("octo/demo", "Do it", "twice", user="maintainer")
        hooks = deliverer(sim, app)
        await hooks.comment_created("octo/demo", issue.number, "maintainer", "/aqm run first")
        await hooks.comment_created("octo/demo", issue.number, "maintainer", "/aqm run second")
        for _ in range(100):
            if "is queued behind" in sim.thread("octo/demo", issue.number):
                break
            await asyncio.sleep(0.05)
        services: Services = app.state.services
        (second, _), (first, running) = await services.github_store.thread_tasks("octo/demo", issue.number)
        assert running in ("pending", "in_progress")
        await hooks.comment_created("octo/demo", issue.number, "maintainer", f"/aqm cancel {second.task_id}")
        await settle(app)
        assert (await services.store.get_task(first.task_id)).status == "completed"
        assert (await services.store.get_task(second.task_id)).status == "cancelled"
        assert await services.store.list_stages(second.task_id) == []


GATED_THEN_SLOW = """\
agents:
  - {id: ask, runtime: command, command: ["echo", "asked"], gate: {type: human}, handoffs: [{to: slow}]}
  - {id: slow, runtime: command, command: ["sh", "-c", "sleep 1; echo slow stage done"]}
"""


async def test_an_approval_while_another_task_runs_queues_the_approved_task(
    sim: GitHubSimulator, tmp_path: Path
) -> None:
    async with app_on_simulator(sim, seed_pipeline(sim, GATED_THEN_SLOW), tmp_path) as app:
        issue = sim.open_issue("octo/demo", "Do it", "twice", user="maintainer")
        hooks = deliverer(sim, app)
        for text in ("/aqm run first", "/aqm run second"):
            await hooks.comment_created("octo/demo", issue.number, "maintainer", text)
            await settle(app)
        services: Services = app.state.services
        (second, _), (first, _) = await services.github_store.thread_tasks("octo/demo", issue.number)
        await hooks.comment_created("octo/demo", issue.number, "maintainer", f"/approve {first.task_id}")
        for _ in range(100):  # the first task's slow stage runs
            if [s.agent_id for s in await services.store.list_stages(first.task_id)] == ["ask", "slow"]:
                break
            await asyncio.sleep(0.05)
        await hooks.comment_created("octo/demo", issue.number, "maintainer", f"/approve {second.task_id}")
        await settle(app)
        for task in (first, second):
            assert (await services.store.get_task(task.task_id)).status == "completed"
        await ran_one_after_the_other(services, sim, issue.number, first.task_id, second.task_id)


async def test_every_command_of_a_comment_is_recorded_before_a_task_runs(
    sim: GitHubSimulator, slow_app: FastAPI
) -> None:
    issue = sim.open_issue("octo/demo", "Do it", "twice", user="maintainer")
    hooks = deliverer(sim, slow_app)
    asked = await hooks.comment_created("octo/demo", issue.number, "maintainer", "/aqm run one\n/aqm run two")
    services: Services = slow_app.state.services
    for _ in range(100):  # until the first task's stage runs
        tasks = await services.github_store.thread_tasks("octo/demo", issue.number)
        if any(status == "in_progress" for _, status in tasks):
            break
        await asyncio.sleep(0.05)
    # a worker that died now would leave nothing unread: the second run is queued, the delivery done
    assert sorted(status for _, status in tasks) == ["in_progress", "pending"]
    assert (await services.github_store.get_delivery(asked.guid)).status == "done"
    await settle(slow_app)
    tasks = await services.github_store.thread_tasks("octo/demo", issue.number)
    assert [status for _, status in tasks] == ["completed", "completed"]
    assert sim.thread("octo/demo", issue.number).count("slow stage done") == 2


async def test_runs_recorded_before_a_later_command_failed_on_github_still_run(
    sim: GitHubSimulator, slow_app: FastAPI
) -> None:
    issue = sim.open_issue("octo/demo", "Do it", "once", user="maintainer")
    hooks = deliverer(sim, slow_app)
    sim.traffic.fail_next(1, status=422, operation="issues.create_comment", skip=1)  # the status reply
    asked = await hooks.comment_created("octo/demo", issue.number, "maintainer", "/aqm run one\n/aqm status")
    await settle(slow_app)
    services: Services = slow_app.state.services
    assert (await services.github_store.get_delivery(asked.guid)).status != "done"  # left for a retry
    [(_, status)] = await services.github_store.thread_tasks("octo/demo", issue.number)
    assert status == "completed"  # the run the comment asked for first did not wait for the retry
    assert "slow stage done" in sim.thread("octo/demo", issue.number)
