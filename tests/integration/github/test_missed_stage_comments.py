"""A worker killed between posting a stage's comment and remembering it: the next one does not post
it again (it finds the comment by its marker), and posts what really is missing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from app.github import render
from app.github.gateway import GitHubClients
from app.github.runs import ThreadTasks
from app.playground.simulator import GitHubSimulator
from app.store.github import GitHubStore, TaskLink
from app.store.records import StageRecord
from app.store.store import TaskStore


async def test_a_stage_comment_already_on_the_thread_is_remembered_not_posted_again(tmp_path: Path) -> None:
    sim = GitHubSimulator(tmp_path / "github")
    seeded = sim.seed_standard()
    issue = sim.open_issue("octo/demo", "Three stages", user="maintainer")
    store = await TaskStore.connect(f"sqlite+aiosqlite:///{tmp_path / 'aqm.db'}")
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
        link = TaskLink(
            task.id, "octo/demo", issue.number, False, "maintainer", installation_id=seeded.installation.id
        )
        await github.link_task(link)
        clients = GitHubClients(
            base_url=sim.base_url,
            app_id=str(seeded.app.id),
            private_key=seeded.key.private_pem,
            transport=sim.transport(),
        )
        gateway = clients.gateway(seeded.installation.id)
        tasks = ThreadTasks(store, github, gateway, runtimes=None, workspaces=tmp_path, public_url=None)
        # the dead worker posted stage 1 (as the app) but died before remembering it
        (body,) = render.stage_comment(task.id, await store.get_stage(task.id, 1), transcript=None)
        posted = await gateway.comment("octo", "demo", issue.number, body)

        await tasks.post_missed_stages(await github.get_link(task.id))

        thread = sim.thread("octo/demo", issue.number)
        assert thread.count("output 1") == 1 and thread.count("output 2") == 1
        remembered = (await github.get_link(task.id)).posted_stages
        assert remembered["1"] == [posted] and set(remembered) == {"1", "2"}
        await clients.close()
    finally:
        await store.close()
