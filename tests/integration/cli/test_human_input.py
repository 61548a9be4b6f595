"""Human input through `aqm`: a question before an agent runs, and one an agent asks on demand."""

from __future__ import annotations

from tests.integration.cli.conftest import Project, script_rule, sha256

TASK = "set up the storage"


def test_human_input_before_pauses_with_the_question_and_the_answer_reaches_the_prompt(
    project: Project,
) -> None:
    project.pipeline(
        """
        agents:
          - id: builder
            runtime: claude
            system_prompt: "{{ input }}"
            human_input: {mode: before, prompt: "Which database should I use?"}
        """
    )

    ran = project.run(TASK).ok()

    task_id = ran.task_id
    assert "Status: awaiting_human_input" in ran.stdout
    assert "Which database should I use?" in ran.stdout and f"aqm human-input {task_id}" in ran.stdout
    assert project.calls() == []  # nothing ran before the answer

    answered = project.aqm("human-input", task_id, "PostgreSQL 16").ok()

    assert "Status: completed" in answered.stdout
    expected = f"{TASK}\n\n--- User Input ---\nPostgreSQL 16"
    assert [c["stdin_sha256"] for c in project.calls("claude")] == [sha256(expected)]


def test_an_on_demand_question_is_answered_back_to_the_agent_that_asked(project: Project) -> None:
    project.pipeline(
        """
        agents:
          - id: designer
            runtime: claude
            system_prompt: "{{ input }}"
            human_input: true
            handoffs: [{to: builder}]
          - id: builder
            runtime: gemini
            system_prompt: "Build: {{ input }}"
        """
    )
    project.fakes.script(
        script_rule("claude", match="--- User Response ---\nteal", text="A teal button."),
        script_rule("claude", text="Almost there.\nHUMAN_INPUT: Which colour should the button be?"),
    )

    ran = project.run(TASK).ok()

    task_id = ran.task_id
    assert "Status: awaiting_human_input" in ran.stdout
    assert "Which colour should the button be?" in ran.stdout
    assert project.clis() == ["claude"]

    answered = project.aqm("human-input", task_id, "teal").ok()

    assert "Status: completed" in answered.stdout
    assert project.clis() == ["claude", "claude", "gemini"]  # the asker again, then its handoff
    assert project.calls("gemini")[0]["stdin_sha256"] == sha256("Build: A teal button.")
