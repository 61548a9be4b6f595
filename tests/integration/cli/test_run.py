"""`aqm run`: a linear pipeline on the three CLIs, pipeline selection, start agent and params."""

from __future__ import annotations

from tests.integration.cli.conftest import LINEAR, Project, script_rule, sha256, stage_rows

TASK = "add rate limiting"


def script_linear(project: Project) -> None:
    project.fakes.script(
        script_rule(
            "claude",
            text="the plan",
            usage={"input_tokens": 1000, "output_tokens": 234, "cost_usd": 0.0123},
        ),
        script_rule("gemini", text="the code", usage={"input_tokens": 300, "output_tokens": 45}),
        script_rule("codex", text="the review", usage={"input_tokens": 200, "output_tokens": 22}),
    )


def test_a_three_agent_pipeline_runs_on_claude_gemini_and_codex_with_prompts_on_stdin(
    project: Project,
) -> None:
    project.pipeline(LINEAR)
    script_linear(project)

    ran = project.run(TASK).ok()

    task_id = ran.task_id
    assert "Status: completed" in ran.stdout
    assert project.clis() == ["claude", "gemini", "codex"]
    expected_stdin = {"claude": f"Plan: {TASK}", "gemini": "Code: the plan", "codex": "Review: the code"}
    for call in project.calls():
        prompt = expected_stdin[call["cli"]]
        assert call["stdin_bytes"] > 0 and call["stdin_sha256"] == sha256(prompt)
        assert not any(prompt in arg or TASK in arg for arg in call["argv"]), call["argv"]
    listed = project.aqm("list").ok().stdout
    assert task_id in listed and "completed" in listed
    status = project.status(task_id)
    assert status.splitlines()[0].split() == ["Task", task_id, "completed"]
    usage = {row["AGENT"]: (row["STATUS"], row["TOKENS"], row["COST"]) for row in stage_rows(status)}
    assert usage == {
        "planner": ("completed", "1,234", "$0.0123"),
        "coder": ("completed", "345", ""),  # gemini and codex report tokens, no cost
        "reviewer": ("completed", "222", ""),
    }


def test_the_legacy_agents_yaml_runs_as_the_default_pipeline(project: Project) -> None:
    (project.root / ".aqm/pipelines/default.yaml").unlink()
    (project.root / ".aqm/agents.yaml").write_text(
        "agents:\n  - {id: solo, runtime: gemini, system_prompt: 'Legacy: {{ input }}'}\n"
    )

    ran = project.run(TASK).ok()

    assert "(pipeline default)" in ran.stdout and "Status: completed" in ran.stdout
    assert [c["stdin_sha256"] for c in project.calls("gemini")] == [sha256(f"Legacy: {TASK}")]


def test_pipeline_option_picks_the_named_pipeline_file(project: Project) -> None:
    project.pipeline(LINEAR)
    project.pipeline("agents:\n  - {id: docs, runtime: codex, system_prompt: 'Docs: {{ input }}'}\n", "docs")

    ran = project.run(TASK, "--pipeline", "docs").ok()

    assert "(pipeline docs)" in ran.stdout
    assert project.clis() == ["codex"]
    assert project.calls("codex")[0]["stdin_sha256"] == sha256(f"Docs: {TASK}")


def test_agent_option_starts_the_pipeline_at_that_agent(project: Project) -> None:
    project.pipeline(LINEAR)

    ran = project.run(TASK, "--agent", "coder").ok()

    assert "Status: completed" in ran.stdout
    assert project.clis() == ["gemini", "codex"]
    assert project.calls("gemini")[0]["stdin_sha256"] == sha256(f"Code: {TASK}")


PARAMS = """
    params:
      language:
        required: true
        description: the language to write in
    agents:
      - id: writer
        runtime: claude
        system_prompt: "Write it in ${{ params.language }}: {{ input }}"
"""


def test_a_param_given_with_param_reaches_the_prompt(project: Project) -> None:
    project.pipeline(PARAMS)

    project.run(TASK, "--param", "language=Rust").ok()

    assert [c["stdin_sha256"] for c in project.calls("claude")] == [sha256(f"Write it in Rust: {TASK}")]


def test_a_missing_required_param_fails_clearly_when_not_interactive(project: Project) -> None:
    project.pipeline(PARAMS)

    ran = project.run(TASK)

    assert ran.returncode == 1
    assert "language" in ran.stderr and "--param" in ran.stderr
    assert "Task T-" not in ran.stdout and project.calls() == []
