"""Routing through `aqm run`: expression conditions, `auto` handoffs, and parallel fan-out."""

from __future__ import annotations

import pytest

from tests.integration.cli.conftest import Project, script_rule, stage_rows

TASK = "triage the crash report"
SEVERITY = """
    agents:
      - id: triage
        runtime: claude
        system_prompt: "{{ input }}"
        handoffs:
          - {to: pager, condition: "severity == critical"}
          - {to: backlog, condition: "severity != critical"}
      - id: pager
        runtime: gemini
      - id: backlog
        runtime: codex
"""


@pytest.mark.parametrize(
    ("triage_output", "called"),
    [
        ("Looked at the stack trace.\nSEVERITY: critical\n", "gemini"),
        ("Looked at the stack trace: this is not critical.", "codex"),
        ("SEVERITY: low\nNothing critical here, severity == critical is false.", "codex"),
    ],
    ids=["a SEVERITY line routes", "the word in prose does not route", "the last KEY line decides"],
)
def test_a_severity_condition_routes_on_its_key_line_only(
    project: Project, triage_output: str, called: str
) -> None:
    project.pipeline(SEVERITY)
    project.fakes.script(script_rule("claude", text=triage_output))

    project.run(TASK).ok()

    assert project.clis() == ["claude", called]


def test_condition_auto_follows_a_handoff_line(project: Project) -> None:
    project.pipeline(
        """
        agents:
          - id: router
            runtime: claude
            system_prompt: "{{ input }}"
            handoffs: [{to: "*", condition: auto}]
          - id: docs
            runtime: gemini
          - id: tests
            runtime: codex
        """
    )
    output = "Say `HANDOFF: tests` to send it to tests.\n```\nHANDOFF: tests\n```\nHANDOFF: docs\n"
    project.fakes.script(script_rule("claude", text=output))

    ran = project.run(TASK).ok()

    assert "Status: completed" in ran.stdout
    assert project.clis() == ["claude", "gemini"]


FAN_OUT = """
    agents:
      - id: plan
        runtime: claude
        system_prompt: "{{ input }}"
        handoffs: [{to: "docs, tests"}]
      - id: docs
        runtime: gemini
      - id: tests
        runtime: codex
"""


def script_slow_branches(project: Project, delay_s: float) -> None:
    project.fakes.script(
        script_rule("gemini", text="docs written", delay_s=delay_s),
        script_rule("codex", text="tests written", delay_s=delay_s),
    )


def test_fan_out_runs_both_branches_at_once(project: Project) -> None:
    project.pipeline(FAN_OUT)
    script_slow_branches(project, delay_s=1.0)

    ran = project.run(TASK).ok()

    assert "Status: completed" in ran.stdout
    docs, tests = project.calls("gemini")[0], project.calls("codex")[0]
    # a call cannot finish before started + delay_s: each began before the other could have ended
    assert abs(docs["started"] - tests["started"]) < 1.0
    branches = {row["AGENT"]: row["BRANCH"] for row in stage_rows(project.status(ran.task_id))}
    assert branches["plan"] == "1" and sorted([branches["docs"], branches["tests"]]) == ["1", "1.2"]


def test_max_parallel_one_runs_fan_out_branches_one_after_the_other(project: Project) -> None:
    project.pipeline(FAN_OUT)
    project.config("pipeline:\n  max_parallel: 1\n")
    script_slow_branches(project, delay_s=0.5)

    project.run(TASK).ok()

    first, second = sorted([project.calls("gemini")[0]["started"], project.calls("codex")[0]["started"]])
    assert second - first >= 0.5  # the second began only after the first (>= its delay) had ended


# aqm's public registry routes an incident like this: `condition: auto` with `to` naming one
# agent, the router's HANDOFF line naming another (aqm ignores `to` under auto)
INCIDENT = """
    agents:
      - id: detector
        runtime: claude
        system_prompt: "Detect: {{ input }}"
        handoffs: [{to: severity_router, condition: auto}]
      - id: severity_router
        runtime: claude
        system_prompt: "Route by severity: {{ input }}"
        handoffs: [{to: low_fix, condition: auto}]
      - id: low_fix
        runtime: claude
        system_prompt: "Quick fix: {{ input }}"
        handoffs: [{to: verifier}]
      - id: critical_fix
        runtime: claude
        system_prompt: "Critical fix: {{ input }}"
        handoffs: [{to: verifier}]
      - id: verifier
        runtime: claude
        system_prompt: "Verify: {{ input }}"
        handoffs: [{to: postmortem}]
      - id: postmortem
        runtime: claude
        system_prompt: "Postmortem: {{ input }}"
"""


def test_the_registry_incident_pipeline_runs_its_five_agents_as_aqm_does(project: Project) -> None:
    project.pipeline(INCIDENT)
    project.fakes.script(
        script_rule("claude", match="^Detect:", text="Null pointer in checkout.\nHANDOFF: severity_router"),
        script_rule("claude", match="^Route by severity:", text="Checkout is down.\nHANDOFF: critical_fix"),
        script_rule("claude", match="^Critical fix:", text="Patched the null check."),
        script_rule("claude", match="^Verify:", text="Checkout works again."),
        script_rule("claude", match="^Postmortem:", text="Root cause: a missing null check."),
    )
    validated = project.aqm("validate", "--strict").ok()
    assert "to: 'severity_router' is ignored under condition: auto" in validated.stderr

    ran = project.run(TASK).ok()

    assert "Status: completed" in ran.stdout
    rows = stage_rows(project.status(ran.task_id))
    assert [(row["AGENT"], row["STATUS"]) for row in rows] == [
        (agent, "completed")
        for agent in ("detector", "severity_router", "critical_fix", "verifier", "postmortem")
    ]


def test_a_handoff_to_no_agent_fails_the_task_saying_so(project: Project) -> None:
    project.pipeline(INCIDENT)
    project.fakes.script(script_rule("claude", text="HANDOFF: severity_routr"))

    ran = project.run(TASK)

    assert ran.returncode != 0 and "Status: failed" in ran.output
    assert "HANDOFF: severity_routr, which names no agent" in ran.output
    assert "did you mean 'severity_router'?" in project.status(ran.task_id)
