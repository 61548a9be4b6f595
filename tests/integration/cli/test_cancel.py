"""Stopping a running `aqm run`: `aqm cancel` from another process, and Ctrl-C (SIGINT)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import needs_bwrap
from tests.integration.cli.conftest import TASK_ID, Project, script_rule, wait_until
from tests.integration.runtimes.procs import survivors

TASK = "refactor everything"
PROMPT_EXIT_S = 5.0


@contextlib.contextmanager
def running(project: Project, *options: str) -> Iterator[tuple[subprocess.Popen[str], str, dict[str, Any]]]:
    """`aqm run` in the background until its claude call hangs: (the process, the task id, the call)."""
    project.pipeline(
        """
        agents:
          - id: stuck
            runtime: claude
            system_prompt: "{{ input }}"
            handoffs: [{to: after}]
          - id: after
            runtime: gemini
        """
    )
    project.fakes.script(script_rule("claude", mode="hang", times=1))
    runner = project.start("run", *options, TASK)
    call: dict[str, Any] = {}
    try:
        call = project.wait_for_call("claude")
        assert runner.stdout is not None
        found = TASK_ID.search(runner.stdout.readline())  # `Task T-… (pipeline default)`, flushed
        assert found
        yield runner, found.group(0), call
    finally:
        if runner.poll() is None:
            runner.kill()
        runner.communicate()
        if call and survivors([call["pid"], *call["child_pids"]], within_s=0):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(call["pid"], signal.SIGKILL)  # the fake leads its own group (its sleeper too)


def test_cancel_stops_the_running_cli_and_the_run_exits_promptly(project: Project) -> None:
    with running(project) as (runner, task_id, call):
        wait_until(
            lambda: project.listed_status(task_id) == "in_progress",
            within_s=10,
            what=f"{task_id} in_progress in aqm list",
            every_s=0.2,
        )
        assert call["child_pids"], "the hanging fake started its child"

        cancelled = project.aqm("cancel", task_id, "-r", "changed my mind").ok()
        since = time.monotonic()
        returncode = runner.wait(timeout=PROMPT_EXIT_S + 5)

        assert time.monotonic() - since < PROMPT_EXIT_S
        assert f"Cancelled {task_id}" in cancelled.stdout
        assert returncode == 1
        assert survivors([call["pid"], *call["child_pids"]]) == []
    assert project.task_status(task_id) == "cancelled"
    assert project.clis() == ["claude"]  # nothing ran after the cancel


def test_ctrl_c_leaves_the_task_stalled_and_restart_finishes_it(project: Project) -> None:
    with running(project) as (runner, task_id, call):
        runner.send_signal(signal.SIGINT)
        returncode = runner.wait(timeout=PROMPT_EXIT_S + 5)

        assert returncode == 130
        assert survivors([call["pid"], *call["child_pids"]]) == []
    assert project.task_status(task_id) == "stalled"

    restarted = project.aqm("restart", task_id).ok()

    assert "Status: completed" in restarted.stdout
    assert project.clis() == ["claude", "claude", "gemini"]


@pytest.mark.parametrize(
    "options", [(), pytest.param(("--sandbox",), marks=needs_bwrap)], ids=["unsandboxed", "sandboxed"]
)
def test_ctrl_c_says_in_one_line_that_the_task_is_stalled(project: Project, options: tuple[str, ...]) -> None:
    """No asyncio traceback ("Event loop is closed", as the stage's pipes were collected after the
    loop closed): the cancelled stage finishes killing its CLI first."""
    with running(project, *options) as (runner, task_id, _):
        runner.send_signal(signal.SIGINT)
        _, stderr = runner.communicate(timeout=PROMPT_EXIT_S + 5)

        assert runner.returncode == 130
    assert stderr.splitlines() == [
        f"Interrupted: task {task_id} is stalled; `aqm restart {task_id}` resumes it"
    ]
    assert project.task_status(task_id) == "stalled"
