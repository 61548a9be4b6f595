"""Task commands on GitHub end to end: `/aqm restart`, `/aqm fix`, `/aqm chunks`, `/aqm answer`, and
the check run's Approve / Reject buttons — the real app (FastAPI, in-process queue, SQLite) and the
simulator over HTTP (in process), command stages in real git workspaces.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest
from fastapi import FastAPI

from app.playground.simulator import Deliverer, GitHubSimulator, Seeded
from app.store.github import TaskLink
from tests.e2e.helpers import ASKER, GATED_PIPELINE, REPO, seed_pipeline, settle

# `check` passes only once the marker exists (outside the workspace, in a folder on PATH: the one kind
# of outside folder a sandboxed stage sees, read-only) and greet.py is in the workspace
FLAKY = """\
agents:
  - id: writer
    runtime: command
    command: ["sh", "-c", "echo 'def greet(name):' > greet.py; echo wrote greet.py"]
    handoffs: [{{to: check}}]
  - id: check
    runtime: command
    command: ["sh", "-c", "test -f greet.py && test -f {marker} && echo checks passed || {{ echo checks failed; exit 1; }}"]
"""
# the first run writes first.txt; a fix (its input carries the first output) builds on that file
ECHOER = """\
agents:
  - id: echoer
    runtime: command
    command:
      - sh
      - -c
      - >-
        input=$(cat);
        case "$input" in
        *"first output 42"*) test -f first.txt && echo fix > fix.txt && echo "fixed on top of the first output";;
        *) echo one > first.txt; echo "first output 42";;
        esac
"""
SLOW = """\
agents:
  - {id: slow, runtime: command, command: ["sh", "-c", "sleep 2; echo slow stage done"]}
"""

FORKED = (
    """\
agents:
  - {id: split, runtime: command, command: ["echo", "split"], handoffs: [{to: "asker, slow"}]}
