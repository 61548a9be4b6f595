"""The worker's file operations in a workspace, on a real file system, against planted links."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.runtimes import git
from app.runtimes.workspace import WorkspaceError, prune, write_new_files


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "victim.txt").write_text("precious\n")
    return folder


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "workspace"
    folder.mkdir()
    return folder


def test_pruning_removes_links_as_links_and_never_descends_into_them(root: Path, outside: Path) -> None:
    (root / "CLAUDE.md").symlink_to(outside / "victim.txt")
    (root / "docs").symlink_to(outside)  # a link to a folder holding a matching name is not walked
    (outside / "AGENTS.md").write_text("outside\n")
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / ".claude").symlink_to(outside)
    assert prune(root, {"CLAUDE.md", "AGENTS.md", ".claude"}) == ["CLAUDE.md", "a/b/.claude"]
    assert sorted(os.listdir(outside)) == ["AGENTS.md", "victim.txt"]
    assert (outside / "victim.txt").read_text() == "precious\n"


def test_writing_never_goes_through_a_link(root: Path, outside: Path) -> None:
    (root / "CLAUDE.md").symlink_to(outside / "victim.txt")
    (root / "sub").symlink_to(outside)
    for relative in ("CLAUDE.md", "sub/new.md", "../escape.md", "/etc/x"):
        with pytest.raises(WorkspaceError):
            write_new_files(root, {relative: "planted\n"})
    assert (
        sorted(os.listdir(outside)) == ["victim.txt"] and (outside / "victim.txt").read_text() == "precious\n"
    )
    write_new_files(root, {"new/AGENTS.md": "rules\n"})
    assert (root / "new" / "AGENTS.md").read_text() == "rules\n"


def test_gits_environment_is_an_allowlist_not_the_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "ANTHROPIC_API_KEY": "sk-ant-x",
        "PGPASSWORD": "pw",
        "AQM_GITHUB_PRIVATE_KEY": "pem",
        "GIT_DIR": "/elsewhere",
        "GIT_CONFIG_PARAMETERS": "'core.hookspath'='/x'",
        "HOME": "/root",
    }.items():
        monkeypatch.setenv(name, value)
    env = git.git_env()
    assert set(env) - set(git.ENV_ALLOWED) == {
        "LC_ALL",
        "GIT_CONFIG_NOSYSTEM",
        "GIT_CONFIG_GLOBAL",
        "GIT_ATTR_NOSYSTEM",
        "GIT_TERMINAL_PROMPT",
        *("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"),
    }
    assert env["GIT_CONFIG_GLOBAL"] == "/dev/null" and "GIT_CONFIG_VALUE_0" not in env
    assert "GIT_CONFIG_VALUE_0" in git.git_env("ghs_token")  # only the fetch or push that needs it


def test_the_restore_replaces_a_hard_link_and_a_fifo_without_writing_or_reading_them(
    root: Path, outside: Path
) -> None:
    """What a stage (not a checkout) can plant: a second name of a file outside, a pipe that blocks a reader."""
    os.link(outside / "victim.txt", root / "CLAUDE.md")
    os.mkfifo(root / "AGENTS.md")
    removed = git.restore_instruction_files(root, {"CLAUDE.md": "default\n", "AGENTS.md": "agents\n"})
    assert removed == ["AGENTS.md", "CLAUDE.md"]
    assert (outside / "victim.txt").read_text() == "precious\n"
    assert (root / "CLAUDE.md").read_text() == "default\n" and (root / "AGENTS.md").read_text() == "agents\n"
    assert (root / "CLAUDE.md").stat().st_nlink == 1
