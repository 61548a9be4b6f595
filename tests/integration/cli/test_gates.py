"""Gates through `aqm`: human gates paused and resumed by approve/reject, llm gates asked of a CLI."""

from __future__ import annotations

from tests.integration.cli.conftest import Project, script_rule, sha256

TASK = "write the parser"
HUMAN_GATE = """
    agents:
      - id: writer
        runtime: claude
        system_prompt: "{{ input }}"
        handoffs: [{to: reviewer}]
      - id: reviewer
        runtime: gemini
        system_prompt: "Review: {{ input }}"
        gate: {type: human}
        handoffs:
          - {to: shipper, condition: on_approve}
          - to: writer
            condition: on_reject
            payload: "Rejected because: {{ reject_reason }}\\nPrevious draft: {{ input }}"
      - id: shipper
        runtime: codex
        system_prompt: "Ship: {{ input }}"
"""


def start_at_the_human_gate(project: Project) -> str:
    """`aqm run` up to the reviewer's human gate; the task id."""
    project.pipeline(HUMAN_GATE)
    project.fakes.script(
        script_rule("claude", match="needs tests", text="draft 2"),
        script_rule("claude", text="draft 1"),
        script_rule("gemini", text="looks fine"),
        script_rule("codex", text="shipped"),
    )
    ran = project.run(TASK).ok()
    assert "Status: awaiting_gate" in ran.stdout
    return ran.task_id


def test_run_stops_at_a_human_gate_and_prints_how_to_approve_or_reject(project: Project) -> None:
    project.pipeline(HUMAN_GATE)

    ran = project.run(TASK)

    task_id = ran.task_id
    assert ran.returncode == 0 and "Status: awaiting_gate" in ran.stdout
    assert f"aqm approve {task_id}" in ran.stdout and f"aqm reject {task_id} -r" in ran.stdout
    assert project.clis() == ["claude", "gemini"]


def test_approve_continues_to_completion_without_rerunning_earlier_stages(project: Project) -> None:
    task_id = start_at_the_human_gate(project)

    approved = project.aqm("approve", task_id, "-r", "ok").ok()

    assert "Status: completed" in approved.stdout
    assert project.clis() == ["claude", "gemini", "codex"]
    assert project.calls("codex")[0]["stdin_sha256"] == sha256("Ship: looks fine")


def test_reject_follows_on_reject_with_the_reason_in_the_next_prompt(project: Project) -> None:
    task_id = start_at_the_human_gate(project)

    rejected = project.aqm("reject", task_id, "-r", "needs tests").ok()

    assert "Status: awaiting_gate" in rejected.stdout  # writer, then the reviewer's gate again
    assert project.clis() == ["claude", "gemini", "claude", "gemini"]
    second_writer = project.calls("claude")[1]
    assert second_writer["stdin_sha256"] == sha256("Rejected because: needs tests\nPrevious draft: draft 1")
    assert project.calls("gemini")[1]["stdin_sha256"] == sha256("Review: draft 2")


def test_approving_a_task_that_is_not_waiting_fails_with_aqms_message(project: Project) -> None:
    project.pipeline("agents:\n  - {id: solo, runtime: claude}\n")
    task_id = project.run(TASK).ok().task_id

    approved = project.aqm("approve", task_id)

    assert approved.returncode == 1
    assert f"Task '{task_id}' is not in a resumable state. (current: completed)" in approved.stderr
    assert len(project.calls()) == 1


LLM_GATE_ON_GEMINI = """
    agents:
      - id: coder
        runtime: gemini
        system_prompt: "{{ input }}"
        gate: {type: llm, prompt: "Is this code correct?"}
"""
GATE_QUESTION = "Agent output:"  # in every gate message, never in a stage prompt here


def test_an_llm_gate_asks_the_gated_agents_own_runtime(project: Project) -> None:
    project.pipeline(LLM_GATE_ON_GEMINI)
    project.fakes.script(
        script_rule("gemini", match=GATE_QUESTION, json={"decision": "approved", "reason": "correct"}),
        script_rule("gemini", text="the code"),
    )

    ran = project.run(TASK).ok()

    assert "Status: completed" in ran.stdout
    assert project.clis() == ["gemini", "gemini"]  # the stage, then its verdict: claude is not asked
    assert "stage 1: coder approved" in ran.stdout


def test_llm_gate_rejections_count_over_the_whole_task_and_fail_past_max_retries(project: Project) -> None:
    project.pipeline(
        """
        agents:
          - id: dev
            runtime: claude
            system_prompt: "{{ input }}"
            handoffs: [{to: rev}]
          - id: rev
            runtime: codex
            system_prompt: "Review: {{ input }}"
            gate: {type: llm, max_retries: 2}
            handoffs:
              - {to: dev, condition: on_reject, payload: "Fix: {{ reject_reason }}"}
        """
    )
    project.fakes.script(
        script_rule("codex", match=GATE_QUESTION, json={"decision": "rejected", "reason": "no tests"}),
    )

    ran = project.run(TASK)

    assert ran.returncode == 1
    message = "The gate of 'rev' rejected 3 times; max_retries is 2"
    assert message in ran.stdout
    # dev -> rev (rejected) -> dev -> rev (rejected) -> dev -> rev (rejected: the 3rd fails the task)
    assert len(project.calls("claude")) == 3 and len(project.calls("codex")) == 6
    assert "Status: failed" in ran.stdout


def test_a_prose_verdict_is_asked_again_and_fails_the_task_after_three_answers(project: Project) -> None:
    project.pipeline(LLM_GATE_ON_GEMINI)
    project.fakes.script(
        script_rule("gemini", match=GATE_QUESTION, text="I cannot approve this."),
        script_rule("gemini", text="the code"),
    )

    ran = project.run(TASK)

    assert ran.returncode == 1
    assert len(project.calls("gemini")) == 4  # the stage, then three verdict requests
    assert "Status: failed" in ran.stdout and "approved" not in ran.stdout
    error = next(line for line in ran.stdout.splitlines() if line.startswith("Error:"))
    assert "The llm gate of 'coder' gave no verdict after 3 attempts" in error
    assert "I cannot approve this." in error


def test_config_gate_runtime_moves_verdicts_to_that_cli(project: Project) -> None:
    project.pipeline(
        "agents:\n  - {id: coder, runtime: claude, system_prompt: '{{ input }}', gate: {type: llm}}\n"
    )
    project.config("gate:\n  runtime: codex\n")
    project.fakes.script(
        script_rule("codex", match=GATE_QUESTION, json={"decision": "approved", "reason": "fine"}),
    )

    ran = project.run(TASK).ok()

    assert "Status: completed" in ran.stdout
    assert project.clis() == ["claude", "codex"]
    assert "--output-schema" in project.calls("codex")[0]["argv"]
