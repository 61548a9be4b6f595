"""Failing CLIs through `aqm`: the task fails with the CLI's words, retries, and `aqm restart`."""

from __future__ import annotations

import pytest

from tests.integration.cli.conftest import LINEAR, Project, script_rule, sha256, stage_rows

TASK = "port the module"


def test_a_cli_that_exits_1_fails_the_task_with_its_stderr_tail(project: Project) -> None:
    project.pipeline(LINEAR)
    project.fakes.script(script_rule("gemini", mode="exit1"))

    ran = project.run(TASK)

    assert ran.returncode == 1 and "Status: failed" in ran.stdout
    assert project.clis() == ["claude", "gemini"]
    status = project.status(ran.task_id)
    assert status.splitlines()[0].split() == ["Task", ran.task_id, "failed"]
    error = next(line for line in status.splitlines() if line.startswith("Error:"))
    assert "coder" in error and "gemini exited with code 1" in error
    assert "An unexpected critical error occurred:[object Object]" in status  # gemini's last words
    assert f"aqm restart {ran.task_id} --from-stage 2" in status


KEY_VARIABLE = {"claude": "ANTHROPIC_API_KEY", "gemini": "GEMINI_API_KEY", "codex": "CODEX_API_KEY"}


@pytest.mark.parametrize("cli", ["claude", "gemini", "codex"])
def test_a_cli_that_is_not_logged_in_fails_the_task_saying_so(project: Project, cli: str) -> None:
    project.pipeline(f"agents:\n  - {{id: solo, runtime: {cli}}}\n")
    project.fakes.log_out()

    ran = project.run(TASK)

    assert ran.returncode == 1 and "Status: failed" in ran.stdout
    error = next(line for line in ran.stdout.splitlines() if line.startswith("Error:"))
    assert f"Stage 1 (solo) failed: {cli}: authentication failed" in error, error
    assert f"check {KEY_VARIABLE[cli]}" in error, error


def test_an_agent_retry_policy_runs_a_crashed_stage_again(project: Project) -> None:
    project.pipeline(
        """
        agents:
          - id: flaky
            runtime: claude
            system_prompt: "{{ input }}"
            retry: {max_retries: 1}
        """
    )
    project.fakes.script(script_rule("claude", mode="exit1", times=1))

    ran = project.run(TASK).ok()

    assert "Status: completed" in ran.stdout
    assert [c["mode"] for c in project.calls("claude")] == ["exit1", "ok"]


def test_restart_reruns_from_the_failed_stage_only(project: Project) -> None:
    project.pipeline(LINEAR)
    project.fakes.script(
        script_rule("gemini", mode="exit1", times=1),
        script_rule("claude", text="the plan"),
        script_rule("gemini", text="the code"),
    )
    task_id = project.run(TASK).task_id

    restarted = project.aqm("restart", task_id).ok()

    assert "Status: completed" in restarted.stdout
    assert project.clis() == ["claude", "gemini", "gemini", "codex"]  # the planner is not run again
    assert project.calls("gemini")[1]["stdin_sha256"] == sha256("Code: the plan")


def test_restart_from_stage_1_reruns_everything(project: Project) -> None:
    project.pipeline(LINEAR)
    task_id = project.run(TASK).ok().task_id

    project.aqm("restart", task_id, "--from-stage", "1").ok()

    assert project.clis() == ["claude", "gemini", "codex"] * 2
    assert project.calls("claude")[1]["stdin_sha256"] == sha256(f"Plan: {TASK}")
    assert len(stage_rows(project.status(task_id))) == 3  # the stages were replaced, not added


def test_restart_from_stage_1_starts_again_at_the_agent_the_task_started_with(project: Project) -> None:
    project.pipeline(LINEAR)
    project.fakes.script(script_rule("codex", mode="exit1", times=1))
    task_id = project.run(TASK, "--agent", "coder").task_id
    assert project.clis() == ["gemini", "codex"]

    restarted = project.aqm("restart", task_id, "--from-stage", "1").ok()

    assert "Status: completed" in restarted.stdout
    assert project.clis() == ["gemini", "codex", "gemini", "codex"]  # never the planner
    assert project.calls("gemini")[1]["stdin_sha256"] == sha256(f"Code: {TASK}")
