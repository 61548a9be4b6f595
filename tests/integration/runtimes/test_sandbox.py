"""Stages in bubblewrap, for real: what a hostile stage can read, write and leave behind, and that
its process tree dies on timeout, on cancel and with its worker. Every test starts real processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from app.errors import CliNotFound, TimedOut
from app.runtimes.base import Finished, RunRequest, TextDelta
from app.runtimes.registry import get_runtime
from app.runtimes.sandbox import Sandbox
from app.spec.models import McpServer
from tests.conftest import FakeClis, needs_bwrap
from tests.integration.runtimes.procs import collect, finish, pids_running, survivors

pytestmark = needs_bwrap
ROOT = Path(__file__).resolve().parents[3]
SECRET_FILES = {  # path under tmp_path -> its content, each a distinct secret a stage must not read
    "data/aqm.db": "secret-of-the-database",
    "data/workspaces/T-OTHER/notes.txt": "secret-of-another-task",
    "home/.netrc": "secret-of-the-home-folder",
}
HOSTILE = textwrap.dedent(
    """\
    for f in "$@" ../T-OTHER/notes.txt /proc/1/environ /proc/$PPID/environ /proc/*/environ /etc/shadow; do
      if cat "$f" >/dev/null 2>&1; then echo "FOUND $f: $(tr '\\0' ' ' < "$f")"; fi
    done
    ls /root "$HOME" .. 2>&1
    set -- /proc/[0-9]*; echo "processes: $#"
    echo written > mine.txt
    """
)


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data folder with a database, another task's workspace and HOME holding secrets."""
    for name, secret in SECRET_FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(secret)
    (tmp_path / "data" / "workspaces" / "T-MINE").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "data"


def command(workdir: Path, argv: list[str], *, prompt: str = "", timeout_s: float = 30) -> RunRequest:
    return RunRequest(prompt=prompt, workdir=workdir, timeout_s=timeout_s, argv=tuple(argv))


async def test_a_hostile_stage_reads_nothing_outside_its_workspace(data: Path, tmp_path: Path) -> None:
    workspace = data / "workspaces" / "T-MINE"
    targets = [str(tmp_path / name) for name in SECRET_FILES]
    runtime = get_runtime("command", launcher=Sandbox.build(hidden=[data]))
    finished = await finish(runtime, command(workspace, ["sh", "-c", HOSTILE, "hostile", *targets]))
    found = [line for line in finished.output.splitlines() if line.startswith("FOUND")]
    assert found and all(line.startswith("FOUND /proc/") for line in found), found  # its own processes'
    assert not any(secret in finished.output for secret in SECRET_FILES.values()), finished.output
    assert "T-OTHER" not in finished.output and "processes: 2" in finished.output  # bwrap's init and sh
    assert (workspace / "mine.txt").read_text() == "written\n"  # the workspace is its own to write


async def test_a_stage_sees_only_its_allowlisted_environment(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AQM_GITHUB_WEBHOOK_SECRET", "whsec-planted")
    monkeypatch.setenv("PGPASSWORD", "pg-planted")
    runtime = get_runtime("command", launcher=Sandbox.build(hidden=[data]))
    script = "tr '\\0' '\\n' < /proc/1/environ; echo; env"
    finished = await finish(runtime, command(data / "workspaces" / "T-MINE", ["sh", "-c", script]))
    assert "planted" not in finished.output and "AQM_GITHUB" not in finished.output
    assert "HOME=/home/aqm" in finished.output and "AQM_INPUT_FILE=/run/aqm/aqm-input.txt" in finished.output


async def test_the_input_file_is_readable_inside_and_never_on_disk(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host_tmp = tmp_path / "host-tmp"
    host_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(host_tmp))
    workspace = data / "workspaces" / "T-MINE"
    runtime = get_runtime("command", launcher=Sandbox.build(hidden=[data]))
    script = 'cat "$AQM_INPUT_FILE"; echo; while [ ! -f go ]; do sleep 0.02; done'
    seen_during: list[str] = []
    async for event in runtime.run(command(workspace, ["sh", "-c", script], prompt="the stage input")):
        if isinstance(event, TextDelta) and not seen_during:
            seen_during = [entry.name for entry in host_tmp.iterdir()]
            (workspace / "go").touch()
        if isinstance(event, Finished):
            assert event.output.startswith("the stage input")
    assert seen_during == [] and list(host_tmp.iterdir()) == []


async def test_a_timeout_kills_the_whole_sandbox(data: Path) -> None:
    runtime = get_runtime("command", launcher=Sandbox.build(hidden=[data]))
    # the stage's children, found by their argv from outside the sandbox
    request = command(data / "workspaces" / "T-MINE", ["sh", "-c", "sleep 86397 & sleep 86396"], timeout_s=2)
    with pytest.raises(TimedOut):
        await collect(runtime, request)
    assert survivors(pids_running("sleep", "86397") + pids_running("sleep", "86396")) == []


async def test_cancelling_kills_the_whole_sandbox(data: Path) -> None:
    runtime = get_runtime("command", launcher=Sandbox.build(hidden=[data]))
    request = command(data / "workspaces" / "T-MINE", ["sh", "-c", "sleep 86395 & sleep 86394"])
    task = asyncio.create_task(collect(runtime, request))
    seen: list[int] = []
    for _ in range(500):
        if len(seen := pids_running("sleep", "86395") + pids_running("sleep", "86394")) == 2:
            break
        await asyncio.sleep(0.02)
    assert len(seen) == 2, "the stage never started"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert survivors(seen) == []


WORKER = """\
import asyncio, sys
from pathlib import Path
from app.runtimes.base import RunRequest
from app.runtimes.registry import get_runtime
from app.runtimes.sandbox import Sandbox

async def main() -> None:
    data = Path(sys.argv[1])
    runtime = get_runtime("command", launcher=Sandbox.build(hidden=[data]))
    argv = ("sh", "-c", "sleep 86393 & sleep 86392")
    request = RunRequest(prompt="", workdir=data / "workspaces" / "T-MINE", timeout_s=600, argv=argv)
    async for _ in runtime.run(request):
        pass

asyncio.run(main())
"""


def test_a_sandboxed_stage_dies_with_its_worker(data: Path) -> None:
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(data)], cwd=ROOT)
    try:
        seen: list[int] = []
        for _ in range(1000):
            seen = pids_running("sleep", "86393") + pids_running("sleep", "86392")
            if len(seen) == 2 or worker.poll() is not None:
                break
            time.sleep(0.02)
        assert len(seen) == 2, "the stage never started"
        os.kill(worker.pid, signal.SIGKILL)  # the worker alone: not its group
        worker.wait(timeout=10)
        assert survivors(seen) == []
    finally:
        if worker.poll() is None:
            worker.kill()


async def test_a_missing_program_fails_the_stage_as_cli_not_found(data: Path) -> None:
    runtime = get_runtime("command", launcher=Sandbox.build(hidden=[data]))
    with pytest.raises(CliNotFound):
        await collect(runtime, command(data / "workspaces" / "T-MINE", ["no-such-program-anywhere"]))


async def test_a_data_folder_inside_the_workspace_is_empty_to_the_stage(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / ".aqm").mkdir(parents=True)
    (project / ".aqm" / "aqm.db").write_text("secret-of-the-local-database")
    (project / "README.md").write_text("# project\n")
    runtime = get_runtime("command", launcher=Sandbox.build(hidden=[project / ".aqm"]))
    finished = await finish(runtime, command(project, ["sh", "-c", "ls -A . .aqm; cat .aqm/aqm.db"]))
    assert "README.md" in finished.output and "secret" not in finished.output


# ---- the fake LLM CLIs, sandboxed ---------------------------------------------------------------


async def test_an_llm_stage_gets_its_own_key_and_not_the_others(data: Path, fake_clis: FakeClis) -> None:
    fake_clis.script(default={"mode": "snoop"})
    runtime = get_runtime("claude", launcher=Sandbox.build(hidden=[data]))
    request = RunRequest(prompt="hi", workdir=data / "workspaces" / "T-MINE", timeout_s=30)
    finished = await finish(runtime, request)
    assert "own ANTHROPIC_API_KEY=sk-ant-fake" in finished.output
    assert "fake-gemini-key" not in finished.output and "CODEX_API_KEY" not in finished.output
    foreign = [line for line in finished.output.splitlines() if line.startswith("/proc/")]
    assert all("GEMINI" not in line and "FAKE_CLI_MODE" not in line for line in foreign)


@pytest.mark.parametrize("cli", ["claude", "gemini", "codex"])
async def test_the_clis_get_their_mcp_config_and_schema_files_inside(
    data: Path, fake_clis: FakeClis, cli: str
) -> None:
    fake_clis.script(default={"text": '{"decision": "approved", "reason": "ok"}'})
    runtime = get_runtime(cli, launcher=Sandbox.build(hidden=[data]))
    schema = {"type": "object", "properties": {"decision": {"type": "string"}, "reason": {"type": "string"}}}
    request = RunRequest(
        prompt="hi",
        workdir=data / "workspaces" / "T-MINE",
        timeout_s=30,
        mcp=(McpServer(server="github"),),
        schema=schema,
    )
    finished = await finish(runtime, request)
    assert finished.structured == {"decision": "approved", "reason": "ok"}
    [call] = fake_clis.calls(cli)
    assert "github" in json.dumps(call["mcp"])


async def test_a_stage_cannot_make_a_user_namespace_of_its_own(data: Path) -> None:
    runtime = get_runtime("command", launcher=Sandbox.build(hidden=[data]))
    script = "unshare --user true 2>/dev/null && echo made one || echo refused"
    finished = await finish(runtime, command(data / "workspaces" / "T-MINE", ["sh", "-c", script]))
    assert finished.output == "refused\n"
