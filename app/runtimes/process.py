"""Run one CLI as a child process: the hard parts of every runtime, done once.

    async with run_process(argv, stdin=prompt, cwd=workdir, env=env, timeout_s=600) as child:
        async for line in child:  # stdout, line by line, each line with its "\\n"
            ...
    child.exit_code, child.stderr_tail

- The child starts in its own session, so it leads a process group: a timeout or a cancellation
  kills the whole group (the CLI, the shells and MCP servers it started), and whatever the CLI
  leaves behind when it exits is killed too, so no process outlives its stage.
- stdin is written concurrently with reading stdout, then closed; with no input it is /dev/null
  (codex reads a non-TTY stdin to EOF and would block on an open pipe).
- stderr is drained concurrently into a bounded tail: a child writing megabytes to stderr never
  fills the pipe and deadlocks.
- A hard wall-clock deadline: SIGTERM to the group, SIGKILL after a short grace, then `TimedOut`.
  Cancelling the consuming task kills the group at once and lets `CancelledError` through.
- stdout is capped (`MAX_OUTPUT_BYTES`); past the cap the group is killed and the run fails.
- `give_up`: a stderr pattern saying the CLI is waiting to retry what the stage must not wait for
  (gemini's router retrying a 429): the group is killed at once, and the run ends as if the CLI had
  exited (killed), with that stderr for the adapter's parser to explain.
- The environment is built by `allowed_env`: an allowlist, never the app's own `AQM_*` secrets.
- Where the process starts is a `Launcher`'s choice: `UNSANDBOXED` runs the argv as it is (local
  `aqm run`), `app.runtimes.sandbox.Sandbox` inside bubblewrap (the App; `aqm run --sandbox`).
  Files a CLI is given by path (its MCP config, output schema, input) are asked of the run's
  `Stage`, which puts them where that process, and only it, can read them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Protocol, TypeVar

from app.errors import CliNotFound, RuntimeFailed, TimedOut
from app.runtimes.base import Finished, RunRequest, RuntimeEvent

T = TypeVar("T")

MIB = 1024 * 1024
MAX_OUTPUT_BYTES = 32 * MIB  # stdout cap per run
STDERR_TAIL_BYTES = 16 * 1024  # what is kept of stderr (its end)
KILL_GRACE_S = 2.0  # between SIGTERM and SIGKILL on timeout
READ_CHUNK_BYTES = 64 * 1024
REAP_POLL_S = 0.05  # how often the exit status is looked at while a grandchild holds the pipes
CLEANUP_WAIT_S = 5.0  # how long cleanup waits for a SIGKILLed group's pipes to close

PRIVATE_PREFIX = "AQM_"  # the app's settings (GitHub private key, webhook secret): never inherited
TEST_HOOK_PREFIX = "FAKE_CLI_"  # the fake CLIs' script and log paths (tests/fakes): no secret in them
BASE_ENV_VARS = frozenset(
    {
        *("PATH", "HOME", "USER", "LOGNAME", "SHELL", "TMPDIR", "TZ", "TERM", "LANG", "LANGUAGE"),
        *("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"),
        # the network the CLIs need to reach their APIs, as the machine is configured
        *("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"),
        *("SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS"),
    }
)


def allowed_env(
    extra: Mapping[str, str],
    *,
    credentials: Collection[str] = (),
    source: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The child's environment: the allowlisted part of `source` (default: ours), then `extra`.

    Allowed: BASE_ENV_VARS, LC_*, the runtime's own `credentials` and the FAKE_CLI_* test hook.
    Never anything named AQM_*, from `source` or from `extra`.
    """
    source = os.environ if source is None else source
    env = {name: value for name, value in source.items() if _is_allowed(name, credentials)}
    env.update({name: value for name, value in extra.items() if not name.startswith(PRIVATE_PREFIX)})
    return env


def _is_allowed(name: str, credentials: Collection[str]) -> bool:
    if name.startswith(PRIVATE_PREFIX):
        return False
    return (
        name in BASE_ENV_VARS
        or name in credentials
        or name.startswith("LC_")
        or name.startswith(TEST_HOOK_PREFIX)
    )


