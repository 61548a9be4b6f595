"""action.yml and the example workflows of docs/action.md: valid for GitHub's own schemas (checked
offline by check-jsonschema's vendored copies), and safe as written."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
WORKFLOWS = sorted((ROOT / "docs" / "workflows").glob("*.yml"))
CHECK = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")


def check(schema: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHECK, "--builtin-schema", schema, *map(str, paths)], capture_output=True, text=True, check=False
    )


def load(path: Path) -> dict[Any, Any]:
    loaded = yaml.safe_load(path.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_the_example_workflows_are_valid_github_workflows() -> None:
    assert len(WORKFLOWS) >= 2
    result = check("vendor.github-workflows", *WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_action_yml_is_a_valid_action() -> None:
    result = check("vendor.github-actions", ROOT / "action.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_refuses_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: issue_comment\njobs:\n  aqm:\n    steps: []\n")  # no runs-on
    assert check("vendor.github-workflows", broken).returncode != 0


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_no_example_workflow_runs_a_forks_code_with_secrets(path: Path) -> None:
    """No `pull_request_target`, no checkout at all (aqm checks out a task's code in its sandbox),
    one run per thread at a time, and the four permissions aqm writes with."""
    workflow = load(path)
    triggers = workflow.get("on") or workflow.get(True)  # YAML 1.1 reads a bare `on` as True
    assert triggers is not None
    assert "pull_request_target" not in triggers
    uses = [step.get("uses", "") for job in workflow["jobs"].values() for step in job["steps"]]
    assert not [u for u in uses if u.startswith("actions/checkout")]
    assert "github.event.issue.number || github.event.pull_request.number" in workflow["concurrency"]["group"]
    assert workflow["permissions"] == {
        "contents": "write",
        "issues": "write",
        "pull-requests": "write",
        "checks": "write",
    }


def test_every_input_reaches_the_step_explicitly() -> None:
    """Composite actions get no INPUT_* variables: each input is passed by name (or used in an `if`)."""
    action = load(ROOT / "action.yml")
    text = (ROOT / "action.yml").read_text()
    run = next(step for step in action["runs"]["steps"] if step.get("id") == "aqm")
    passed = " ".join(run["env"].values())
    for name in action["inputs"]:
        assert f"inputs.{name}" in passed or f"if: inputs.{name}" in text, name
    assert run["env"]["AQM_GITHUB_TOKEN"] == "${{ inputs.github-token }}"
    assert set(action["outputs"]) == {"task-id", "status", "pr-url"}
