"""Large prompts through the runtime adapters: a 1 MB prompt to each, received byte for byte?

Each adapter runs against the fake CLIs of tests/fakes (nothing leaves the machine), which log
how many bytes they read and their sha256; the `command` runtime runs a small Python that reports
the same. Then both tools end to end, aqm 1.3.2 itself and ours, each `aqm run` on the same
growing prompt: a 2-agent claude pipeline (the fake behind bench/_fakerun.py's wrapper) whose
first agent answers N bytes, which the second agent's prompt carries; N doubles from 16 KiB to
--size, then the sizes between aqm's last success and its first failure are bisected to the byte.
Each row says whether the run completed with both calls made, and how many prompt bytes the
second call received (its `-p` argv string for aqm, stdin for ours, from the fake's call log).
aqm 1.3.2 passes the prompt as one argv string (`claude --print -p <prompt>`), which Linux caps at
128 KiB (131,072 bytes with its NUL): the bisection finds where aqm itself stops.

    .venv/bin/python bench/runtime_prompt.py [--size BYTES] [--quick]

A report, not a test: exit status 0 whether every row is ok or not, 1 only if the bench itself
breaks.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from _fakerun import TASK, Bench, write_project  # noqa: E402
from validate import OURS, RunFailed, Tool, load_now, load_range, reference_tool, table  # noqa: E402

from app.errors import RuntimeFailed  # noqa: E402
from app.runtimes.base import Finished, RunRequest  # noqa: E402
from app.runtimes.registry import get_runtime  # noqa: E402

FAKES = REPO / "tests" / "fakes"
DEFAULT_SIZE = 1_000_000
ARGV_LIMIT_BYTES = 131_072  # MAX_ARG_STRLEN: one argv string, its NUL included
TIMEOUT_S = 60
REPORT_BYTES = (
    "import hashlib, sys; d = sys.stdin.buffer.read(); print(len(d), hashlib.sha256(d).hexdigest())"
)


@dataclass(frozen=True, slots=True)
class Row:
    adapter: str
    bytes_in: int
    bytes_received: int | None
    intact: bool
    ok: bool
    seconds: float
    note: str = ""


def make_prompt(size: int) -> str:
    """`size` bytes of UTF-8 text with multi-byte characters and newlines, like a long issue thread."""
    line = "Issue comment {:07d}: ünïcödé ✓ — please keep the rate limiter configurable.\n"
    text = "".join(line.format(n) for n in range(size // len(line.format(0).encode()) + 1))
    return text.encode()[:size].decode("utf-8", errors="ignore")


def prepare_environment(work: Path) -> Path:
    """The fakes first on PATH with a direct python3, dummy keys, an empty HOME; returns the log path."""
    python_dir = work / "python"
    python_dir.mkdir()
    (python_dir / "python3").symlink_to(sys.executable)
    (work / "home").mkdir()
    log = work / "calls.jsonl"
    os.environ.update(
        PATH=os.pathsep.join([str(FAKES), str(python_dir), os.environ.get("PATH", "")]),
        HOME=str(work / "home"),
        ANTHROPIC_API_KEY="sk-ant-bench",
        GEMINI_API_KEY="bench",
        CODEX_API_KEY="sk-bench",
        FAKE_CLI_LOG=str(log),
    )
    os.environ.pop("FAKE_CLI_SCRIPT", None)
    os.environ.pop("FAKE_CLI_MODE", None)
    return log


async def run_adapter(name: str, prompt: str, workdir: Path, log: Path) -> Row:
    argv = (sys.executable, "-c", REPORT_BYTES) if name == "command" else ()
    request = RunRequest(prompt=prompt, workdir=workdir, timeout_s=TIMEOUT_S, argv=argv)
    started = time.perf_counter()
    try:
        events = [event async for event in get_runtime(name).run(request)]
    except RuntimeFailed as exc:
        return Row(
            name, len(prompt.encode()), None, False, False, time.perf_counter() - started, str(exc)[:60]
        )
    seconds = time.perf_counter() - started
    finished = events[-1]
    assert isinstance(finished, Finished)
    received, digest = received_by(name, finished, log)
    intact = digest == hashlib.sha256(prompt.encode()).hexdigest()
    return Row(name, len(prompt.encode()), received, intact, intact and finished.exit_code == 0, seconds)


def received_by(name: str, finished: Finished, log: Path) -> tuple[int, str]:
    """What the child read on stdin: from the fake's log line, or the command's own report."""
    if name == "command":
        size, digest = finished.output.split()
        return int(size), digest
    call = [json.loads(line) for line in log.read_text().splitlines() if json.loads(line)["cli"] == name][-1]
    return int(call["stdin_bytes"]), str(call["stdin_sha256"])


def aqm_style_argv(size: int) -> str:
    """Start `claude --print -p <prompt>` as aqm 1.3.2 does, with a `size`-byte prompt."""
    prompt = "x" * size
    try:
        subprocess.run(
            ["claude", "--print", "-p", prompt], capture_output=True, timeout=TIMEOUT_S, check=False
        )
    except OSError as exc:
        return f"fails: OSError [Errno {exc.errno}] {exc.strerror}"
    return "starts"


def print_table(rows: list[Row]) -> None:
    header = ("adapter", "bytes in", "bytes received by the CLI", "intact", "ok", "seconds")
    print(" | ".join(header))
    print(" | ".join("-" * len(h) for h in header))
    for row in rows:
        received = "-" if row.bytes_received is None else f"{row.bytes_received:,}"
        cells = (row.adapter, f"{row.bytes_in:,}", received, "yes" if row.intact else "no")
        print(" | ".join((*cells, "yes" if row.ok else f"no {row.note}".strip(), f"{row.seconds:.3f}")))


@dataclass(frozen=True, slots=True)
class EndToEnd:
    """One `aqm run` of the 2-agent pipeline whose first answer is `answer_bytes` long."""

    tool: str
    answer_bytes: int
    completed: bool
    prompt_bytes: int | None  # what the second call received, when it was made
    note: str
    load: float


class Growing:
    """Both tools on the same growing prompt: a new project per run, the fake's calls logged."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def run(self, tool: Tool, answer_bytes: int) -> EndToEnd:
        self.count += 1
        root = self.folder / f"run-{self.count}"
        bench = Bench(root / "bench", fresh=True, output_bytes=answer_bytes)
        project, log = root / "project", root / "calls.jsonl"
        write_project(project, 2, 4)
        env = {**bench.env(tool, root / "times.txt"), "FAKE_CLI_LOG": str(log)}
        result = subprocess.run(
            [str(tool.executable), "run", TASK], cwd=project, env=env, capture_output=True, check=False
        )
        calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        second = calls[1] if len(calls) > 1 else None
        completed = result.returncode == 0 and second is not None
        received = None if second is None else prompt_bytes(second)
        note = "" if completed else last_words(result)
        return EndToEnd(tool.name, answer_bytes, completed, received, note, load_now())


