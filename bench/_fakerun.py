"""End-to-end `aqm run` of a linear N-stage pipeline against the fake `claude`, for either tool.

Shared by bench/orchestration.py and bench/memory.py (standard library only):

- `write_project` writes a throwaway project: N agents on claude, default context strategy, a
  linear chain of `always` handoffs, in `.aqm/agents.yaml` (aqm 1.3.2) and
  `.aqm/pipelines/default.yaml` (ours), and `pipeline: {max_stages: …}` in `.aqm/config.yaml`.
- `Bench` holds a folder with the fake's script (every call answers the same text, 5,000 bytes
  by default) and a `claude` wrapper first on PATH. The wrapper is a bash script that appends
  `S <time>` before and `E <time> <exit>` after running tests/fakes/claude (bash's
  $EPOCHREALTIME: no extra process), so the gap between one call's end and the next call's start
  is measured the same way for both tools. It runs the fake with this interpreter and `-S` (the
  fake is stdlib only), bypassing a `python3` shim on PATH that would add noise to every call.
- `Bench.run` runs one `aqm run "task"` in a new copy of the project and returns its wall
  time, the per-call times from the wrapper and, when asked, the peak RSS: the tool then runs
  under a fresh `python -S` process that reports getrusage(RUSAGE_CHILDREN).ru_maxrss, the
  largest RSS of the tool and the processes it waited for (the fakes are far smaller).
  Unless `fresh`, an untimed `aqm list` first creates the project's store (ours: SQLite with
  alembic's migrations; aqm: its queue.db), so the run measures a project in use rather than the
  first command ever run in it.

aqm 1.3.2 passes `--dangerously-skip-permissions`, which the fake (like the real CLI) refuses as
root unless IS_SANDBOX=1: it is set for aqm's runs. Ours never passes that flag.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from validate import RunFailed, Tool, load_now

REPO = Path(__file__).resolve().parent.parent
FAKE_CLAUDE = REPO / "tests" / "fakes" / "claude"
OUTPUT_BYTES = 5000
TASK = "task"
FAKE_KEY = "bench-fake-key"  # the fake wants credentials; it never sends them anywhere
BASH = Path("/bin/bash")

RSS_PROBE = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[2:]).returncode
with open(sys.argv[1], "w") as report:
    report.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""
WRAPPER = """#!{bash}
printf 'S %s\\n' "$EPOCHREALTIME" >> "$FAKE_CLI_TIMES"
{python} -S {fake} "$@"
rc=$?
printf 'E %s %s\\n' "$EPOCHREALTIME" "$rc" >> "$FAKE_CLI_TIMES"
exit $rc
"""


def output_text(size: int = OUTPUT_BYTES) -> str:
    """`size` bytes of plain prose: no heading, no `---`, no directive (HANDOFF:, HUMAN_INPUT:…)."""
    line = "The stage looked at the task, checked the earlier notes and wrote down what it found.\n"
    return (line * (size // len(line) + 1))[:size]


def pipeline_yaml(stages: int, loop: int | None = None) -> str:
    """One agent per stage in a line; or, with `loop`, that many agents in a cycle that the last one
    closes while its output says `STATUS: more` (see `loop_script`)."""
    agents = loop or stages
    shape = "looping" if loop else "linear"
    lines = ["apiVersion: aqm/v0.1", "", "agents:"]
    for number in range(1, agents + 1):
        lines += [
            f"  - id: agent_{number}",
            f"    name: Agent {number}",
            "    runtime: claude",
            "    system_prompt: |",
            f"      You are agent {number} of {agents} in a {shape} pipeline.",
            "      Task: {{ input }}",
            "",
            "      What the earlier agents wrote:",
            "      {{ context }}",
        ]
        if number < agents:
            lines += ["    handoffs:", f"      - to: agent_{number + 1}", "        condition: always"]
        elif loop:
            lines += ["    handoffs:", "      - to: agent_1", "        condition: status == more"]
    return "\n".join(lines) + "\n"


def loop_script(stages: int, size: int = OUTPUT_BYTES) -> dict[str, object]:
    """The fake's script for a looping run: `STATUS: more` for stages − 1 calls, then `STATUS: done`."""
    more, done = "\nSTATUS: more\n", "\nSTATUS: done\n"  # a line of its own after the prose
    return {
        "rules": [{"text": output_text(size - len(more)) + more, "times": stages - 1}],
        "default": {"text": output_text(size - len(done)) + done},
    }