@dataclass(frozen=True, slots=True)
class Launch:
    """How to start one stage process: the argv and environment to exec, the descriptors it inherits."""

    argv: tuple[str, ...]
    env: dict[str, str]
    pass_fds: tuple[int, ...] = ()


class Stage(Protocol):
    """One run of one stage process: the files it is given by path, and how it is started."""

    def file(self, name: str, text: str) -> Path:
        """Make `text` readable by the stage at the returned path (`name` may hold folders)."""
        ...

    def link(self, name: str, source: Path) -> Path:
        """Make the existing file `source` visible to the stage at the returned path."""
        ...

    def launch(self, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> Launch:
        """What to exec for `argv`, which the stage sees running in `cwd` with `env`.

        FileNotFoundError when the stage could not find `argv[0]`, as exec would raise it."""
        ...


class Launcher(Protocol):
    """Where stage processes start: `UNSANDBOXED`, or `app.runtimes.sandbox.Sandbox`."""

    def stage(self) -> contextlib.AbstractContextManager[Stage]:
        """A run's stage: its files exist until the context exits."""
        ...


@dataclass(slots=True)
class UnsandboxedStage:
    """The process runs as it is; its files sit in a private temporary folder, deleted afterwards.

    (A SIGKILLed worker leaves that folder behind: the sandbox passes files as descriptors instead.)
    """

    folder: Path | None = None
    created: list[Path] = field(default_factory=list)

    def _path(self, name: str) -> Path:
        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="aqm-stage-"))  # mode 0700: ours alone
        path = self.folder / name
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return path

    def file(self, name: str, text: str) -> Path:
        path = self._path(name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        return path

    def link(self, name: str, source: Path) -> Path:
        path = self._path(name)
        path.symlink_to(source)
        return path

    def launch(self, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> Launch:
        return Launch(tuple(argv), dict(env))

    def close(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


class Unsandboxed:
    """Stage processes run as the orchestrator's user, seeing what it sees (local `aqm run`)."""

    @contextlib.contextmanager
    def stage(self) -> Iterator[Stage]:
        stage = UnsandboxedStage()
        try:
            yield stage
        finally:
            stage.close()


UNSANDBOXED: Launcher = Unsandboxed()


class ProcessRuntime:
    """The base of the adapters that start a process per stage: which launcher starts it."""

    def __init__(self, launcher: Launcher = UNSANDBOXED) -> None:
        self.launcher = launcher


class OutputParser(Protocol):
    """An adapter's pure parser: fed stdout line by line, then asked for the final answer."""

    def feed(self, line: str) -> list[RuntimeEvent]: ...

    def finish(self, *, exit_code: int, stderr_tail: str) -> Finished:
        """The answer, or raise the RuntimeFailed that the output and exit status describe."""
        ...


async def run_cli(
    argv: Sequence[str],
    parser: OutputParser,
    *,
    stdin: str,
    request: RunRequest,
    env: Mapping[str, str],
    install_hint: str,
    stage: Stage | None = None,
    give_up: re.Pattern[str] | None = None,
) -> AsyncGenerator[RuntimeEvent, None]:
    """Run an LLM CLI for one request: stream the parser's events, then its `Finished`."""
    async with run_process(
        argv,
        stdin=stdin,
        cwd=request.workdir,
        env=env,
        timeout_s=request.timeout_s,
        install_hint=install_hint,
        stage=stage,
        give_up=give_up,
    ) as child:
        async for line in child:
            for event in parser.feed(line):
                yield event
    yield parser.finish(exit_code=child.exit_code, stderr_tail=child.stderr_tail)


def run_process(
    argv: Sequence[str],
    *,
    stdin: bytes | str | None,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    install_hint: str = "",
    kill_grace_s: float = KILL_GRACE_S,
    max_output_bytes: int = MAX_OUTPUT_BYTES,
    stderr_tail_bytes: int = STDERR_TAIL_BYTES,
    stage: Stage | None = None,
    give_up: re.Pattern[str] | None = None,
) -> ChildProcess:
    """Prepare a child process; it starts when entered with `async with` (through `stage`'s launch,
    default: as it is)."""
    return ChildProcess(
        argv,
        stage=stage or UnsandboxedStage(),
        stdin=stdin.encode("utf-8") if isinstance(stdin, str) else stdin,
        cwd=cwd,
        env=env,
        timeout_s=timeout_s,
        install_hint=install_hint,
        kill_grace_s=kill_grace_s,
        max_output_bytes=max_output_bytes,
        stderr_tail_bytes=stderr_tail_bytes,
        give_up=give_up,
    )


class ChildProcess:
    """One run of one executable in its own process group. See the module docstring."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        stage: Stage,
        stdin: bytes | None,
        cwd: Path,
        env: Mapping[str, str],
        timeout_s: float,
        install_hint: str,
        kill_grace_s: float,
        max_output_bytes: int,
        stderr_tail_bytes: int,
        give_up: re.Pattern[str] | None = None,
    ) -> None:
        if not argv:
            raise RuntimeFailed("nothing to run: the command is empty")
        self.argv = tuple(argv)
        self.name = Path(argv[0]).name
        self._stage = stage
        self._stdin, self._cwd, self._env = stdin, cwd, dict(env)
        self.timeout_s, self._install_hint, self._kill_grace_s = timeout_s, install_hint, kill_grace_s
        self._max_output_bytes, self._stderr_tail_bytes = max_output_bytes, stderr_tail_bytes
        self._give_up = give_up
        self.stdout_bytes = 0
        self.stderr_bytes = 0  # all of it; `stderr_tail` keeps only the end
        self._stderr = bytearray()
        self._proc: asyncio.subprocess.Process | None = None
        self._helpers: list[asyncio.Task[None]] = []
        self._reaper: asyncio.Task[int] | None = None
        self._deadline = 0.0

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def exit_code(self) -> int:
        """The exit status (negative: killed by that signal). Only known once stdout is exhausted."""
        if self._reaper is None or not self._reaper.done():
            raise RuntimeError(f"{self.name} has not finished")
        return self._reaper.result()

    @property
    def stderr_tail(self) -> str:
        return self._stderr.decode("utf-8", errors="replace")

    async def __aenter__(self) -> ChildProcess:
        await self._start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._cleanup()

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines()

    async def _start(self) -> None:
        if not self._cwd.is_dir():
            raise RuntimeFailed(f"cannot run {self.name}: working directory {self._cwd} does not exist")
        try:
            launch = self._stage.launch(self.argv, env=self._env, cwd=self._cwd)  # FileNotFoundError too
            self._proc = await asyncio.create_subprocess_exec(
                *launch.argv,
                stdin=asyncio.subprocess.DEVNULL if self._stdin is None else asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=self._cwd,
                env=launch.env,
                pass_fds=launch.pass_fds,
                start_new_session=True,  # its own process group, killed as one
            )
        except FileNotFoundError as exc:
            raise CliNotFound(self._not_found_message()) from exc
        except PermissionError as exc:
            raise CliNotFound(f"{self.argv[0]!r} is not executable ({exc.strerror})") from exc
        except OSError as exc:
            raise RuntimeFailed(f"cannot start {self.name}: {exc}") from exc
        self._deadline = asyncio.get_running_loop().time() + self.timeout_s
        self._reaper = asyncio.create_task(self._reap())
        self._helpers.append(asyncio.create_task(self._drain_stderr()))
        if self._stdin is not None:
            self._helpers.append(asyncio.create_task(self._write_stdin(self._stdin)))

    def _not_found_message(self) -> str:
        message = f"The {self.argv[0]!r} executable was not found on PATH."
        return f"{message} Install it with: {self._install_hint}" if self._install_hint else message

    async def _lines(self) -> AsyncIterator[str]:
        """stdout split into lines (each ending in "\\n" but maybe the last), then the exit status."""
        assert self._proc is not None and self._proc.stdout is not None and self._reaper is not None
        pending = bytearray()
        while chunk := await self._before_deadline(self._proc.stdout.read(READ_CHUNK_BYTES)):
            self._count_output(len(chunk))
            pending += chunk
            if b"\n" in chunk:
                *lines, rest = pending.split(b"\n")
                pending = bytearray(rest)
                for line in lines:
                    yield line.decode("utf-8", errors="replace") + "\n"
        if pending:
            yield pending.decode("utf-8", errors="replace")
        await self._before_deadline(asyncio.shield(self._reaper))
        await self._before_deadline(asyncio.shield(asyncio.gather(*self._helpers)))

    def _count_output(self, size: int) -> None:
        self.stdout_bytes += size
        if self.stdout_bytes > self._max_output_bytes:
            self._signal_group(signal.SIGKILL)
            limit = f"{self._max_output_bytes / MIB:g} MiB"
            raise RuntimeFailed(f"{self.name} wrote more than {limit} to stdout and was killed")

    async def _before_deadline(self, awaitable: Awaitable[T]) -> T:
        """Await within the run's deadline; past it, stop the group and raise TimedOut."""
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # arrives as the awaited read completes, and a cancelled stage would run on
            async with asyncio.timeout_at(self._deadline):
                return await awaitable
        except TimeoutError:
            await self._terminate()
            raise TimedOut(f"{self.name} timed out after {self.timeout_s:g} s and was killed") from None

    async def _terminate(self) -> None:
        """SIGTERM to the group, SIGKILL after the grace period (the reaper kills what is left)."""
        assert self._reaper is not None
        self._signal_group(signal.SIGTERM)
        await asyncio.wait({self._reaper}, timeout=self._kill_grace_s)
        if not self._reaper.done():
            self._signal_group(signal.SIGKILL)

    async def _reap(self) -> int:
        """Wait for the CLI to exit, then kill whatever it left running in its group.

        On Python 3.11, `Process.wait()` returns only once every pipe is closed, so a grandchild
        holding stdout open would keep it waiting: `returncode` (set at exit) is polled as well.
        """
        assert self._proc is not None
        waiter = asyncio.ensure_future(self._proc.wait())
        while not waiter.done() and self._proc.returncode is None:
            await asyncio.wait({waiter}, timeout=REAP_POLL_S)
        waiter.cancel()
        self._signal_group(signal.SIGKILL)
        assert self._proc.returncode is not None
        return self._proc.returncode

    def _signal_group(self, signum: signal.Signals) -> None:
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signum)  # the pid is the group id (start_new_session)

    async def _write_stdin(self, data: bytes) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        stdin = self._proc.stdin
        try:
            stdin.write(data)
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the child exited without reading all of its input: its exit status tells why
        finally:
            stdin.close()

    async def _drain_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        while chunk := await self._proc.stderr.read(READ_CHUNK_BYTES):
            self.stderr_bytes += len(chunk)
            self._stderr += chunk
            if len(self._stderr) > self._stderr_tail_bytes:
                del self._stderr[: len(self._stderr) - self._stderr_tail_bytes]
            if self._give_up is not None and self._give_up.search(self.stderr_tail):
                self._signal_group(signal.SIGKILL)  # stdout ends, the reaper sees the kill

    async def _cleanup(self) -> None:
        """On every exit: kill a group still running (cancelled, failed, abandoned), then settle."""
        if self._proc is None or self._reaper is None:
            return
        if not self._reaper.done():
            self._signal_group(signal.SIGKILL)
        try:
            async with asyncio.timeout(CLEANUP_WAIT_S):
                await self._settle()
        except TimeoutError:
            for helper in self._helpers:
                helper.cancel()

    async def _settle(self) -> None:
        """Reap the child and read its pipes to EOF, so that asyncio closes them."""
        assert self._proc is not None and self._proc.stdout is not None and self._reaper is not None
        await asyncio.shield(self._reaper)
        while await self._proc.stdout.read(READ_CHUNK_BYTES):
            pass
        await asyncio.gather(*self._helpers, return_exceptions=True)
