"""Peak RSS of `aqm run`: ours against aqm 1.3.2 at 100 stages, and ours at 100 and 1,000 stages.

The same setup as bench/orchestration.py (bench/_fakerun.py): pipelines on claude, the default
context strategy, every answer 5,000 bytes from the fake `claude`, a new project per run whose
store an untimed `aqm list` creates first (a project in use; with --fresh the run creates it, and
ours imports alembic for its migrations). Each measurement runs the tool under a fresh
`python -S` process that reports getrusage(RUSAGE_CHILDREN).ru_maxrss: the peak RSS of the tool
(the fake CLIs it waits for count too, but they are far smaller: their own peak is printed).

- 1 stage, both tools: the start-up footprint.
- 100 stages of a linear 100-agent pipeline, both tools, taking turns: the comparison, in a
  project in use and in a new project whose first command is this run (it creates the store: a
  new user's first run; ours then creates the schema without SQLAlchemy or alembic).
- ours, 100 and 1,000 stages of the same 10-agent loop (the last agent hands back to the first
  while its output says `STATUS: more`; max_stages 2,000): growth with the task's length alone. A
  linear 1,000-agent pipeline would also measure a pipeline ten times the size (its parsed spec
  and compiled templates).

Goals: ours at most aqm's peak at 100 stages, in a project in use and in a new project's first
run, and our 1,000-stage peak at most our 100-stage peak + 5 MiB.

    .venv/bin/python bench/memory.py [--runs N] [--long-stages 1000] [--retries N] [--fresh] [--quick]

A report: exit 0 whether the goals are met or not, 1 if a run fails (a run that does not complete
is tried again up to --retries times, and listed under the tables).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _fakerun import RSS_PROBE, Bench, output_text
from validate import OURS, RunFailed, Tool, byte_compile_ours, load_range, reference_tool, table

PROJECT_IN_USE = "a new project per run, its store created first by an untimed `aqm list`"
DEFAULT_RUNS = 3
DEFAULT_RETRIES = 2
LONG_STAGES = 1000
LOOP_AGENTS = 10
RATIO_GOAL = 1.00  # ours / aqm at 100 stages
GROWTH_GOAL_MIB = 5.0  # ours at 1,000 stages minus ours at 100 stages, same pipeline
OURS_ARGS = ("-p", "--output-format", "stream-json", "--verbose", "--strict-mcp-config")


@dataclass(frozen=True, slots=True)
class Case:
    stages: int
    loop: int | None  # agents in the loop; None: one agent per stage, linear
    first: bool = False  # the run is the new project's first command: it creates the store

    @property
    def pipeline(self) -> str:
        shape = (
            f"{self.loop} agents, looped" if self.loop else f"{self.stages} agent{'s' * (self.stages > 1)}"
        )
        return f"{shape}, first run" if self.first else shape


START = Case(1, None)
COMPARED = Case(100, None)
FIRST = Case(100, None, first=True)
Peaks = dict[tuple[str, Case], list[int]]  # (tool, case) -> peak RSS per run, KiB
Loads = dict[tuple[str, Case], list[float]]  # (tool, case) -> the load average after each run


def measure(
    ours: Tool, theirs: Tool, runs: int, long_stages: int, retries: int, *, fresh: bool
) -> tuple[Peaks, Loads, str | None, int, list[str]]:
    """Peaks and loads per tool and case; the long run's failure (or None); the fake's own peak; notes."""
    peaks: Peaks = {}
    loads: Loads = {}
    short, long = Case(COMPARED.stages, LOOP_AGENTS), Case(long_stages, LOOP_AGENTS)
    with tempfile.TemporaryDirectory(prefix="aqm-bench-mem-") as temp:
        bench = Bench(Path(temp), fresh=fresh)

        def one(tool: Tool, case: Case, label: str) -> None:
            print(f"{case.stages} stages ({case.pipeline}), {label}: {tool.name} ...", file=sys.stderr)
            run = bench.run(
                tool,
                case.stages,
                max_stages=2 * case.stages,
                loop=case.loop,
                rss=True,
                retries=retries,
                fresh=True if case.first else None,
            )
            peaks.setdefault((tool.name, case), []).append(run.peak_rss_kib or 0)
            loads.setdefault((tool.name, case), []).append(run.load)

        fake_kib = fake_peak_kib(bench, ours)
        for index in range(runs):
            for tool in (ours, theirs) if index % 2 == 0 else (theirs, ours):
                for case in (START, COMPARED, FIRST):
                    one(tool, case, f"run {index + 1}/{runs}")
        one(ours, short, "once")
        failure = None
        try:
            one(ours, long, "once")
        except RunFailed as exc:
            failure = str(exc)
        return peaks, loads, failure, fake_kib, bench.notes


def fake_peak_kib(bench: Bench, tool: Tool) -> int:
    """The wrapper and fake alone, answering one call the way they do in the runs."""
    report = bench.folder / "fake-rss.txt"
    argv = [sys.executable, "-S", "-c", RSS_PROBE, str(report), str(bench.bin / "claude"), *OURS_ARGS]
    prompt = "\n\n".join([output_text()] * 4).encode()
    result = subprocess.run(
        argv, input=prompt, env=bench.env(tool, bench.folder / "fake.txt"), capture_output=True, check=False
    )
    if result.returncode != 0:
        raise RunFailed(f"the fake alone exited {result.returncode}: {result.stderr.decode()[-500:]}")
    return int(report.read_text())


def report(
    peaks: Peaks, loads: Loads, ours: Tool, theirs: Tool, long_stages: int, failure: str | None
) -> str:
    short, long = Case(COMPARED.stages, LOOP_AGENTS), Case(long_stages, LOOP_AGENTS)
    rows = []
    for case, tools in (
        (START, (theirs, ours)),
        (COMPARED, (theirs, ours)),
        (FIRST, (theirs, ours)),
        (short, (ours,)),
        (long, (ours,)),
    ):
        for tool in tools:
            found = peaks.get((tool.name, case))
            median = _mib(statistics.median(found)) if found else "did not complete"
            spread = f"{min(found) / 1024:.1f}–{max(found) / 1024:.1f}" if found else ""
            load = load_range(loads.get((tool.name, case), []))
            rows.append(
                [f"{case.stages:,}", case.pipeline, tool.name, median, spread, str(len(found or [])), load]
            )
    header = ["stages", "pipeline", "tool", "peak RSS, median (MiB)", "min–max (MiB)", "runs", "machine"]
    measured = table(header, rows)
    goal_rows = [ratio_row(peaks, loads, ours, theirs, case) for case in (COMPARED, FIRST)]
    growth_goal = f"ours, {long.pipeline}: {long_stages:,} stages ≤ {short.stages} + {GROWTH_GOAL_MIB:g} MiB"
    if (ours.name, long) in peaks:
        before, after = peaks[ours.name, short][0], peaks[ours.name, long][0]
        growth = (after - before) / 1024
        goal_rows.append(
            [
                growth_goal,
                "—",
                f"{_mib(before)} → {_mib(after)}",
                f"{growth:+.1f} MiB",
                ("PASS" if growth <= GROWTH_GOAL_MIB else "MISS")
                + f" ({load_range(loads[ours.name, long])})",
            ]
        )
    else:
        goal_rows.append([growth_goal, "—", "—", str(failure), "n/a"])
    goals = table(["goal", theirs.name, "ours", "ours/aqm or growth", "result"], goal_rows)
    return measured + "\n\n" + goals


def ratio_row(peaks: Peaks, loads: Loads, ours: Tool, theirs: Tool, case: Case) -> list[str]:
    """The goal row of one comparison: ours ≤ aqm × RATIO_GOAL, medians of the runs."""
    mine, ref = (statistics.median(peaks[t.name, case]) for t in (ours, theirs))
    ratio = mine / ref
    verdict = "PASS" if ratio <= RATIO_GOAL else "MISS"
    load = load_range(loads[ours.name, case] + loads[theirs.name, case])
    return [
        f"{case.pipeline}: ours ≤ aqm × {RATIO_GOAL:.2f}",
        _mib(ref),
        _mib(mine),
        f"{ratio:.2f}",
        f"{verdict} ({load})",
    ]


def _mib(kib: float) -> str:
    return f"{kib / 1024:.1f}"


def main(argv: Sequence[str] | None = None) -> int:
    byte_compile_ours()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="runs per tool of 1 and 100 stages")
    parser.add_argument(
        "--long-stages",
        type=int,
        default=LONG_STAGES,
        help=f"stages of our long run (a multiple of {LOOP_AGENTS})",
    )
    parser.add_argument(
        "--retries", type=int, default=DEFAULT_RETRIES, help="tries again a run that does not complete"
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="measure the first command in a new project (the run creates its store)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a check that it works: 1 run per tool, the long run 200 stages"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.long_stages = 1, 2 * COMPARED.stages
    if args.runs < 1 or args.long_stages < LOOP_AGENTS or args.long_stages % LOOP_AGENTS:
        parser.error(f"--runs must be at least 1 and --long-stages a multiple of {LOOP_AGENTS}")
    if not OURS.is_file():
        print(f"{OURS} is missing: install the project first (make)", file=sys.stderr)
        return 1
    try:
        ours, theirs = Tool("ours", OURS), reference_tool()
        peaks, loads, failure, fake_kib, notes = measure(
            ours, theirs, args.runs, args.long_stages, args.retries, fresh=args.fresh
        )
    except RunFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"\nclaude, default context strategy, {len(output_text()):,}-byte answers; peak RSS from "
        f"getrusage(RUSAGE_CHILDREN) of a fresh process per run; the fake alone: {fake_kib / 1024:.1f} MiB; "
        + ("a new project per run, its store created by the run" if args.fresh else PROJECT_IN_USE)
        + "; the 'first run' rows: the run itself creates the store, as a new user's first run does"
    )
    print()
    print(report(peaks, loads, ours, theirs, args.long_stages, failure))
    for note in notes:
        print(f"note: {note} (tried again)")
    if failure is not None:
        print(f"error: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