def prompt_bytes(call: dict[str, object]) -> int:
    """The prompt a call received: stdin's bytes, or else the `-p`/`--print` argv string's."""
    stdin = call.get("stdin_bytes")
    if isinstance(stdin, int) and stdin:
        return stdin
    argv = [str(word) for word in call.get("argv", []) or []]  # type: ignore[attr-defined]
    for flag in ("-p", "--print"):
        if flag in argv[:-1] and not argv[argv.index(flag) + 1].startswith("-"):
            return len(argv[argv.index(flag) + 1].encode())
    return 0


def last_words(result: subprocess.CompletedProcess[bytes]) -> str:
    """The run's last line of output, where its author would read why it stopped."""
    lines = [line.strip() for line in (result.stdout + result.stderr).decode(errors="replace").splitlines()]
    reasons = [line for line in lines if "Errno" in line or "too long" in line] or lines[-1:] or [""]
    return f"exit {result.returncode}: {reasons[-1][-110:]}"


def growing(ours: Tool, theirs: Tool, largest: int, folder: Path) -> list[EndToEnd]:
    """Doubling sizes for both tools, taking turns; then aqm's boundary, bisected to the byte."""
    runner, rows = Growing(folder), []
    size = 16 * 1024
    sizes = []
    while size < largest:
        sizes.append(size)
        size *= 2
    sizes.append(largest)
    for size in sizes:
        rows += [runner.run(theirs, size), runner.run(ours, size)]
    theirs_rows = [row for row in rows if row.tool == theirs.name]
    ok = [row.answer_bytes for row in theirs_rows if row.completed]
    failed = [row.answer_bytes for row in theirs_rows if not row.completed]
    if ok and failed and max(ok) < min(failed):
        low, high = max(ok), min(failed)
        while high - low > 1:
            middle = (low + high) // 2
            row = runner.run(theirs, middle)
            rows.append(row)
            low, high = (middle, high) if row.completed else (low, middle)
        rows.append(runner.run(ours, high))  # ours on aqm's first failing size too
    return sorted(rows, key=lambda row: (row.answer_bytes, row.tool))


