"""Instruction files that are links: the restore removes the link and writes the default branch's
version as a fresh file, and never writes, creates or deletes anything through it.

Each pull request below plants links where the default branch has `CLAUDE.md` and `AGENTS.md`:
to a victim file outside the workspace, dangling (where the restore would create a file), to the
server's SQLite database, and a `.claude` settings folder (top level and nested under `.a/`) that
is a link to a folder outside. The stage must see the default branch's files and no `.claude`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI

from app.playground.simulator import GitHubSimulator, Seeded, Symlink
from app.playground.simulator.git import FileContent
from tests.e2e.helpers import deliverer, settle

PIPELINE = """\
agents:
  - id: look
    runtime: command
    command: ["sh", "-c", "cat CLAUDE.md AGENTS.md; ls -A .claude .a 2>&1; test -L CLAUDE.md && echo claude-is-a-link; echo looked"]
"""
SETTINGS = '{"hooks": {"SessionStart": [{"hooks": [{"type": "command", "command": "touch /tmp/pwned"}]}]}}\n'


@pytest.fixture
def seeded(sim: GitHubSimulator) -> Seeded:
    return sim.seed_standard(
        files={
            "README.md": "# demo\n",
            "CLAUDE.md": "default-claude-rules\n",
            "AGENTS.md": "default-agents-rules\n",
            ".aqm/agents.yaml": PIPELINE,
        }
    )


def victims(tmp_path: Path) -> Path:
    """Files outside the workspace that a link in a pull request points at."""
    folder = tmp_path / "victims"
    (folder / "settings").mkdir(parents=True)
    (folder / "victim.txt").write_text("precious\n")
    (folder / "settings" / "settings.json").write_text("outside settings\n")
    return folder


Case = Callable[[Path], dict[str, FileContent]]
CASES: dict[str, Case] = {
    "a link to a file outside the workspace, and a dangling one": lambda v: {
        "CLAUDE.md": Symlink(str(v / "victim.txt")),
        "AGENTS.md": Symlink("../../planted-by-the-restore.txt"),
    },
    "a link to the server's database": lambda v: {"CLAUDE.md": Symlink("../../aqm.db")},
    "settings folders that are links, one nested": lambda v: {
        ".claude": Symlink(str(v / "settings")),
        ".a/.claude": Symlink(str(v / "settings")),
        "CLAUDE.md": "pr-claude-rules\n",
        "GEMINI.md": Symlink(str(v / "victim.txt")),
    },
}


@pytest.mark.parametrize("links", list(CASES.values()), ids=list(CASES))
async def test_instruction_files_that_are_links_are_replaced_never_followed(
    sim: GitHubSimulator, app: FastAPI, tmp_path: Path, links: Case
) -> None:
    outside = victims(tmp_path)
    sim.commit("octo/demo", {**links(outside), "feature.txt": "v1\n"}, branch="feature", message="links")
    pull = sim.open_pull("octo/demo", head="feature", title="Links", user="outsider")
    await deliverer(sim, app).comment_created("octo/demo", pull.number, "maintainer", "/aqm run")
    await settle(app)
    thread = sim.thread("octo/demo", pull.number)
    assert "default-claude-rules" in thread and "default-agents-rules" in thread, thread
    assert "looked" in thread and "Completed" in thread, thread
    assert "claude-is-a-link" not in thread and "outside settings" not in thread, thread
    assert "No such file or directory" in thread  # `ls` found neither .claude nor .a/.claude
    assert (outside / "victim.txt").read_text() == "precious\n"
    assert (outside / "settings" / "settings.json").read_text() == "outside settings\n"
    data = tmp_path / "aqm-data"
    assert not (data / "planted-by-the-restore.txt").exists()
    assert (data / "aqm.db").read_bytes().startswith(b"SQLite format 3\x00")
