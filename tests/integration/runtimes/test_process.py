"""run_process on real children: line splitting, stdin, stderr, deadlines, kills, caps, leftovers."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from app.errors import CliNotFound, RuntimeFailed, TimedOut
from app.runtimes.process import allowed_env, run_process
from tests.integration.runtimes.procs import survivors

PY = sys.executable


async def run_python(
    code: str, tmp_path: Path, *, stdin: bytes | str | None = None, **limits: Any
) -> tuple[list[str], int, str]:
    timeout_s = limits.pop("timeout_s", 10)
    async with run_process(
        [PY, "-c", code], stdin=stdin, cwd=tmp_path, env=allowed_env({}), timeout_s=timeout_s, **limits
    ) as child:
        lines = [line async for line in child]
    return lines, child.exit_code, child.stderr_tail


async def test_lines_keep_their_newlines_and_a_last_line_without_one(tmp_path: Path) -> None:
    lines, exit_code, _ = await run_python("import sys; sys.stdout.write('a\\nb\\n\\nc')", tmp_path)
    assert lines == ["a\n", "b\n", "\n", "c"] and exit_code == 0


async def test_a_very_long_line_arrives_whole(tmp_path: Path) -> None:
    lines, _, _ = await run_python("print('x' * 3_000_000)", tmp_path)
    assert lines == ["x" * 3_000_000 + "\n"]


async def test_without_input_stdin_is_at_eof(tmp_path: Path) -> None:
    lines, _, _ = await run_python("import sys; print(repr(sys.stdin.read()))", tmp_path, stdin=None)
    assert lines == ["''\n"]


async def test_a_child_that_ignores_its_input_does_not_break_the_run(tmp_path: Path) -> None:
    lines, exit_code, _ = await run_python(
        "import sys; print('bye'); sys.exit(3)", tmp_path, stdin=b"x" * 5_000_000
    )
    assert lines == ["bye\n"] and exit_code == 3


async def test_a_give_up_line_on_stderr_ends_the_run_at_once(tmp_path: Path) -> None:
    """A CLI announcing a retry the stage must not wait for (gemini's router on a 429) is killed:
    without the pattern this run would last until its timeout and raise TimedOut."""
    code = (
        "import sys, time; print('started', flush=True)\n"
        "sys.stderr.write('noise\\nAttempt 1 failed with status 429. Retrying with backoff...\\n')\n"
        "sys.stderr.flush(); time.sleep(120)"
    )
    lines, exit_code, stderr_tail = await run_python(
        code, tmp_path, timeout_s=60, give_up=re.compile(r"Attempt \d+ failed with status 429")
    )
    assert lines == ["started\n"] and exit_code == -signal.SIGKILL
    assert "Attempt 1 failed with status 429" in stderr_tail


async def test_stderr_is_drained_and_only_its_tail_kept(tmp_path: Path) -> None:
    code = "import sys; sys.stderr.write('e' * 2_000_000 + 'END'); print('out')"
    async with run_process(
        [PY, "-c", code], stdin=None, cwd=tmp_path, env=allowed_env({}), timeout_s=10
    ) as child:
        lines = [line async for line in child]
    assert lines == ["out\n"]
    assert child.stderr_tail.endswith("END") and len(child.stderr_tail) == 16 * 1024
    assert child.stderr_bytes == 2_000_003


async def test_a_child_ignoring_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    started = time.monotonic()
    with pytest.raises(TimedOut, match=r"timed out after 0\.3 s"):
        await run_python(code, tmp_path, timeout_s=0.3, kill_grace_s=0.2)
    assert time.monotonic() - started < 3


async def test_what_the_cli_leaves_running_is_killed_when_it_exits(tmp_path: Path) -> None:
    code = "import subprocess; p = subprocess.Popen(['sleep', '60']); print(p.pid)"
    started = time.monotonic()
    lines, exit_code, _ = await run_python(code, tmp_path)
    assert exit_code == 0 and time.monotonic() - started < 5  # not held up by the sleeper's open stdout
    assert survivors([int(lines[0])]) == []


async def test_stdout_past_the_cap_kills_the_child_and_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeFailed, match="more than"):
        await run_python("import time\nwhile True: print('y' * 1000)", tmp_path, max_output_bytes=100_000)


async def test_a_missing_executable_is_cli_not_found_with_the_hint(tmp_path: Path) -> None:
    with pytest.raises(CliNotFound, match="npm install -g thing"):
        async with run_process(
            ["no-such-cli-xyz"],
            stdin=None,
            cwd=tmp_path,
            env=allowed_env({}),
            timeout_s=1,
            install_hint="npm install -g thing",
        ):
            pass


async def test_a_missing_working_directory_fails_before_starting(tmp_path: Path) -> None:
    with pytest.raises(RuntimeFailed, match="does not exist"):
        await run_python("print(1)", tmp_path / "gone")


async def test_leaving_the_block_early_kills_the_child(tmp_path: Path) -> None:
    code = "import time\nprint('first', flush=True)\ntime.sleep(60)"
    async with run_process(
        [PY, "-c", code], stdin=None, cwd=tmp_path, env=allowed_env({}), timeout_s=30
    ) as child:
        async for _line in child:
            break
        pid = child.pid
    assert pid is not None and survivors([pid]) == []


async def test_cancellation_kills_at_once_and_propagates(tmp_path: Path) -> None:
    task = asyncio.create_task(run_python("import time; time.sleep(60)", tmp_path, timeout_s=60))
    await asyncio.sleep(0.2)
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - cancelled_at < 1.0
