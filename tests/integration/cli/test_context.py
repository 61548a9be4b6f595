"""What reaches a stage's CLI: context strategies through real runs, and a 1 MB handoff intact."""

from __future__ import annotations

import pytest

from tests.integration.cli.conftest import Project, script_rule, sha256

TASK = "summarise the incident"
THREE_STAGES = """
    agents:
      - id: first
        runtime: gemini
        system_prompt: "{{{{ input }}}}"
        handoffs: [{{to: second}}]
      - id: second
        runtime: codex
        system_prompt: "{{{{ input }}}}"
        handoffs: [{{to: third, payload: "not the context"}}]
      - id: third
        runtime: claude
        context_strategy: {strategy}
        system_prompt: "[{{{{ context }}}}]"
"""


@pytest.mark.parametrize(
    ("strategy", "expected_prompt"),
    [
        ("last_only", "[second's output\n---\n| a | table |]"),  # exactly the previous output, uncut
        ("none", "[]"),
    ],
    ids=["last_only gets exactly the previous output", "none gets nothing"],
)
def test_context_strategy_decides_what_the_next_prompt_shows(
    project: Project, strategy: str, expected_prompt: str
) -> None:
    project.pipeline(THREE_STAGES.format(strategy=strategy))
    project.fakes.script(
        script_rule("gemini", text="first's output"),
        script_rule("codex", text="second's output\n---\n| a | table |"),
    )

    project.run(TASK).ok()

    assert project.clis() == ["gemini", "codex", "claude"]
    assert project.calls("claude")[0]["stdin_sha256"] == sha256(expected_prompt)


def test_a_one_megabyte_output_reaches_the_next_cli_byte_for_byte(project: Project) -> None:
    rows = (
        f"row {i:06d}: {{{{ 7*7 }}}} ünïcødé --- | cell | \\ ${{{{ params.x }}}}\n" for i in range(20_000)
    )
    big = (
        "".join(rows)[: 1024 * 1024] + "\n"
    )  # templates, a `---`, a table cell and UTF-8: all kept as they are
    assert len(big.encode()) > 1024 * 1024
    project.pipeline(
        """
        agents:
          - id: producer
            runtime: gemini
            handoffs: [{to: consumer, payload: "{{ output }}"}]
          - id: consumer
            runtime: claude
            system_prompt: "{{ input }}"
        """
    )
    project.fakes.script(script_rule("gemini", text=big))

    ran = project.run(TASK).ok()

    assert "Status: completed" in ran.stdout
    consumer = project.calls("claude")[0]
    assert consumer["stdin_bytes"] == len(big.encode()) and consumer["stdin_sha256"] == sha256(big)
