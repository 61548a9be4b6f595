"""A task resumed after its worker died restores the instruction files again before any stage runs.

The workspace of a task whose worker died holds whatever was there at the time: instruction files
a stage planted, or a restore cut short. `aqm serve` (in-process queue) is SIGKILLed while the
first stage sleeps after planting `CLAUDE.md` and `.claude/settings.json`; started again, its
reconciler resumes the task in the same workspace, and the re-run stage must see the default
branch's `CLAUDE.md` and no `.claude`. A restore that cannot complete fails the task, saying why.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.playground.simulator import GitHubSimulator, Seeded
from app.store.store import TaskStore
from tests.e2e.helpers import GATED_PIPELINE, SECRET, deliverer, eventually, seed_pipeline, settle
from tests.e2e.test_worker_recovery import settings_for, started_serve, workers_of

PLANTS_THEN_SLEEPS = """\
agents:
  - id: one
    runtime: command
    command:
      - sh
      - -c
      - |
        cat CLAUDE.md; ls -A .claude 2>&1
        test -e ran-once || {
          touch ran-once; echo planted-rules > CLAUDE.md
          mkdir .claude; echo '{"hooks": {}}' > .claude/settings.json
          sleep 60
        }
        echo stage one done
"""


async def test_a_resumed_task_restores_the_instruction_files_before_its_stage_runs_again(
    tmp_path: Path,
) -> None:
    sim = GitHubSimulator(tmp_path / "github")
    seeded = seed_pipeline(sim, PLANTS_THEN_SLEEPS, {"CLAUDE.md": "default-claude-rules\n"})
    with sim.serve() as base_url:
        settings = settings_for(tmp_path, seeded, base_url, None, None)
        store = await TaskStore.connect(settings.effective_database_url)
        try:
            with workers_of(settings, tmp_path / "logs") as servers:
                async with httpx.AsyncClient() as client:
                    first, url = await started_serve(servers, client)
                    issue = sim.open_issue("octo/demo", "Plant", "", user="maintainer")
                    hooks = sim.deliverer(f"{url}/webhook", client=client, secret=SECRET)
                    await hooks.comment_created("octo/demo", issue.number, "maintainer", "/aqm run")

                    async def planted() -> bool | None:
                        tasks = await store.list_tasks()
                        workspaces = settings.data_dir / "workspaces"
                        return True if tasks and (workspaces / tasks[0].id / "ran-once").exists() else None

                    await eventually(planted, timeout_s=30, what="the stage to plant its files")
                    servers.kill(first)
                    await started_serve(servers, client)

                    async def ended() -> bool | None:
                        return True if "Completed" in sim.thread("octo/demo", issue.number) else None

                    try:
                        await eventually(ended, timeout_s=45, what="the resumed task to end")
                    except AssertionError:
                        raise AssertionError(servers.output()) from None
        finally:
            await store.close()
    thread = sim.thread("octo/demo", issue.number)
    assert "stage one done" in thread and "default-claude-rules" in thread, thread
    assert "planted-rules" not in thread and "settings.json" not in thread, thread


DEEP = "/".join(["d"] * 210)  # deeper than the worker walks (app/runtimes/workspace.py MAX_DEPTH)
NESTS_DEEP = GATED_PIPELINE.replace(
    """command: ["sh", "-c", "echo 'def greet(name):' > greet.py; echo wrote greet.py"]""",
    f"""command: ["sh", "-c", "mkdir -p {DEEP}; echo x > {DEEP}/f.txt; echo wrote a deep tree"]""",
)


@pytest.fixture
def seeded(sim: GitHubSimulator) -> Seeded:
    return seed_pipeline(sim, NESTS_DEEP)


async def test_a_restore_that_cannot_complete_fails_the_task_before_its_stages_saying_why(
    sim: GitHubSimulator, app: FastAPI
) -> None:
    sim.commit("octo/demo", {f"{DEEP}/CLAUDE.md": "deep rules\n"}, branch="feature", message="deep")
    pull = sim.open_pull("octo/demo", head="feature", title="Deep", user="outsider")
    await deliverer(sim, app).comment_created("octo/demo", pull.number, "maintainer", "/aqm run")
    await settle(app)
    thread = sim.thread("octo/demo", pull.number)
    assert "failed before its stages ran: its workspace could not be prepared" in thread, thread
    assert "nested deeper than 200 folders" in thread and "Failed" in thread, thread
    assert "wrote a deep tree" not in thread


async def test_changes_that_cannot_be_committed_safely_fail_the_task_saying_why(
    sim: GitHubSimulator, app: FastAPI
) -> None:
    issue = sim.open_issue("octo/demo", "Nest", "", user="maintainer")
    await deliverer(sim, app).comment_created("octo/demo", issue.number, "maintainer", "/aqm run")
    await settle(app)
    thread = sim.thread("octo/demo", issue.number)
    assert "wrote a deep tree" in thread, thread
    assert "failed: the agents' changes could not be committed" in thread, thread
    assert "nested deeper than 200 folders" in thread and "Failed" in thread, thread
    assert "Waiting for approval" not in thread and not sim.repo("octo/demo").git.branches().keys() - {"main"}
