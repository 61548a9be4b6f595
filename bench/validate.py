"""Start-up benchmark: our `aqm` against the reference aqm 1.3.2 from PyPI.

Times `aqm --help` and `aqm validate` (on a 10-agent pipeline that both tools accept) for each
tool, interleaving the two tools' runs so that machine noise hits both alike, and prints medians,
the ratio ours/aqm against its goal, min/max and (with GNU time) the peak RSS of one run.

    .venv/bin/python bench/validate.py [--runs N]

The reference tool is installed once into bench/.work/aqm-1.3.2/ (git-ignored) and reused.
Exit status: 0 whether the goals are met or not (this is a report), 1 if any run fails.
Standard library only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OURS = REPO / ".venv" / "bin" / "aqm"


def byte_compile_ours() -> None:
    """Give our editable install the bytecode a pip install writes (aqm's venv has its own).

    With PYTHONDONTWRITEBYTECODE=1 (set on these machines) Python never caches what it compiles,
    so every `aqm` command would compile each of our modules from source while aqm 1.3.2's, from
    a wheel, come compiled: unlike for like. compileall writes regardless and skips what is
    current."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "app")], check=True)


REFERENCE_VERSION = "1.3.2"
REFERENCE_VENV = REPO / "bench" / ".work" / f"aqm-{REFERENCE_VERSION}"
WARMUP_RUNS = 2
DEFAULT_RUNS = 15
GNU_TIME = Path("/usr/bin/time")
RUNTIMES = ("claude", "gemini", "codex")
AGENT_COUNT = 10
GATED_AGENT = 5  # the agent with the llm gate
LAST_ONLY_AGENT = 8  # the agent with context_strategy: last_only
CONFIG_YAML = "pipeline:\n  max_stages: 20\n"


@dataclass(frozen=True, slots=True)
class Benchmark:
    label: str  # as shown in the table
    args: tuple[str, ...]  # after the `aqm` executable
    goal: float  # the highest acceptable ratio ours/aqm of the medians


HELP = Benchmark("aqm --help", ("--help",), 0.5)
VALIDATE = Benchmark("aqm validate", ("validate",), 0.5)
BENCHMARKS = (HELP, VALIDATE)


@dataclass(frozen=True, slots=True)
class Tool:
    name: str  # as shown in the table
    executable: Path


@dataclass(slots=True)
class Samples:
    seconds: list[float] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)  # the 1-minute load average at each sample

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


class RunFailed(Exception):
    """A benchmarked command (or the reference install) exited non-zero."""


# ---- the reference tool ------------------------------------------------------------------


def reference_tool() -> Tool:
    """aqm 1.3.2 in its own venv, created with `python3 -m venv` + pip on first use."""
    executable = REFERENCE_VENV / "bin" / "aqm"
    if _reference_works(executable):
        return Tool(f"aqm {REFERENCE_VERSION}", executable)
    if REFERENCE_VENV.exists():
        print(f"{REFERENCE_VENV} is incomplete or broken: recreating it", file=sys.stderr)
        shutil.rmtree(REFERENCE_VENV)
    print(f"installing aqm=={REFERENCE_VERSION} into {REFERENCE_VENV} (once) ...", file=sys.stderr)
    REFERENCE_VENV.parent.mkdir(parents=True, exist_ok=True)
    python3 = shutil.which("python3") or sys.executable
    try:
        _checked([python3, "-m", "venv", str(REFERENCE_VENV)])
        _checked(
            [
                str(REFERENCE_VENV / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                f"aqm=={REFERENCE_VERSION}",
            ]
        )
    except RunFailed:
        shutil.rmtree(REFERENCE_VENV, ignore_errors=True)
        raise
    if not _reference_works(executable):
        raise RunFailed(f"aqm {REFERENCE_VERSION} was installed but {executable} --help does not work")
    return Tool(f"aqm {REFERENCE_VERSION}", executable)


def _reference_works(executable: Path) -> bool:
    """aqm 1.3.2 has no --version flag: ask the venv's metadata, then check that --help runs."""
    python = executable.parent / "python"
    if not (executable.is_file() and python.is_file()):
        return False
    probe = "import importlib.metadata as m; print(m.version('aqm'))"
    version = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=False)
    if version.returncode != 0 or version.stdout.strip() != REFERENCE_VERSION:
        return False
    return subprocess.run([str(executable), "--help"], capture_output=True, check=False).returncode == 0


