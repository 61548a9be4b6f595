"""What the stage sandbox costs per stage: the same stage run sandboxed (bubblewrap) and not.

Two stages, each run N times in each mode, the modes interleaved so that machine noise hits both
alike: a trivial `command` stage (`true`: the sandbox's start-up is all there is to see) and a
`claude` stage against the fake CLI of tests/fakes (a Python process, as the real CLIs are Node:
binding PATH, the venv and the stage's files has to work, not just start). Times are wall-clock
from starting the runtime to its `Finished`, as the driver sees them. Prints per stage and mode
the median, p90 and min in ms, then sandboxed − unsandboxed and sandboxed / unsandboxed of the
medians. There is no aqm figure to compare with (aqm has no sandbox) and the issue names no goal.

    .venv/bin/python bench/sandbox.py [--runs N]

A report: exit status 0 whatever the numbers, 1 only if a stage fails or bwrap is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.errors import AqmError
from app.runtimes.base import Finished, RunRequest
from app.runtimes.process import UNSANDBOXED, Launcher
from app.runtimes.registry import get_runtime
from app.runtimes.sandbox import Sandbox

REPO = Path(__file__).resolve().parent.parent
FAKES = REPO / "tests" / "fakes"
DEFAULT_RUNS = 30
WARMUP_RUNS = 2
TIMEOUT_S = 60


@dataclass(frozen=True, slots=True)
class Stage:
    label: str
    runtime: str
    argv: tuple[str, ...] = ()


STAGES = (Stage("command `true`", "command", ("true",)), Stage("claude (fake CLI)", "claude"))


def prepare(work: Path) -> Path:
    """The fake CLIs first on PATH (with a python3 of ours for their shebang), their script and log
    in a folder of their own, a dummy key; returns the workspace, inside a data folder."""
    python_dir = work / "python"
    python_dir.mkdir()
    (python_dir / "python3").symlink_to(sys.executable)
    hooks = work / "fake-cli"
    hooks.mkdir()
    (hooks / "script.json").write_text('{"rules": [], "default": {"text": "ok"}}')
    os.environ["PATH"] = os.pathsep.join([str(FAKES), str(python_dir), os.environ.get("PATH", "")])
    os.environ.update(
        FAKE_CLI_SCRIPT=str(hooks / "script.json"),
        FAKE_CLI_LOG=str(hooks / "log.jsonl"),
        ANTHROPIC_API_KEY="x",
    )
    workspace = work / "data" / "workspaces" / "T-BENCH"
    workspace.mkdir(parents=True)
    return workspace


async def run_once(stage: Stage, launcher: Launcher, workspace: Path) -> float:
    """Seconds from starting the stage to its Finished (raises when it does not finish)."""
    runtime = get_runtime(stage.runtime, launcher=launcher)
    request = RunRequest(prompt="Say ok.", workdir=workspace, timeout_s=TIMEOUT_S, argv=stage.argv)
    started = time.perf_counter()
    finished = [event async for event in runtime.run(request) if isinstance(event, Finished)]
    elapsed = time.perf_counter() - started
    if not finished or finished[0].exit_code != 0:
        raise AqmError(f"{stage.label} did not finish cleanly: {finished}")
    return elapsed


async def measure(runs: int, workspace: Path, sandbox: Sandbox) -> dict[tuple[str, str], list[float]]:
    modes: dict[str, Launcher] = {"unsandboxed": UNSANDBOXED, "sandboxed": sandbox}
    samples: dict[tuple[str, str], list[float]] = {}
    for stage in STAGES:
        for index in range(WARMUP_RUNS + runs):
            for mode, launcher in modes.items():  # interleaved: noise hits both modes alike
                seconds = await run_once(stage, launcher, workspace)
                if index >= WARMUP_RUNS:
                    samples.setdefault((stage.label, mode), []).append(seconds)
    return samples


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def report(samples: dict[tuple[str, str], list[float]], runs: int) -> str:
    lines = [
        f"Stage sandbox cost: {runs} runs per stage and mode, ms",
        "",
        f"{'stage':<20} {'mode':<12} {'median':>8} {'p90':>8} {'min':>8}",
    ]
    for (label, mode), values in samples.items():
        ms = [value * 1000 for value in values]
        lines.append(f"{label:<20} {mode:<12} {statistics.median(ms):8.1f} {p90(ms):8.1f} {min(ms):8.1f}")
    lines += ["", f"{'stage':<20} {'sandboxed - unsandboxed (median)':>34} {'ratio':>7}"]
    for stage in STAGES:
        inside = statistics.median(samples[(stage.label, "sandboxed")]) * 1000
        outside = statistics.median(samples[(stage.label, "unsandboxed")]) * 1000
        lines.append(f"{stage.label:<20} {inside - outside:+31.1f} ms {inside / outside:7.2f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--runs", type=int, default=DEFAULT_RUNS, help=f"per stage and mode (default {DEFAULT_RUNS})"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="aqm-bench-sandbox-") as folder:
        workspace = prepare(Path(folder))
        try:
            sandbox = Sandbox.build(hidden=[workspace.parent.parent])
            samples = asyncio.run(measure(args.runs, workspace, sandbox))
        except AqmError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    print(report(samples, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
