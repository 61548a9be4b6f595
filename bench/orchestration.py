"""Orchestration overhead of `aqm run`, net of the fake CLI's own cost: ours against aqm 1.3.2.

Linear pipelines of 10 and 100 agents on claude (default context strategy, every answer 5,000
bytes) run end to end with `aqm run "task"`, each tool in a fresh project, both against the same
fake `claude` (tests/fakes) behind a timing wrapper first on PATH (bench/_fakerun.py), the tools
taking turns. Around each run the wrapper and fake are timed alone, 8 calls before and 8 after,
with that tool's argv (ours: prompt on stdin; aqm: prompt as `-p` argv, `--system-prompt`,
skip-permissions, partial messages) and a middle stage's prompt size; the run's net
orchestration cost is its wall time minus N stages × that median (calibrating around each run
follows the machine's load). A cross-check subtracts instead the time the wrapper measured inside
the run's own calls, which hides work a tool does while the CLI runs. The wrapper's timestamps
also give the gap from one call's end to the next call's start (pooled over the runs, for the
first and the last ten stages), the time to the first call and after the last one.

Each run gets a new project whose store an untimed `aqm list` has created (a project in use);
--fresh times the first command in a new project instead (ours then runs its migrations).

Goals: at 100 stages ours is at least 10× faster than aqm net of the fake (the median net of 5
runs per tool, the tools taking turns), and our per-stage gap
stays flat (last ten ≤ first ten × 1.2). The speed-up reads UNRELIABLE instead when, in any run,
the fake alone and the fake inside the run differ by more than 15% (the load changed between
calibrating and running: the subtraction no longer measures the tool).

    .venv/bin/python bench/orchestration.py [--runs N] [--stages 10 100] [--retries N] [--fresh] [--quick]

A report, not a test: exit 0 whether the goals are met or not, 1 if a run fails. A run that does
not complete (e.g. ours stopping with the task still in_progress) is tried again up to --retries
times and listed under the tables.
Standard library only (our tool runs as a subprocess).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _fakerun import Bench, Run, fake_call_seconds, output_text
from validate import OURS, RunFailed, Tool, byte_compile_ours, load_range, reference_tool, table

PROJECT_IN_USE = "a new project per run, its store created first by an untimed `aqm list`"
DEFAULT_RUNS = 5  # the goal is the median of 5 runs per tool, the tools taking turns
DEFAULT_RETRIES = 2
DEFAULT_STAGES = (10, 100)
CALIBRATION_CALLS = 8  # before and after each run
EDGE = 10  # the first and the last EDGE gaps
SPEEDUP_GOAL = 10.0  # aqm net / ours net (medians of the runs) at the largest size
FLAT_GOAL = 1.2  # ours: last-ten gap / first-ten gap
# The net subtracts N × the fake alone; when the fake alone and the fake in the run differ by more
# than this, the machine's load changed between them and the net says more about the load than
# about the tool (on a saturated machine ours came out negative): the result is UNRELIABLE.
MAX_DRIFT = 0.15
MIDDLE_STAGE_OUTPUTS = {"ours": 4, "aqm": 7}  # ≈ 5 KB blocks in a middle stage's prompt (input + window 3)

# The argv each tool gives claude (besides the prompt), as in app/runtimes/claude.py and
# aqm-behaviour.md section 6 (aqm: streaming mode, used by `aqm run`).
OURS_ARGS = ("-p", "--output-format", "stream-json", "--verbose", "--strict-mcp-config")
AQM_SYSTEM_PROMPT = "You are agent 50 of 100 in a linear pipeline.\nTask: {{ input }}\n\n{{ context }}\n"


def aqm_args(prompt: str) -> list[str]:
    return [
        *("--print", "-p", prompt, "--system-prompt", AQM_SYSTEM_PROMPT, "--dangerously-skip-permissions"),
        *("--verbose", "--output-format", "stream-json", "--include-partial-messages"),
    ]


@dataclass(frozen=True, slots=True)
class Measured:
    run: Run
    fake_alone: float  # seconds per call of the fake alone, timed just before and after this run

    @property
    def net(self) -> float:
        return self.run.wall - self.run.stages * self.fake_alone

    @property
    def net_in_calls(self) -> float:
        return self.run.wall - self.run.calls.busy

    @property
    def in_run(self) -> float:
        """Seconds per call of the fake inside this run, as the wrapper timed it."""
        return self.run.calls.busy / self.run.stages

    @property
    def drift(self) -> float:
        """How far the fake alone was from the fake in the run, as a fraction of the latter."""
        return abs(self.fake_alone - self.in_run) / self.in_run


@dataclass(frozen=True, slots=True)
class Summary:
    """One tool at one size: medians over its runs."""

    tool: str
    stages: int
    runs: list[Measured]

    def median(self, value: Callable[[Measured], float]) -> float:
        return statistics.median(value(measured) for measured in self.runs)

    @property
    def wall(self) -> float:
        return self.median(lambda m: m.run.wall)

    @property
    def net(self) -> float:
        return self.median(lambda m: m.net)

    @property
    def net_in_calls(self) -> float:
        return self.median(lambda m: m.net_in_calls)

    def gaps(self, which: slice) -> float:
        """The median gap between calls, pooled over the runs."""
        return statistics.median(gap for m in self.runs for gap in m.run.calls.gaps[which])

    @property
    def load(self) -> str:
        return load_range([m.run.load for m in self.runs])

    @property
    def first_gaps(self) -> float:
        return self.gaps(slice(0, EDGE))

    @property
    def last_gaps(self) -> float:
        return self.gaps(slice(-EDGE, None))


def measure(
    ours: Tool, theirs: Tool, stage_counts: Sequence[int], runs: int, retries: int, *, fresh: bool
) -> tuple[dict[tuple[str, int], Summary], list[str]]:
    with tempfile.TemporaryDirectory(prefix="aqm-bench-orch-") as temp:
        bench = Bench(Path(temp), fresh=fresh)
        text = output_text()
        shapes = {  # each tool's argv, with a middle stage's prompt size
            ours.name: (OURS_ARGS, "\n\n".join([text] * MIDDLE_STAGE_OUTPUTS["ours"])),
            theirs.name: (aqm_args("\n\n".join([text] * MIDDLE_STAGE_OUTPUTS["aqm"])), None),
        }
        results: dict[tuple[str, int], list[Measured]] = {}
        for stages in stage_counts:
            for index in range(runs):
                order = (ours, theirs) if index % 2 == 0 else (theirs, ours)  # take turns going first
                for tool in order:
                    print(f"{stages} stages, run {index + 1}/{runs}: {tool.name} ...", file=sys.stderr)
                    args, stdin = shapes[tool.name]
                    alone = fake_call_seconds(bench, tool, args, stdin, CALIBRATION_CALLS)
                    run = bench.run(tool, stages, max_stages=max(200, 2 * stages), retries=retries)
                    alone += fake_call_seconds(bench, tool, args, stdin, CALIBRATION_CALLS)
                    results.setdefault((tool.name, stages), []).append(
                        Measured(run, statistics.median(alone))
                    )
        summaries = {key: Summary(key[0], key[1], found) for key, found in results.items()}
        return summaries, bench.notes


# ---- the report --------------------------------------------------------------------------

Summaries = dict[tuple[str, int], Summary]


def report(summaries: Summaries, ours: Tool, theirs: Tool, stage_counts: Sequence[int]) -> str:
    header = [
        *("stages", "tool", "median wall (s)", "fake alone (ms/call)", "fake in the run (ms/call)"),
        *("net (s)", "net/stage (ms)"),
        *("net (wall − Σ in calls) (s)", "start → 1st call (ms)", "gap first 10 (ms)", "gap last 10 (ms)"),
        "last call → exit (ms)",
        "machine",
    ]
    rows = []
    for stages in stage_counts:
        for tool in (theirs, ours):
            s = summaries[tool.name, stages]
            rows.append(
                [
                    *(
                        str(stages),
                        tool.name,
                        f"{s.wall:.3f}",
                        f"{s.median(lambda m: m.fake_alone) * 1000:.1f}",
                        f"{s.median(lambda m: m.in_run) * 1000:.1f}",
                    ),
                    *(f"{s.net:.3f}", f"{s.net / stages * 1000:.1f}", f"{s.net_in_calls:.3f}"),
                    f"{s.median(lambda m: m.run.to_first_call) * 1000:.0f}",
                    *(f"{s.first_gaps * 1000:.1f}", f"{s.last_gaps * 1000:.1f}"),
                    f"{s.median(lambda m: m.run.after_last_call) * 1000:.0f}",
                    s.load,
                ]
            )
    ratio_rows = []
    for stages in stage_counts:
        mine, ref = summaries[ours.name, stages], summaries[theirs.name, stages]
        ratio_rows.append(
            [
                str(stages),
                _times(ref.wall, mine.wall),
                _times(ref.net, mine.net),
                _times(ref.net_in_calls, mine.net_in_calls),
                _times(ref.first_gaps, mine.first_gaps),
                _times(ref.last_gaps, mine.last_gaps),
            ]
        )
    ratio_header = ["stages", "wall", "net", "net (wall − Σ in calls)", "gap first 10", "gap last 10"]
    return "\n\n".join(
        [
            table(header, rows),
            "aqm/ours (how many times faster ours is):\n" + table(ratio_header, ratio_rows),
            goals(summaries, ours, theirs, stage_counts),
        ]
    )


def goals(summaries: Summaries, ours: Tool, theirs: Tool, stage_counts: Sequence[int]) -> str:
    largest = max(stage_counts)
    mine, ref = summaries[ours.name, largest], summaries[theirs.name, largest]
    flat, their_flat = mine.last_gaps / mine.first_gaps, ref.last_gaps / ref.first_gaps
    drift = max(m.drift for m in (*mine.runs, *ref.runs))
    if drift > MAX_DRIFT or mine.net <= 0 or ref.net <= 0:
        verdict = f"UNRELIABLE (fake alone vs in the run differ by up to {drift:.0%}: the load changed)"
    else:
        verdict = "PASS" if ref.net / mine.net >= SPEEDUP_GOAL else "MISS"
    rows = [
        [
            f"{largest} stages: net, aqm/ours ≥ {SPEEDUP_GOAL:g}×",
            f"{ref.net:.3f} s",
            f"{mine.net:.3f} s",
            _times(ref.net, mine.net),
            f"{verdict} (median of {len(mine.runs)} runs each, {both_loads(mine, ref)})",
        ],
        [
            f"{largest} stages: gap last 10 / first 10 ≤ {FLAT_GOAL:g}",
            f"{ref.first_gaps * 1000:.1f} → {ref.last_gaps * 1000:.1f} ms ({their_flat:.2f})",
            f"{mine.first_gaps * 1000:.1f} → {mine.last_gaps * 1000:.1f} ms",
            f"{flat:.2f}",
            "PASS" if flat <= FLAT_GOAL else "MISS",
        ],
    ]
    return table(["goal", theirs.name, "ours", "ours", "result"], rows)


def both_loads(mine: Summary, ref: Summary) -> str:
    return load_range([m.run.load for m in (*mine.runs, *ref.runs)])


def _times(reference: float, mine: float) -> str:
    return f"{reference / mine:.2f}×" if mine > 0 else "n/a (ours ≤ 0)"


# ---- main --------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    byte_compile_ours()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--runs", type=int, default=DEFAULT_RUNS, help=f"runs per tool and size (default {DEFAULT_RUNS})"
    )
    parser.add_argument(
        "--stages",
        type=int,
        nargs="+",
        default=list(DEFAULT_STAGES),
        help="pipeline lengths (default 10 100)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=DEFAULT_RETRIES,
        help=f"tries again a run that does not complete, noting it (default {DEFAULT_RETRIES})",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="time the first command in a new project (the run creates its store)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a check that it works: 1 run per tool, 10 and 100 stages"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = 1
    if args.runs < 1 or min(args.stages) < 2:
        parser.error("--runs must be at least 1 and every --stages at least 2")
    if not OURS.is_file():
        print(f"{OURS} is missing: install the project first (make)", file=sys.stderr)
        return 1
    try:
        ours, theirs = Tool("ours", OURS), reference_tool()
        summaries, notes = measure(ours, theirs, args.stages, args.runs, args.retries, fresh=args.fresh)
    except RunFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"\nlinear pipelines, claude, default context strategy, {len(output_text()):,}-byte answers; "
        f"{args.runs} runs per tool and size, taking turns ({os.cpu_count()} CPUs); "
        + ("a new project per run, its store created by the run" if args.fresh else PROJECT_IN_USE)
    )
    print(
        f"net = median wall − N × the fake alone (median of {2 * CALIBRATION_CALLS} calls around each run,"
        " with that tool's argv); gap = end of a call → start of the next"
    )
    print()
    print(report(summaries, ours, theirs, args.stages))
    for note in notes:
        print(f"note: {note} (tried again)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
