"""THE smoke test of `runtime: local`: the one test in the suite that loads the real model.

A 3-stage pipeline with an llm gate (smoke_pipeline.yaml) through the real `aqm run`, on
SmolLM2-135M-Instruct with 2 threads. Select it alone with `pytest -m local_model`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.integration.local.conftest import LocalProject

SMOKE_PIPELINE = Path(__file__).with_name("smoke_pipeline.yaml")


@pytest.mark.local_model
@pytest.mark.timeout(360)  # its `aqm run` may take up to 300 s on a loaded machine
def test_smoke_a_real_local_model_runs_three_stages_and_an_llm_gate(project: LocalProject) -> None:
    project.pipeline(SMOKE_PIPELINE.read_text())

    ran = project.aqm("run", "the sea", timeout_s=300)  # about 5 s on an idle machine; others' load slows it

    assert ran.returncode == 0 and "Status: completed" in ran.stdout, ran.stdout + ran.stderr
    task_id = re.search(r"^Task (T-[0-9A-F]+)", ran.stdout, re.MULTILINE).group(1)  # type: ignore[union-attr]
    rows = stage_rows(project.aqm("status", task_id).stdout)
    assert [row["AGENT"] for row in rows] == ["writer", "reviewer", "publisher"]
    assert rows[1]["GATE"] in ("approved", "rejected")  # a parsed verdict, constrained by the grammar
    for row in rows:
        assert int(row["TOKENS"].replace(",", "")) > 0  # counted
        written = project.aqm("context", task_id, "--agent", row["AGENT"]).stdout
        assert written.split("\n\n", 1)[1].strip(" \n-"), written  # the model wrote real text


def stage_rows(status: str) -> list[dict[str, str]]:
    """The stage table of `aqm status`, each row keyed by the header word above its cell."""
    lines = status.splitlines()
    header = next(line for line in lines if line.startswith("#  "))
    names = header.split()
    starts = [header.index(name) if name != "#" else 0 for name in names]
    ends = [*starts[1:], None]
    return [
        {name: line[a:b].strip() for name, a, b in zip(names, starts, ends, strict=True)}
        for line in lines[lines.index(header) + 1 :]
        if line[:1].isdigit()
    ]
