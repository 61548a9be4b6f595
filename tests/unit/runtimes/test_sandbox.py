"""What the sandbox binds and how bwrap is started, read from its command line (no process runs)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.errors import ConfigError
from app.runtimes.process import UNSANDBOXED
from app.runtimes.registry import stage_launcher
from app.runtimes.sandbox import SANDBOX_HOME, Sandbox, binds_for, mountable, stage_env


def sandbox(tmp_path: Path, environ: dict[str, str]) -> Sandbox:
    """A sandbox reading `environ` (its bwrap never runs here)."""
    return Sandbox("/usr/bin/bwrap", hidden=(tmp_path / "data",), environ=environ)


def bound(words: list[str] | tuple[str, ...]) -> list[str]:
    """The sources of every bind on a bwrap command line."""
    return [words[i + 1] for i, word in enumerate(words) if word in ("--bind", "--ro-bind", "--bind-try")]


def test_folders_holding_the_data_folder_or_home_are_never_bound_whole(tmp_path: Path) -> None:
    data, home, tools = tmp_path / "data", tmp_path / "home", tmp_path / "tools"
    for folder in (data / "workspaces", home / ".pyenv" / "bin", tools):
        folder.mkdir(parents=True)
    candidates = [Path("/"), tmp_path, data, data / "workspaces", home, home / ".pyenv" / "bin", tools]
    kept = mountable(candidates, never_whole=(data, home), hidden=(data,))
    assert kept == (home / ".pyenv" / "bin", tools)


def test_system_state_and_shared_folders_are_never_bound_from_path(tmp_path: Path) -> None:
    path = os.pathsep.join(["/etc", "/etc/ssl", "/proc/self", "/run", "/tmp", "/home", str(tmp_path / "bin")])
    (tmp_path / "bin").mkdir()
    binds = binds_for((("PATH", path), ("HOME", str(tmp_path / "home"))), (), logins=False)
    assert tmp_path / "bin" in binds.read_only
    assert not [
        p for p in binds.read_only if p.parts[1] in ("etc", "proc", "run", "home") or p == Path("/tmp")
    ]


def test_what_is_bound_comes_from_our_environment_never_from_the_stages(tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "tool").touch(mode=0o755)
    stage_of = sandbox(tmp_path, {"PATH": f"{tools}:/usr/bin", "HOME": str(tmp_path / "home")})
    workspace = tmp_path / "data" / "workspaces" / "T-1"
    workspace.mkdir(parents=True)
    with stage_of.stage() as stage:
        hostile_env = {"PATH": f"/:{tmp_path}:{tools}", "HOME": "/root"}
        launch = stage.launch(["tool"], env=hostile_env, cwd=workspace)
    sources = bound(launch.argv)
    assert str(tools) in sources and str(workspace) in sources
    assert "/" not in sources and str(tmp_path) not in sources and "/root" not in sources


def test_bwrap_starts_with_the_stages_environment_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AQM_GITHUB_WEBHOOK_SECRET", "whsec-planted")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    with sandbox(tmp_path, {"PATH": "/usr/bin"}).stage() as stage:
        launch = stage.launch(["true"], env={"PATH": "/usr/bin", "LANG": "C"}, cwd=workspace)
    assert launch.env == {"PATH": "/usr/bin", "LANG": "C", "HOME": str(SANDBOX_HOME), "TMPDIR": "/tmp"}
    assert launch.argv[0] == "/usr/bin/bwrap"
    for flag in ("--unshare-all", "--share-net", "--die-with-parent", "--new-session", "--proc"):
        assert flag in launch.argv
    assert launch.argv[launch.argv.index("--cap-drop") + 1] == "ALL"
    assert launch.argv[-2:] == ("--", "true")


def test_the_stages_home_and_tmp_are_its_own() -> None:
    env = stage_env(
        {"HOME": "/root", "TMPDIR": "/var/tmp/x", "XDG_CONFIG_HOME": "/root/.config", "LANG": "C"}
    )
    assert env == {"HOME": str(SANDBOX_HOME), "TMPDIR": "/tmp", "LANG": "C"}


def test_stage_files_are_descriptors_and_nothing_on_disk(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    with sandbox(tmp_path, {"PATH": "/usr/bin"}).stage() as stage:
        path = stage.file("aqm-input.txt", "the task")
        launch = stage.launch(["true"], env={"PATH": "/usr/bin"}, cwd=workspace)
        [fd] = launch.pass_fds
        assert launch.argv[launch.argv.index("--ro-bind-data") + 1 :][:2] == (str(fd), str(path))
        assert Path(f"/proc/self/fd/{fd}").read_text() == "the task"
        assert not path.exists()  # only inside the sandbox


def test_a_data_folder_inside_the_workspace_is_covered(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / ".aqm").mkdir(parents=True)
    with Sandbox("/usr/bin/bwrap", hidden=(project / ".aqm",), environ={}).stage() as stage:
        argv = stage.launch(["true"], env={"PATH": "/usr/bin"}, cwd=project).argv
    assert argv[argv.index("--tmpfs", argv.index(str(project))) + 1] == str(project / ".aqm")


def test_a_missing_program_is_file_not_found_before_bwrap_starts(tmp_path: Path) -> None:
    with sandbox(tmp_path, {}).stage() as stage, pytest.raises(FileNotFoundError):
        stage.launch(["no-such-program-here"], env={"PATH": str(tmp_path)}, cwd=tmp_path)


def test_without_bwrap_the_sandbox_is_a_config_error_naming_the_opt_out(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        Sandbox.build(hidden=[tmp_path], environ={"PATH": str(tmp_path)})
    assert raised.value.variable == "AQM_UNSAFE_UNSANDBOXED_STAGES"
    assert "bubblewrap" in str(raised.value) and "AQM_UNSAFE_UNSANDBOXED_STAGES=1" in str(raised.value)


def test_the_opt_out_runs_stages_unsandboxed(tmp_path: Path) -> None:
    assert stage_launcher(sandbox=False, data_dir=tmp_path) is UNSANDBOXED


def test_local_logins_are_bound_into_the_stages_home(tmp_path: Path) -> None:
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".codex").mkdir()
    binds = binds_for((("HOME", str(tmp_path)),), (), logins=True)
    assert binds.home == ((tmp_path / ".claude", ".claude"), (tmp_path / ".codex", ".codex"))
    assert binds_for((("HOME", str(tmp_path)),), (), logins=False).home == ()


NPM_LINKS = {
    "a scoped package's script in a subfolder": (
        "lib/node_modules/@google/gemini-cli/dist/index.js",
        "lib/node_modules",  # with its dependencies beside it (codex's native binary is one)
    ),
    "an unscoped package's script": ("lib/node_modules/some-cli/cli.js", "lib/node_modules"),
    "a package inside another's node_modules": (
        "lib/node_modules/a-cli/node_modules/@x/b/b.js",
        "lib/node_modules/a-cli/node_modules",
    ),
    "a file outside any package": ("opt/tool/bin/tool", "opt/tool/bin"),
}


@pytest.mark.parametrize(("target", "bound_folder"), list(NPM_LINKS.values()), ids=list(NPM_LINKS))
def test_a_link_on_path_binds_what_it_leads_to(tmp_path: Path, target: str, bound_folder: str) -> None:
    (tmp_path / target).parent.mkdir(parents=True)
    (tmp_path / target).touch(mode=0o755)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "tool").symlink_to(tmp_path / target)
    binds = binds_for((("PATH", str(tmp_path / "bin")),), (), logins=False)
    assert tmp_path / bound_folder in binds.read_only
