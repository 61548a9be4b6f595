"""A worker killed between posting a stage's comment and remembering it: the next one does not post
it again (it finds the app's own comment by its marker), and posts what really is missing — also
when someone else pasted the marker into a comment of theirs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from app.github import render
from app.github.gateway import GitHubClients, GitHubGateway
from app.github.runs import ThreadTasks
from app.playground.simulator import GitHubSimulator
from app.store.github import GitHubStore, TaskLink
from app.store.records import StageRecord
from app.store.store import TaskStore


async def test_a_stage_comment_already_on_the_thread_is_remembered_not_posted_again(tmp_path: Path) -> None:
    async with dead_worker_left_two_stages(tmp_path) as (sim, gateway, tasks, github, task_id, number):
        # the dead worker posted stage 1 (as the app) but died before remembering it
        (body,) = render.stage_comment(task_id, await tasks.store.get_stage(task_id, 1), transcript=None)
        posted = await gateway.comment("octo", "demo", number, body)

        await tasks.reporting.post_missed_stages(await github.get_link(task_id))

        thread = sim.thread("octo/demo", number)
        assert thread.count("output 1") == 1 and thread.count("output 2") == 1
        remembered = (await github.get_link(task_id)).posted_stages
        assert remembered["1"] == [posted] and set(remembered) == {"1", "2"}


async def test_a_strangers_comment_with_the_stage_marker_does_not_count_as_posted(tmp_path: Path) -> None:
    async with dead_worker_left_two_stages(tmp_path) as (sim, _, tasks, github, task_id, number):
        (body,) = render.stage_comment(task_id, await tasks.store.get_stage(task_id, 1), transcript=None)
        forged = sim.add_comment(
            "octo/demo", number, user="stranger", body=body.replace("output 1", "forged")
        )

        await tasks.reporting.post_missed_stages(await github.get_link(task_id))

        thread = sim.thread("octo/demo", number)
        assert thread.count("output 1") == 1 and thread.count("output 2") == 1  # both posted by the app
        remembered = (await github.get_link(task_id)).posted_stages
        assert forged.id not in remembered["1"] and set(remembered) == {"1", "2"}


@asynccontextmanager
async def dead_worker_left_two_stages(
    tmp_path: Path,
) -> AsyncIterator[tuple[GitHubSimulator, GitHubGateway, ThreadTasks, GitHubStore, str, int]]:
    """A task whose two stages finished, its run card posted by the app, neither stage comment
    remembered (the worker died): the simulator, the app's gateway, its ThreadTasks and store."""
    sim = GitHubSimulator(tmp_path / "github")
    seeded = sim.seed_standard()
    issue = sim.open_issue("octo/demo", "Three stages", user="maintainer")
    store = await TaskStore.connect(f"sqlite+aiosqlite:///{tmp_path / 'aqm.db'}")
    clients = GitHubClients(
        base_url=sim.base_url,
        app_id=str(seeded.app.id),
        private_key=seeded.key.private_pem,
        transport=sim.transport(),
    )
    try:
        github = GitHubStore(store)
        task = await store.create_task(pipeline="default", description="x", state={})
        now = datetime.now(UTC)
        stages = [
            StageRecord(
                task.id,
                n,
                f"agent{n}",
                status="completed",
                output_text=f"output {n}",
                started_at=now,
                finished_at=now,
            )
            for n in (1, 2)
        ]
        await store.commit(task.id, status="in_progress", state={}, stages=stages)
        gateway = clients.gateway(seeded.installation.id)
        card = await gateway.comment("octo", "demo", issue.number, render.run_card_marker(task.id) + "\ncard")
        link = TaskLink(
            task.id,
            "octo/demo",
            issue.number,
            False,
            "maintainer",
            installation_id=seeded.installation.id,
            card_comment_id=card,
        )
        await github.link_task(link)
        tasks = ThreadTasks(store, github, gateway, runtimes=None, workspaces=tmp_path, public_url=None)
        yield sim, gateway, tasks, github, task.id, issue.number
    finally:
        await clients.close()
        await store.close()
