"""`aqm fix` (a follow-up task with the parent's context) and `entry_point: auto`."""

from __future__ import annotations

import json

from tests.integration.cli.conftest import Project, script_rule, sha256

TASK = "build the landing page"
TWO_STAGES = """
    agents:
      - id: designer
        runtime: claude
        system_prompt: "{{ input }}"
        handoffs: [{to: builder}]
      - id: builder
        runtime: gemini
        system_prompt: "Build: {{ input }}"
"""


def test_fix_starts_a_new_task_with_the_parents_context_and_the_request(project: Project) -> None:
    project.pipeline(TWO_STAGES)
    project.fakes.script(
        script_rule(
            "claude",
            match=r"(?s)follow-up from T-.*the page is red.*--- Fix request ---\nchange the colour",
            text="a blue design",
        ),
        script_rule("claude", text="a red design"),
        script_rule("gemini", match="blue", text="the page is blue"),
        script_rule("gemini", text="the page is red"),
    )
    parent = project.run(TASK).ok().task_id

    fixed = project.aqm("fix", parent, "change the colour").ok()

    child = fixed.task_id
    assert child != parent and "Status: completed" in fixed.stdout
    assert project.clis() == ["claude", "gemini", "claude", "gemini"]
    assert project.calls("gemini")[1]["stdin_sha256"] == sha256("Build: a blue design")  # the fix's
    assert f"(fix of {parent})" in project.status(child)


ROUTED = """
    entry_point: auto
    agents:
      - id: planner
        runtime: claude
        system_prompt: "Plan {{ input }}"
      - id: fixer
        runtime: gemini
        system_prompt: "Fix bugs: {{ input }}"
      - id: writer
        runtime: codex
        system_prompt: "Write docs: {{ input }}"
"""
CHOOSE = "Choose the agent"


def test_entry_point_auto_asks_a_structured_choice_and_starts_there(project: Project) -> None:
    project.pipeline(ROUTED)
    project.fakes.script(script_rule("claude", match=CHOOSE, json={"agent": "writer"}))

    ran = project.run("document the API").ok()

    assert project.clis() == ["claude", "codex"]
    argv = project.calls("claude")[0]["argv"]
    schema = json.loads(argv[argv.index("--json-schema") + 1])
    assert schema["properties"]["agent"]["enum"] == ["planner", "fixer", "writer"]
    assert "stage 1: writer" in ran.stdout


def test_entry_point_auto_falls_back_to_the_first_agent_and_says_so(project: Project) -> None:
    project.pipeline(ROUTED)
    project.fakes.script(
        script_rule("claude", match=CHOOSE, json={"agent": "nobody"}),
        script_rule("claude", text="the plan"),
    )

    ran = project.run("document the API").ok()

    assert "entry_point auto: no usable answer" in ran.stdout and "starting with 'planner'" in ran.stdout
    assert project.clis() == ["claude", "claude"]
    assert "stage 1: planner" in ran.stdout