"""
    + ASKER.split("agents:\n", 1)[1]
    + SLOW.split("agents:\n", 1)[1]
)


@pytest.fixture
def marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    tools = tmp_path / "tools"
    tools.mkdir()
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    return tools / "checks-fixed"


@pytest.fixture
def seeded(sim: GitHubSimulator, marker: Path) -> Seeded:
    more = {
        ".aqm/pipelines/flaky.yaml": FLAKY.format(marker=marker),
        ".aqm/pipelines/echoer.yaml": ECHOER,
        ".aqm/pipelines/asker.yaml": ASKER,
        ".aqm/pipelines/slow.yaml": SLOW,
        ".aqm/pipelines/forked.yaml": FORKED,
    }
    return seed_pipeline(sim, GATED_PIPELINE, more)


class Thread:
    """One issue or PR: comment as someone, wait until the app has handled everything, read it."""

    def __init__(self, sim: GitHubSimulator, app: FastAPI, hooks: Deliverer, number: int) -> None:
        self.sim, self.app, self.hooks, self.number = sim, app, hooks, number

    async def say(self, user: str, body: str) -> str:
        delivery = await self.hooks.comment_created(REPO, self.number, user, body)
        assert delivery.response_status == 202
        await self.settle()
        return self.text()

    async def settle(self) -> None:
        await settle(self.app)

    def text(self) -> str:
        return self.sim.thread(REPO, self.number)

    async def links(self) -> list[tuple[TaskLink, str]]:
        found: list[tuple[TaskLink, str]] = await self.app.state.services.github_store.thread_tasks(
            REPO, self.number
        )
        return found


def on_issue(sim: GitHubSimulator, app: FastAPI, hooks: Deliverer) -> Thread:
    issue = sim.open_issue(REPO, "Add greet()", "Please add a greet function.", user="maintainer")
    return Thread(sim, app, hooks, issue.number)


# ---- restart ------------------------------------------------------------------------------------


async def test_restart_after_a_failure_runs_the_failed_stage_again_and_completes(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer, marker: Path
) -> None:
    thread = on_issue(sim, app, hooks)
    text = await thread.say("maintainer", "/aqm run --pipeline flaky")
    assert "checks failed" in text and "Failed" in text, text
    [(_, status)] = await thread.links()
    assert status == "failed"
    marker.write_text("fixed\n")
    text = await thread.say("maintainer", "/aqm restart")
    [(_, status)] = await thread.links()
    assert status == "completed", text
    assert "checks passed" in text
    assert text.count("wrote greet.py") == 1  # stage 1 is not run again: restart starts at the failed stage


async def test_restart_checks_the_pushed_changes_out_again_when_the_workspace_is_gone(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer, marker: Path, tmp_path: Path
) -> None:
    thread = on_issue(sim, app, hooks)
    await thread.say("maintainer", "/aqm run --pipeline flaky")
    [(link, _)] = await thread.links()
    assert link.branch == f"aqm/{link.task_id}"  # greet.py was pushed when the task failed
    shutil.rmtree(tmp_path / "aqm-data" / "workspaces" / link.task_id)
    marker.write_text("fixed\n")
    text = await thread.say("maintainer", f"/aqm restart {link.task_id} --from-stage 2")
    [(_, status)] = await thread.links()
    assert status == "completed", text  # `check` found greet.py: the checkout is at the pushed commit


async def test_restart_problems_are_named_in_the_reply(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer
) -> None:
    thread = on_issue(sim, app, hooks)
    text = await thread.say("maintainer", "/aqm restart")
    assert "there is no aqm task on this thread yet" in text
    await thread.say("maintainer", "/aqm run")  # waits at the human gate
    [(link, _)] = await thread.links()
    text = await thread.say("maintainer", "/aqm restart")
    assert "cannot be restarted while it is awaiting_gate" in text
    assert f"To stop it, comment `/aqm cancel {link.task_id}`." in text
    text = await thread.say("maintainer", "/aqm restart T-ABCDEF")
    assert "there is no aqm task T-ABCDEF on this thread" in text
    await thread.say("maintainer", "/aqm cancel")
    text = await thread.say("maintainer", "/aqm restart --from-stage 9")
    assert "--from-stage must be between 1 and 2" in text
    text = await thread.say("outsider", "/aqm restart")
    assert "@outsider" in text and "needs write access" in text
    [(_, status)] = await thread.links()
    assert status == "cancelled"


# ---- fix ----------------------------------------------------------------------------------------


async def test_fix_starts_a_follow_up_task_that_sees_the_previous_output_and_branch(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer
) -> None:
    thread = on_issue(sim, app, hooks)
    await thread.say("maintainer", "/aqm run --pipeline echoer")
    [(parent, status)] = await thread.links()
    assert status == "completed"
    text = await thread.say("maintainer", "/aqm fix make it *better*")
    (fix, status), _ = await thread.links()
    assert status == "completed", text
    assert "fixed on top of the first output" in text
    assert text.count("### ✅ Completed · aqm") == 2  # a new run card for the follow-up
    assert f"follow-up from {parent.task_id}" in text
    task = await app.state.services.store.get_task(fix.task_id)
    assert task.kind == "fix" and task.parent_task_id == parent.task_id
    assert "make it *better*" in task.description
    # the fix's commit lands on the parent's branch and PR
    assert fix.branch == parent.branch and fix.pr_number == parent.pr_number is not None
    repo = sim.repo(REPO).git
    assert repo.read_file(f"aqm/{parent.task_id}", "fix.txt") == b"fix\n"


async def test_fix_of_an_unknown_task_is_named(sim: GitHubSimulator, app: FastAPI, hooks: Deliverer) -> None:
    thread = on_issue(sim, app, hooks)
    text = await thread.say("maintainer", "/aqm fix T-00AA00 do better")
    assert "there is no aqm task T-00AA00 on this thread" in text
    assert await thread.links() == []


# ---- one running task per thread ---------------------------------------------------------------


async def test_a_restart_and_a_fix_wait_for_the_task_running_on_the_thread(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer, marker: Path
) -> None:
    thread = on_issue(sim, app, hooks)
    await thread.say("maintainer", "/aqm run --pipeline flaky")
    await thread.say("maintainer", "/aqm run --pipeline echoer")
    (echoed, _), (failed, _) = await thread.links()
    marker.write_text("fixed\n")
    await hooks.comment_created(REPO, thread.number, "maintainer", "/aqm run --pipeline slow")
    store = app.state.services.store
    for _ in range(200):  # until the slow task runs
        links = await thread.links()
        if len(links) == 3 and links[0][1] == "in_progress":
            break
        await asyncio.sleep(0.05)
    slow = links[0][0]
    body = f"/aqm restart {failed.task_id}\n/aqm fix {echoed.task_id} once more"
    await thread.say("maintainer", body)
    text = thread.text()
    assert f"`{failed.task_id}` is queued behind `{slow.task_id}`" in text, text
    assert text.count(f"is queued behind `{slow.task_id}`") == 2, text
    statuses = {link.task_id: status for link, status in await thread.links()}
    assert list(statuses.values()) == ["completed"] * 4, text
    fix = next(t for t in statuses if t not in (failed.task_id, echoed.task_id, slow.task_id))
    [slow_stage] = await store.list_stages(slow.task_id, texts=False)
    rerun = (await store.list_stages(failed.task_id, texts=False))[-1]
    [fix_stage] = await store.list_stages(fix, texts=False)
    assert slow_stage.finished_at is not None
    assert rerun.started_at is not None and rerun.started_at >= slow_stage.finished_at  # never at once
    assert fix_stage.started_at is not None and fix_stage.started_at >= slow_stage.finished_at
    assert "checks passed" in text and "fixed on top of the first output" in text


# ---- chunks -------------------------------------------------------------------------------------


async def test_chunks_add_done_remove_and_list(sim: GitHubSimulator, app: FastAPI, hooks: Deliverer) -> None:
    thread = on_issue(sim, app, hooks)
    await thread.say("maintainer", "/aqm run")
    [(link, _)] = await thread.links()
    text = await thread.say("maintainer", "/aqm chunks")
    assert f"`{link.task_id}` has no chunks yet" in text
    text = await thread.say("maintainer", "/aqm chunks add write the <b>docs</b>")
    assert "| `C-001` | ⬜ pending | write the &lt;b&gt;docs&lt;/b&gt; |" in text, text
    await thread.say("maintainer", "/aqm chunks add test it")
    text = await thread.say("maintainer", "/aqm chunks done C-001")
    assert "Marked C-001 done." in text and "| `C-001` | ✅ done |" in text
    assert "Chunks: 1/2 done" in text  # the run card shows them too
    text = await thread.say("maintainer", "/aqm chunks remove c-009")
    assert "No chunk C-009 in task" in text and "C-001, C-002" in text
    text = await thread.say("maintainer", f"/aqm chunks {link.task_id} remove C-002")
    assert "Removed C-002." in text
    text = await thread.say("outsider", "/aqm chunks add sneaky")
    assert "needs write access" in text and "sneaky" not in text.split("needs write access")[-1]
    task = await app.state.services.store.get_task(link.task_id)
    assert [(c["id"], c["status"]) for c in task.state["chunks"]] == [("C-001", "done")]


# ---- answer -------------------------------------------------------------------------------------


async def test_answer_continues_a_task_waiting_for_human_input(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer
) -> None:
    thread = on_issue(sim, app, hooks)
    text = await thread.say("maintainer", "/aqm run --pipeline asker")
    assert "which database?" in text
    [(link, status)] = await thread.links()
    assert status == "awaiting_human_input"
    text = await thread.say("outsider", "/aqm answer postgres")
    assert "needs write access" in text
    [(_, status)] = await thread.links()
    assert status == "awaiting_human_input"
    text = await thread.say("maintainer", f"/aqm answer {link.task_id} use postgres")
    [(_, status)] = await thread.links()
    assert status == "completed", text
    assert "going with postgres" in text


async def test_an_answer_while_other_stages_run_is_refused_saying_so_then_taken_when_it_waits(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer
) -> None:
    thread = on_issue(sim, app, hooks)
    await hooks.comment_created(REPO, thread.number, "maintainer", "/aqm run --pipeline forked")
    for _ in range(200):  # until the asker's branch waits while the slow branch runs
        links = await thread.links()
        task = await app.state.services.store.get_task(links[0][0].task_id) if links else None
        if task and task.status == "in_progress" and "awaiting_human_input" in str(task.state):
            break
        await asyncio.sleep(0.05)
    text = await thread.say("maintainer", "/aqm answer use postgres")
    assert "is still running stages; comment again when its card says it waits for an answer" in text, text
    [(_, status)] = await thread.links()
    assert status == "awaiting_human_input"  # the slow branch ended; the question still waits
    text = await thread.say("maintainer", "/aqm answer use postgres")
    [(_, status)] = await thread.links()
    assert status == "completed" and "going with postgres" in text, text


async def test_an_answer_with_no_question_waiting_says_so(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer
) -> None:
    thread = on_issue(sim, app, hooks)
    text = await thread.say("maintainer", "/aqm answer postgres")
    assert "No aqm task waits for an answer on this thread." in text


# ---- check-run buttons ---------------------------------------------------------------------------


async def paused_on_a_pull(sim: GitHubSimulator, app: FastAPI, hooks: Deliverer) -> tuple[Thread, TaskLink]:
    sim.commit(REPO, {"feature.txt": "v1\n"}, branch="feature", message="feature")
    pull = sim.open_pull(REPO, head="feature", title="A feature", body="Adds a feature.", user="maintainer")
    thread = Thread(sim, app, hooks, pull.number)
    await thread.say("maintainer", "/aqm run")
    [(link, status)] = await thread.links()
    assert status == "awaiting_gate" and link.check_run_id is not None
    run = sim.check_run(REPO, link.check_run_id)
    assert [a["identifier"] for a in run.actions] == ["approve", "reject"]
    return thread, link


async def test_the_check_runs_approve_button_continues_the_task_to_completion(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer
) -> None:
    thread, link = await paused_on_a_pull(sim, app, hooks)
    assert link.check_run_id is not None
    delivery = await hooks.check_run_requested_action(REPO, link.check_run_id, "approve", user="maintainer")
    assert delivery.response_status == 202
    await thread.settle()
    [(_, status)] = await thread.links()
    assert status == "completed", thread.text()
    assert "shipped" in thread.text()
    run = sim.check_run(REPO, link.check_run_id)
    assert (run.status, run.conclusion, run.actions) == ("completed", "success", [])


async def test_the_check_runs_reject_button_records_who_rejected_it(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer
) -> None:
    thread, link = await paused_on_a_pull(sim, app, hooks)
    assert link.check_run_id is not None
    await hooks.check_run_requested_action(REPO, link.check_run_id, "reject", user="maintainer")
    await thread.settle()
    [(_, status)] = await thread.links()
    assert status == "failed"
    stages = await app.state.services.store.list_stages(link.task_id)
    assert "rejected by @maintainer via the check run" in repr(stages[-1]), stages[-1]
    assert "shipped" not in thread.text()


async def test_an_outsiders_click_on_reject_is_refused_once(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer
) -> None:
    thread, link = await paused_on_a_pull(sim, app, hooks)
    assert link.check_run_id is not None
    before = thread.text()
    await hooks.check_run_requested_action(REPO, link.check_run_id, "reject", user="outsider")
    await thread.settle()
    after = thread.text()
    assert after.count("@outsider") == 1 and "needs write access" in after
    assert "needs write access" not in before
    [(_, status)] = await thread.links()
    assert status == "awaiting_gate"
