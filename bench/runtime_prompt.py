"""Large prompts through the runtime adapters: a 1 MB prompt to each, received byte for byte?

Each adapter runs against the fake CLIs of tests/fakes (nothing leaves the machine), which log
how many bytes they read and their sha256; the `command` runtime runs a small Python that reports
the same. Then, measured in the same run, what aqm 1.3.2 does instead: it passes the prompt as one
argv string (`claude --print -p <prompt>`), which Linux caps at 128 KiB (131,072 bytes with NUL).

    .venv/bin/python bench/runtime_prompt.py [--size BYTES]

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

from app.errors import RuntimeFailed
from app.runtimes.base import Finished, RunRequest
from app.runtimes.registry import get_runtime

REPO = Path(__file__).resolve().parent.parent
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


def print_aqm_reference() -> None:
    print()
    print("aqm 1.3.2 passes the prompt as one argv string (`claude --print -p <prompt>`); measured now:")
    for size in (ARGV_LIMIT_BYTES - 1, ARGV_LIMIT_BYTES, DEFAULT_SIZE):
        print(f"  {size:>9,} bytes: {aqm_style_argv(size)}")
    print(
        f"aqm 1.3.2 fails at 128 KiB ({ARGV_LIMIT_BYTES:,} bytes: Linux's argv string limit); "
        "these adapters send the prompt on stdin and have no such limit."
    )


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
        if all(row.ok for row in rows):
            ratio = size / (ARGV_LIMIT_BYTES - 1)
            aqm_max = f"aqm 1.3.2 {ARGV_LIMIT_BYTES - 1:,}"
            print(f"largest prompt delivered: ours >= {size:,} bytes, {aqm_max}: ratio >= {ratio:.1f}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="prompt size in bytes (default 1 MB)")
    sys.exit(asyncio.run(main(parser.parse_args().size)))