def write_project(root: Path, stages: int, max_stages: int, loop: int | None = None) -> None:
    aqm = root / ".aqm"
    (aqm / "pipelines").mkdir(parents=True)
    text = pipeline_yaml(stages, loop)
    (aqm / "agents.yaml").write_text(text, encoding="utf-8")
    (aqm / "pipelines" / "default.yaml").write_text(text, encoding="utf-8")
    (aqm / "config.yaml").write_text(f"pipeline:\n  max_stages: {max_stages}\n", encoding="utf-8")


@dataclass(frozen=True, slots=True)
class Calls:
    """The fake's calls in one run, from the wrapper: start and end times (epoch seconds), exits."""

    starts: list[float]
    ends: list[float]
    exits: list[int]

    @classmethod
    def read(cls, path: Path) -> Calls:
        starts, ends, exits = [], [], []
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        for line in text.splitlines():
            kind, stamp, *rest = line.split()
            if kind == "S":
                starts.append(float(stamp.replace(",", ".")))
            else:
                ends.append(float(stamp.replace(",", ".")))
                exits.append(int(rest[0]))
        return cls(starts, ends, exits)

    @property
    def gaps(self) -> list[float]:
        """End of call k to start of call k+1, in seconds."""
        return [start - end for end, start in zip(self.ends, self.starts[1:], strict=False)]

    @property
    def busy(self) -> float:
        """Seconds spent inside the wrapper, over all calls."""
        return sum(end - start for start, end in zip(self.starts, self.ends, strict=True))


@dataclass(frozen=True, slots=True)
class Run:
    tool: str
    stages: int
    wall: float  # seconds from spawn to exit
    launched: float  # epoch seconds, just before the spawn
    exited: float
    calls: Calls
    peak_rss_kib: int | None
    load: float  # the machine's 1-minute load average when the run ended

    def median_gap(self, which: slice) -> float:
        return statistics.median(self.calls.gaps[which])

    @property
    def to_first_call(self) -> float:
        return self.calls.starts[0] - self.launched

    @property
    def after_last_call(self) -> float:
        return self.exited - self.calls.ends[-1]


