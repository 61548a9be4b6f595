"""`aqm run --sandbox`: the local opt-in to the App's stage sandbox (unsandboxed stays the default)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import needs_bwrap
from tests.integration.cli.conftest import Project

LOOKING = """
    agents:
      - id: look
        runtime: command
        command: ["sh", "-c", "ls -A; cat .aqm/aqm.db .aqm/pipelines/default.yaml {netrc}; echo made > made.txt"]
        handoffs: [{{to: plan}}]
      - id: plan
        runtime: claude
        system_prompt: "Plan: {{{{ input }}}}"
"""


@needs_bwrap
def test_sandboxed_stages_see_the_project_but_not_its_store_nor_home(project: Project) -> None:
    home = Path(os.environ["HOME"])
    (home / ".netrc").write_text("password secret-of-the-home")
    (home / ".claude").mkdir()
    (home / ".claude" / ".credentials.json").write_text("{}")  # a login, not a key: bound in for claude
    project.fakes.log_out()
    project.pipeline(LOOKING.format(netrc=home / ".netrc"))
    ran = project.run("look around", "--sandbox").ok()
    assert "Status: completed" in ran.stdout
    assert (project.root / "made.txt").read_text() == "made\n"
    output = project.aqm("context", ran.task_id).ok().stdout
    assert "README" in output or ".aqm" in output  # the project's own files are there
    assert "SQLite" not in output and "agents:" not in output  # .aqm/ is empty inside
    assert "secret-of-the-home" not in output
    assert project.clis() == ["claude"]  # authenticated by the bound login


def test_without_sandbox_aqm_run_stays_as_aqm_runs_it(project: Project) -> None:
    project.pipeline(LOOKING.format(netrc=""))
    ran = project.run("look around").ok()
    assert "agents:" in project.aqm("context", ran.task_id).ok().stdout  # .aqm/ is readable, as in aqm