def growing_report(rows: list[EndToEnd], ours: Tool, theirs: Tool) -> str:
    header = ["first answer (bytes)", "tool", "completed", "prompt bytes received", "note", "machine"]
    body = [
        [
            f"{row.answer_bytes:,}",
            row.tool,
            "yes" if row.completed else "no",
            "-" if row.prompt_bytes is None else f"{row.prompt_bytes:,}",
            row.note,
            load_range([row.load]),
        ]
        for row in rows
    ]

    def limits(tool: Tool) -> tuple[EndToEnd | None, EndToEnd | None]:
        mine = [row for row in rows if row.tool == tool.name]
        done = [row for row in mine if row.completed]
        not_done = [row for row in mine if not row.completed]
        largest = max(done, key=lambda row: row.answer_bytes, default=None)
        return largest, min(not_done, key=lambda row: row.answer_bytes, default=None)

    verdict = []
    for tool in (theirs, ours):
        largest, first_failure = limits(tool)
        delivered = "none" if largest is None else f"{largest.prompt_bytes or 0:,} prompt bytes"
        fails = (
            "never failed"
            if first_failure is None
            else f"fails from a {first_failure.answer_bytes:,}-byte answer ({first_failure.note})"
        )
        loads = load_range([row.load for row in rows if row.tool == tool.name])
        verdict.append([tool.name, delivered, fails, loads])
    return (
        table(header, body)
        + "\n\n"
        + table(["tool, end to end", "largest prompt delivered", "where it fails", "machine"], verdict)
    )


def print_aqm_reference() -> None:
    print()
    print("Linux's limit on one argv string, re-enacted (`claude --print -p <prompt>`, not aqm itself):")
    for size in (ARGV_LIMIT_BYTES - 1, ARGV_LIMIT_BYTES, DEFAULT_SIZE):
        print(f"  {size:>9,} bytes: {aqm_style_argv(size)}")


async def main(size: int) -> int:
    with tempfile.TemporaryDirectory(prefix="aqm-bench-prompt-") as tmp:
        work = Path(tmp)
        log = prepare_environment(work)
        workdir = work / "workspace"
        workdir.mkdir()
        prompt = make_prompt(size)
        rows = [
            await run_adapter(name, prompt, workdir, log) for name in ("claude", "gemini", "codex", "command")
        ]
        print_table(rows)
        print_aqm_reference()
        print()
        print(f"aqm 1.3.2 and ours end to end (`aqm run`), the same growing prompt ({load_range([])}):")
        try:
            ours, theirs = Tool("ours", OURS), reference_tool()
            print(growing_report(growing(ours, theirs, size, work / "growing"), ours, theirs))
        except RunFailed as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="prompt size in bytes (default 1 MB)")
    parser.add_argument(
        "--quick", action="store_true", help="a check that it works: up to 140,000 bytes (past aqm's limit)"
    )
    parsed = parser.parse_args()
    sys.exit(asyncio.run(main(140_000 if parsed.quick else parsed.size)))