class Bench:
    """A folder with the wrapper and the fake's script; one fresh project per run."""

    def __init__(self, folder: Path, *, fresh: bool = False, output_bytes: int = OUTPUT_BYTES) -> None:
        if not BASH.is_file():
            raise RunFailed(f"{BASH} is needed for the timing wrapper ($EPOCHREALTIME, bash 5)")
        self.folder = folder
        self.fresh = fresh  # False: `aqm list` creates the project's store before the timed run
        self.bin = folder / "bin"
        self.bin.mkdir(parents=True)
        wrapper = self.bin / "claude"
        wrapper.write_text(
            WRAPPER.format(bash=BASH, python=sys.executable, fake=FAKE_CLAUDE), encoding="utf-8"
        )
        wrapper.chmod(0o755)
        self.script = folder / "script.json"
        self.script.write_text(json.dumps({"default": {"text": output_text(output_bytes)}}), encoding="utf-8")
        self.count = 0
        self.notes: list[str] = []  # runs that did not complete and were tried again

    def env(self, tool: Tool, times: Path, script: Path | None = None) -> dict[str, str]:
        """Ours minus anything AQM_* (a database URL would move the store) and FAKE_CLI_*."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AQM_", "FAKE_CLI_"))}
        env.update(
            PATH=f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
            ANTHROPIC_API_KEY=FAKE_KEY,
            FAKE_CLI_SCRIPT=str(script or self.script),
            FAKE_CLI_TIMES=str(times),
        )
        if tool.name != "ours":
            env["IS_SANDBOX"] = "1"  # aqm passes --dangerously-skip-permissions, refused as root without it
        return env

    def run(
        self,
        tool: Tool,
        stages: int,
        *,
        max_stages: int,
        loop: int | None = None,
        rss: bool = False,
        retries: int = 0,
        fresh: bool | None = None,
    ) -> Run:
        """One `aqm run` in a new project that completes all `stages` fake calls and exits 0: a
        linear pipeline of `stages` agents, or a cycle of `loop` agents run to `stages` stages.

        A run that does not is noted in `self.notes` and tried again, up to `retries` times; then
        RunFailed, with the run's output on stderr. `fresh` overrides the bench's choice of who
        creates the project's store (True: the run itself, as in a new user's first run).
        """
        fresh = self.fresh if fresh is None else fresh
        if loop and stages % loop:
            raise ValueError(
                f"a looping run ends on the loop's last agent: {stages} stages is not a multiple of {loop}"
            )
        for attempt in range(retries + 1):
            run, problem = self._run_once(tool, stages, max_stages, loop, rss, fresh, show=attempt == retries)
            if run is not None:
                return run
            self.notes.append(f"{tool.name}: a {stages}-stage run did not complete: {problem}")
        raise RunFailed(f"{tool.name}: {stages}-stage `aqm run` did not complete ({problem})")

    def _run_once(
        self,
        tool: Tool,
        stages: int,
        max_stages: int,
        loop: int | None,
        rss: bool,
        fresh: bool,
        *,
        show: bool,
    ) -> tuple[Run | None, str]:
        self.count += 1
        root = self.folder / f"run-{self.count}-{tool.name.replace(' ', '-')}-{stages}"
        write_project(root, stages, max_stages, loop)
        times, rss_file = root / "calls.txt", root / "rss.txt"
        script = None
        if loop:
            script = root / "script.json"
            script.write_text(json.dumps(loop_script(stages)), encoding="utf-8")
        if not fresh:
            self._create_store(tool, root)
        argv: list[str] = [str(tool.executable), "run", TASK]
        if rss:  # a fresh process that runs the tool and reports its children's peak RSS
            argv = [sys.executable, "-S", "-c", RSS_PROBE, str(rss_file), *argv]
        with (root / "stdout.txt").open("wb") as out, (root / "stderr.txt").open("wb") as err:
            launched = time.time()
            start = time.perf_counter()
            code = subprocess.run(
                argv, cwd=root, env=self.env(tool, times, script), stdout=out, stderr=err
            ).returncode
            wall = time.perf_counter() - start
            exited = time.time()
        calls = Calls.read(times)
        run = None
        if code == 0 and len(calls.ends) == stages and not any(calls.exits):
            peak = int(rss_file.read_text()) if rss else None
            run = Run(tool.name, stages, wall, launched, exited, calls, peak, load_now())
        problem = _problem(root, code, calls)
        if run is None and show:
            _show(root, argv)
        shutil.rmtree(root)
        return run, problem

    def _create_store(self, tool: Tool, root: Path) -> None:
        argv = [str(tool.executable), "list"]
        result = subprocess.run(argv, cwd=root, env=self.env(tool, root / "list.txt"), capture_output=True)
        if result.returncode != 0:
            raise RunFailed(
                f"{tool.name}: `aqm list` exited {result.returncode}: {result.stderr.decode()[-500:]}"
            )


def fake_call_seconds(
    bench: Bench, tool: Tool, args: Sequence[str], stdin: str | None, calls: int
) -> list[float]:
    """Seconds per call of the wrapper and the fake alone (no orchestrator), `calls` times."""
    env = bench.env(tool, bench.folder / f"alone-{tool.name.replace(' ', '-')}.txt")
    data = stdin.encode() if stdin is not None else None
    seconds = []
    for _ in range(calls):
        start = time.perf_counter()
        result = subprocess.run([str(bench.bin / "claude"), *args], input=data, env=env, capture_output=True)
        seconds.append(time.perf_counter() - start)
        if result.returncode != 0:
            raise RunFailed(f"the fake alone exited {result.returncode}: {result.stderr.decode()[-500:]}")
    return seconds


def _problem(root: Path, code: int, calls: Calls) -> str:
    lines = (root / "stdout.txt").read_text(encoding="utf-8", errors="replace").strip().splitlines()
    last = lines[-1].strip() if lines else ""
    failed = [i + 1 for i, status in enumerate(calls.exits) if status]
    return (
        f"exit {code} after {len(calls.ends)} fake calls"
        + (f", calls {failed[:5]} failed" if failed else "")
        + (f"; its last line: {last!r}" if last else "")
    )


def _show(root: Path, argv: Sequence[str]) -> None:
    print(f"FAILED: {' '.join(argv)}", file=sys.stderr)
    for name in ("stdout.txt", "stderr.txt"):
        text = (root / name).read_text(encoding="utf-8", errors="replace")
        print(f"--- {name} (last 2,000 chars) ---\n{text[-2000:]}", file=sys.stderr)
