"""runtime: command on real processes: verdicts by exit code, AQM_INPUT_FILE, output, no shell."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from app.errors import CliNotFound, TimedOut
from app.runtimes.base import RunRequest, TextDelta
from app.runtimes.command import CommandRuntime
from tests.integration.runtimes.procs import collect, finish

PY = sys.executable


def command(
    workdir: Path, *argv: str, prompt: str = "stage input\n", timeout_s: float = 10, **fields: Any
) -> RunRequest:
    return RunRequest(prompt=prompt, workdir=workdir, timeout_s=timeout_s, argv=argv, **fields)


async def test_exit_0_passes_with_stdout_as_output(tmp_path: Path) -> None:
    finished = await finish(
        CommandRuntime(), command(tmp_path, PY, "-c", "import sys; print(sys.stdin.read().upper(), end='')")
    )
    assert finished.output == "STAGE INPUT\n" and finished.exit_code == 0


async def test_a_non_zero_exit_is_a_verdict_not_an_error(tmp_path: Path) -> None:
    finished = await finish(
        CommandRuntime(), command(tmp_path, PY, "-c", "print('2 tests failed'); raise SystemExit(1)")
    )
    assert finished.exit_code == 1 and finished.output == "2 tests failed\n"


async def test_the_input_file_holds_the_prompt_and_is_removed_afterwards(tmp_path: Path) -> None:
    code = "import os; path = os.environ['AQM_INPUT_FILE']; print(path); print(open(path).read(), end='')"
    finished = await finish(CommandRuntime(), command(tmp_path, PY, "-c", code, prompt="line 1\nline 2\n"))
    path, content = finished.output.split("\n", 1)
    assert content == "line 1\nline 2\n"
    assert not Path(path).exists()


async def test_output_is_stdout_then_stderr_under_a_label(tmp_path: Path) -> None:
    code = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(2)"
    finished = await finish(CommandRuntime(), command(tmp_path, PY, "-c", code))
    assert finished.output == "out\n--- stderr ---\nerr\n" and finished.exit_code == 2


async def test_stdout_lines_stream_as_they_come(tmp_path: Path) -> None:
    events = await collect(CommandRuntime(), command(tmp_path, PY, "-c", "print('a'); print('b')"))
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["a\n", "b\n"]


async def test_no_shell_runs_the_words_stay_literal(tmp_path: Path) -> None:
    finished = await finish(
        CommandRuntime(), command(tmp_path, "echo", "$(touch pwned)", "`touch pwned2`", ";", "ls")
    )
    assert finished.output == "$(touch pwned) `touch pwned2` ; ls\n"
    assert list(tmp_path.iterdir()) == []


async def test_runs_in_the_workdir_without_the_apps_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AQM_GITHUB_PRIVATE_KEY", "secret")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant")
    code = "import os; print(os.getcwd()); print(sorted(k for k in os.environ if k.startswith(('AQM_', 'ANTHROPIC'))))"
    finished = await finish(CommandRuntime(), command(tmp_path, PY, "-c", code, env={"MY_VAR": "1"}))
    assert finished.output == f"{tmp_path}\n['AQM_INPUT_FILE']\n"


async def test_a_missing_executable_is_cli_not_found(tmp_path: Path) -> None:
    with pytest.raises(CliNotFound, match="no-such-tool"):
        await collect(CommandRuntime(), command(tmp_path, "no-such-tool"))


async def test_a_command_past_its_timeout_is_killed(tmp_path: Path) -> None:
    with pytest.raises(TimedOut):
        await collect(CommandRuntime(), command(tmp_path, "sleep", "30", timeout_s=0.3))