def _checked(argv: Sequence[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        _show_failure(argv, result)
        raise RunFailed(f"{' '.join(argv)} exited {result.returncode}")


# ---- the project both tools validate -----------------------------------------------------


def pipeline_yaml() -> str:
    """A linear 10-agent pipeline that aqm 1.3.2's JSON Schema and our strict models both accept."""
    lines = ["apiVersion: aqm/v0.1", "", "agents:"]
    for number in range(1, AGENT_COUNT + 1):
        lines += _agent_lines(number)
    return "\n".join(lines) + "\n"


def _agent_lines(number: int) -> list[str]:
    runtime = RUNTIMES[(number - 1) % len(RUNTIMES)]
    lines = [
        f"  - id: agent_{number}",
        f"    name: Agent {number}",
        f"    runtime: {runtime}",
        "    system_prompt: |",
        f"      You are agent {number} of {AGENT_COUNT} in a linear pipeline.",
        "      Task: {{ input }}",
        "",
        "      What the earlier agents wrote:",
        "      {{ context }}",
    ]
    if number == LAST_ONLY_AGENT:
        lines.append("    context_strategy: last_only")
    if number == GATED_AGENT:
        lines += [
            "    gate:",
            "      type: llm",
            "      prompt: Is the output complete, correct and on topic?",
            "      max_retries: 2",
        ]
    if number == AGENT_COUNT:
        return lines
    lines.append("    handoffs:")
    if number == GATED_AGENT:
        return [
            *lines,
            f"      - to: agent_{number + 1}",
            "        condition: on_approve",
            f"      - to: agent_{number - 1}",
            "        condition: on_reject",
            "        payload: |",
            "          The gate rejected the work: {{ reject_reason }}",
            "",
            "          {{ output }}",
        ]
    return [*lines, f"      - to: agent_{number + 1}", "        condition: always"]


def write_project(root: Path) -> None:
    """`.aqm/` with the legacy agents.yaml, the same text as pipelines/default.yaml, and config.yaml."""
    aqm = root / ".aqm"
    (aqm / "pipelines").mkdir(parents=True)
    text = pipeline_yaml()
    (aqm / "agents.yaml").write_text(text, encoding="utf-8")
    (aqm / "pipelines" / "default.yaml").write_text(text, encoding="utf-8")
    (aqm / "config.yaml").write_text(CONFIG_YAML, encoding="utf-8")


def write_runtime_stubs(folder: Path) -> None:
    """claude, gemini and codex executables that do nothing: both tools look for them on PATH."""
    folder.mkdir(parents=True)
    for name in RUNTIMES:
        stub = folder / name
        stub.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
        stub.chmod(0o755)


# ---- running and timing ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Runner:
    cwd: Path
    env: dict[str, str]

    def run(self, tool: Tool, bench: Benchmark) -> tuple[float, subprocess.CompletedProcess[bytes]]:
        """Seconds the command took, and its result; RunFailed when it exits non-zero."""
        argv = [str(tool.executable), *bench.args]
        start = time.perf_counter()
        result = subprocess.run(argv, cwd=self.cwd, env=self.env, capture_output=True, check=False)
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            _show_failure(argv, result)
            raise RunFailed(f"{tool.name}: `{bench.label}` exited {result.returncode}")
        return elapsed, result

    def peak_rss_kib(self, tool: Tool, bench: Benchmark, time_binary: Path) -> int:
        """Peak resident set size of one run, in KiB, as GNU time's %M reports it."""
        with tempfile.NamedTemporaryFile("r", suffix=".rss", encoding="utf-8") as report:
            argv = [str(time_binary), "-f", "%M", "-o", report.name, str(tool.executable), *bench.args]
            result = subprocess.run(argv, cwd=self.cwd, env=self.env, capture_output=True, check=False)
            if result.returncode != 0:
                _show_failure(argv, result)
                raise RunFailed(
                    f"{tool.name}: `{bench.label}` under {time_binary} exited {result.returncode}"
                )
            return int(report.read().split()[-1])


def measure(runner: Runner, tools: Sequence[Tool], runs: int) -> dict[tuple[str, str], Samples]:
    """Warm-up runs, then `runs` timed runs per tool and command, the tools taking turns."""
    samples = {(bench.label, tool.name): Samples() for bench in BENCHMARKS for tool in tools}
    for bench in BENCHMARKS:
        for _ in range(WARMUP_RUNS):
            for tool in tools:
                runner.run(tool, bench)
        for _ in range(runs):
            for tool in tools:
                elapsed, _result = runner.run(tool, bench)
                samples[bench.label, tool.name].seconds.append(elapsed)
                samples[bench.label, tool.name].loads.append(load_now())
    return samples


def validate_summaries(runner: Runner, tools: Sequence[Tool]) -> list[str]:
    """What each tool's `aqm validate` says about the project: shows both accept it, warning-free."""
    lines = []
    for tool in tools:
        _elapsed, result = runner.run(tool, VALIDATE)
        output = (result.stdout + result.stderr).decode(errors="replace").strip()
        if "warning" in output.lower():
            print(f"note: {tool.name} validate printed warnings:\n{output}", file=sys.stderr)
        shown = " / ".join(line.strip() for line in output.splitlines() if line.strip())
        lines.append(f"{tool.name}: {shown}")
    return lines


def gnu_time() -> Path | None:
    """/usr/bin/time when it is GNU time (it understands -f %M), else None."""
    if not GNU_TIME.is_file():
        return None
    probe = subprocess.run([str(GNU_TIME), "-f", "%M", "true"], capture_output=True, text=True, check=False)
    return GNU_TIME if probe.returncode == 0 and probe.stderr.strip().isdigit() else None


def _show_failure(
    argv: Sequence[str], result: subprocess.CompletedProcess[str] | subprocess.CompletedProcess[bytes]
) -> None:
    def text(value: str | bytes | None) -> str:
        return value.decode(errors="replace") if isinstance(value, bytes) else value or ""

    print(f"FAILED (exit {result.returncode}): {' '.join(argv)}", file=sys.stderr)
    print(f"--- stdout ---\n{text(result.stdout)}--- stderr ---\n{text(result.stderr)}", file=sys.stderr)


# ---- the report --------------------------------------------------------------------------


def load_now() -> float:
    """The machine's 1-minute load average: noted with every sample, shown beside every figure,
    since other processes on the cores slow both tools (the ratio less than the seconds)."""
    return os.getloadavg()[0]


def load_range(loads: Sequence[float]) -> str:
    """'load 1.2–2.4 / 2 CPUs': the 1-minute load averages seen while a figure was measured."""
    if not loads:
        loads = [load_now()]
    low, high = min(loads), max(loads)
    spread = f"{low:.2f}" if f"{low:.2f}" == f"{high:.2f}" else f"{low:.2f}–{high:.2f}"
    return f"load {spread} / {os.cpu_count()} CPUs"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table with aligned columns."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(header), line(["-" * width for width in widths]), *(line(row) for row in rows)])


def report(
    samples: dict[tuple[str, str], Samples], ours: Tool, theirs: Tool, rss: dict[tuple[str, str], int] | None
) -> str:
    """The medians against the goals, then min / max and peak RSS."""
    header = [
        *("command", f"{theirs.name} median (s)", "ours median (s)", "ratio (ours/aqm)", "goal", "result"),
        "machine",
    ]
    spread_header = ["command", f"{theirs.name} min / max (s)", "ours min / max (s)"]
    if rss is not None:
        spread_header += [f"{theirs.name} peak RSS (MiB)", "ours peak RSS (MiB)"]
    medians, spreads = [], []
    for bench in BENCHMARKS:
        mine, ref = samples[bench.label, ours.name], samples[bench.label, theirs.name]
        ratio = mine.median / ref.median
        verdict = "PASS" if ratio <= bench.goal else "MISS"
        medians.append(
            [
                bench.label,
                f"{ref.median:.3f}",
                f"{mine.median:.3f}",
                f"{ratio:.2f}",
                f"≤ {bench.goal:g}",
                verdict,
                load_range(mine.loads + ref.loads),
            ]
        )
        spread = [bench.label, _min_max(ref), _min_max(mine)]
        if rss is not None:
            spread += [_mib(rss[bench.label, theirs.name]), _mib(rss[bench.label, ours.name])]
        spreads.append(spread)
    return table(header, medians) + "\n\n" + table(spread_header, spreads)


def _min_max(samples: Samples) -> str:
    return f"{min(samples.seconds):.3f} / {max(samples.seconds):.3f}"


def _mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"


# ---- main --------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    byte_compile_ours()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--runs",
        type=int,
        default=DEFAULT_RUNS,
        help=f"timed runs per command and tool (default {DEFAULT_RUNS}, after {WARMUP_RUNS} warm-up runs)",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if not OURS.is_file():
        print(f"{OURS} is missing: install the project first (pip install -e '.[dev]')", file=sys.stderr)
        return 1
    try:
        ours, theirs = Tool("ours", OURS), reference_tool()
        samples, rss = benchmark(ours, theirs, args.runs)
    except RunFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print()
    print(report(samples, ours, theirs, rss))
    return 0


def benchmark(
    ours: Tool, theirs: Tool, runs: int
) -> tuple[dict[tuple[str, str], Samples], dict[tuple[str, str], int] | None]:
    """Timings of both tools in a throwaway project, and their peak RSS when GNU time is there."""
    tools = (ours, theirs)
    with tempfile.TemporaryDirectory(prefix="aqm-bench-") as temp:
        project, stubs = Path(temp) / "project", Path(temp) / "bin"
        write_project(project)
        write_runtime_stubs(stubs)
        runner = Runner(project, {**os.environ, "PATH": f"{stubs}{os.pathsep}{os.environ.get('PATH', '')}"})
        print(
            f"{AGENT_COUNT}-agent pipeline; {runs} timed runs per command and tool after "
            f"{WARMUP_RUNS} warm-up runs, interleaved ({os.cpu_count()} CPUs)"
        )
        for line in validate_summaries(runner, tools):
            print(f"  {line}")
        samples = measure(runner, tools, runs)
        time_binary = gnu_time()
        if time_binary is None:
            print("(no GNU time at /usr/bin/time: peak RSS not measured)")
            return samples, None
        rss = {(b.label, t.name): runner.peak_rss_kib(t, b, time_binary) for b in BENCHMARKS for t in tools}
        return samples, rss


if __name__ == "__main__":
    sys.exit(main())
