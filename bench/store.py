"""Commit cost against task length: our two SQLite stores and aqm 1.3.2's SQLite queue.

One task runs to 1,005 stages with one commit per stage, each stage carrying a 5 KB output. Every
commit is timed; the table shows the median of the 11 commits around stage 10 and around stage
1,000, their ratio (the goal: flat, at most 1.5), and the database file's size at the end.
aqm 1.3.2 (the same reference install as bench/validate.py) stores the stage in its Task and
calls `SQLiteQueue.update(task)`, which rewrites the whole task JSON with every stage's texts:
its cost grows with the task. Ours writes the task row and the one new stage, in both of our
stores on the same file format: the server's (app/store/store.py, SQLAlchemy on aiosqlite) and the
CLI's, which every `aqm run` uses (app/store/lite.py, the standard library's sqlite3). The goal
holds for each; the machine's load is shown beside each verdict.

    .venv/bin/python bench/store.py [--stages N]

A report, not a test: exit 0 whether the goal is met or not, 1 if a run fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from validate import RunFailed, load_now, load_range, reference_tool, table  # noqa: E402

from app.store.lite import LiteTaskStore  # noqa: E402
from app.store.records import StageRecord  # noqa: E402
from app.store.store import TaskStore  # noqa: E402

SERVER, CLI = "ours, server (SQLAlchemy)", "ours, aqm run (sqlite3)"

OUTPUT_BYTES = 5 * 1024
POINTS = (10, 1000)  # the stages compared
HALF_WINDOW = 5  # commits on each side of a point that join its median
FLAT_GOAL = 1.5  # the highest acceptable ratio of the cost at stage 1,000 to the cost at stage 10

AQM_SCRIPT = """
import json, sys, time
from pathlib import Path
from aqm.core.task import StageRecord, Task
from aqm.queue.sqlite import SQLiteQueue

path, stages, output = Path(sys.argv[1]), int(sys.argv[2]), "x" * int(sys.argv[3])
queue = SQLiteQueue(path)
task = Task(description="bench")
queue.push(task, "agent")
seconds = []
for number in range(1, stages + 1):
    task.add_stage(StageRecord(stage_number=number, agent_id="agent", input_text=f"stage {number}",
                               output_text=output))
    start = time.perf_counter()
    queue.update(task)
    seconds.append(time.perf_counter() - start)
queue.close()
print(json.dumps(seconds))
"""


@dataclass(frozen=True, slots=True)
class Run:
    label: str
    seconds: list[float]  # per commit, in stage order
    db_bytes: int
    load: tuple[float, float]  # the 1-minute load average before and after

    def at(self, stage: int) -> float:
        """The median commit time around `stage`, in seconds."""
        return statistics.median(self.seconds[max(0, stage - 1 - HALF_WINDOW) : stage + HALF_WINDOW])


async def open_ours(label: str, path: Path) -> TaskStore | LiteTaskStore:
    if label == CLI:
        return await LiteTaskStore.connect(path)
    return await TaskStore.connect(f"sqlite+aiosqlite:///{path}")


async def run_ours(folder: Path, stages: int, label: str) -> Run:
    path = folder / ("cli" if label == CLI else "server") / "tasks.db"
    output = "x" * OUTPUT_BYTES
    seconds: list[float] = []
    before = load_now()
    async with await open_ours(label, path) as store:
        task = await store.create_task(pipeline="bench", description="bench", state={"stage": 0})
        for number in range(1, stages + 1):
            stage = StageRecord(
                task_id=task.id,
                number=number,
                agent_id="agent",
                input_text=f"stage {number}",
                output_text=output,
            )
            start = time.perf_counter()
            await store.commit(task.id, status="in_progress", state={"stage": number}, stages=[stage])
            seconds.append(time.perf_counter() - start)
    return Run(label, seconds, size_of(path), (before, load_now()))


def run_aqm(folder: Path, stages: int) -> Run:
    tool = reference_tool()
    path = folder / "aqm" / "queue.db"
    argv = [
        str(tool.executable.parent / "python"),
        "-c",
        AQM_SCRIPT,
        str(path),
        str(stages),
        str(OUTPUT_BYTES),
    ]
    before = load_now()
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        print(result.stderr, file=sys.stderr)
        raise RunFailed(f"{tool.name} exited {result.returncode}")
    return Run(tool.name, json.loads(result.stdout), size_of(path), (before, load_now()))


def size_of(database: Path) -> int:
    """The database with its write-ahead log, should one be left."""
    return sum(p.stat().st_size for p in database.parent.glob(database.name + "*"))


def report(ours: Sequence[Run], theirs: Run | None) -> str:
    """The commit times per store, ratios to aqm's, then a verdict row per store of ours."""
    header = [
        *("store", *(f"stage {point:,}" for point in POINTS), f"{POINTS[1]:,} / {POINTS[0]}", "DB size"),
        "machine",
    ]
    rows = [
        [
            run.label,
            *(f"{run.at(point) * 1000:.2f} ms" for point in POINTS),
            f"{flatness(run):.2f}",
            f"{run.db_bytes / 2**20:.1f} MiB",
            load_range(run.load),
        ]
        for run in (*ours, *([theirs] if theirs else []))
    ]
    for run in ours if theirs else ():
        ratios = [f"{run.at(point) / theirs.at(point):.3f}" for point in POINTS]
        rows.append([f"{run.label} / aqm", *ratios, "", f"{run.db_bytes / theirs.db_bytes:.2f}", ""])
    goals = [
        [
            f"{run.label}: stage {POINTS[1]:,} / stage {POINTS[0]} ≤ {FLAT_GOAL}",
            f"{flatness(run):.2f}",
            f"{'PASS' if flatness(run) <= FLAT_GOAL else 'MISS'} ({load_range(run.load)})",
        ]
        for run in ours
    ]
    return f"{table(header, rows)}\n\n{table(['goal: flat', 'ratio', 'result'], goals)}"


def flatness(run: Run) -> float:
    return run.at(POINTS[1]) / run.at(POINTS[0])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stages", type=int, default=POINTS[-1] + HALF_WINDOW)
    args = parser.parse_args(argv)
    if args.stages < POINTS[-1] + HALF_WINDOW:
        parser.error(f"--stages must be at least {POINTS[-1] + HALF_WINDOW}")
    print(f"one task, {args.stages:,} commits, one new stage with a {OUTPUT_BYTES // 1024} KB output each\n")
    with tempfile.TemporaryDirectory(prefix="aqm-bench-store-") as folder:
        ours = [asyncio.run(run_ours(Path(folder), args.stages, label)) for label in (SERVER, CLI)]
        theirs = None
        try:
            theirs = run_aqm(Path(folder), args.stages)
        except RunFailed as exc:
            print(f"aqm 1.3.2 not measured: {exc}", file=sys.stderr)
    print(report(ours, theirs))
    return 0 if theirs is not None else 1


if __name__ == "__main__":
    sys.exit(main())
