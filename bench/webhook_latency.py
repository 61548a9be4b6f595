"""Webhook acknowledgement latency of `POST /webhook` at a fixed rate, and every delivery recorded once.

The real app (`create_app`, SQLite in a temp dir, the in-process queue, GitHub App credentials of
a seeded GitHub simulator that stays in process) is served by uvicorn on a loopback port, set up
as `aqm serve` sets it up (log level info, so with the access log, written to a file here).
A separate process (bench/_webhook_load.py) sends signed `issue_comment.created` deliveries whose
comment holds no command — recorded, answered 202, then handled in the background as "ignored"
without a GitHub call — at a fixed rate for a fixed time, open loop (each request starts on
schedule, on its own connection, whatever the earlier ones are doing), plus a redelivery (same
GUID, same body) of 1% of them half a second after the original. It prints p50/p95/p99/max of
the time from connecting to the end of the 202, errors, how late the sender started requests,
then checks the deliveries table: one row per GUID sent, no row twice, every one handled once.

    .venv/bin/python bench/webhook_latency.py [--seconds 60] [--rate 100] [--commands FRACTION]
        [--profile [--py-spy PATH]] [--intake-only] [--quick]

`--commands 0.05`: 5% of the measured deliveries are `/aqm run` comments by a maintainer, each on
an issue of its own, whose 3-stage pipeline (`command` stages) then runs in the same process as
the intake (the in-process queue), posting its card and stage comments to the simulator: the
latency of the 202s while real tasks run beside them. The run waits for every task to end and
checks each completed. The verdict row names the mode measured (comments only, with commands,
or --intake-only) and the machine's load before and after.

Goal: p99 < 50 ms at 100 deliveries per second for 60 s. Besides the latencies it prints the time
spent inside the app, how late the server's event loop ran, and the server's CPU per kind of thread.
`--profile` runs py-spy (not a dependency: `pip install py-spy` anywhere, then `--py-spy PATH` or
have it on PATH) on the server while it is sent to, sampling only the thread that holds the GIL
100 times a second without pausing the process, and prints the share of each kind of work and its
CPU milliseconds per delivery (py-spy costs a few percent, so read the latencies of a run without
it). `--intake-only` is a
diagnostic: the in-process queue's handler is replaced by a no-op after start-up, so deliveries stay
pending and the latency is that of the intake alone (the "handled once" check is then skipped).
Exit status: 0 whether the goal is met or not (this is a report); 1 when a delivery got no 2xx
answer or the deliveries table is not exactly one row per GUID, each handled once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import gc
import json
import math
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
import uvicorn.config
from validate import table

from app.playground.simulator import GitHubSimulator
from app.server.app import create_app
from app.settings import Settings

BENCH = Path(__file__).resolve().parent
LOAD = BENCH / "_webhook_load.py"
SECRET = "bench-webhook-secret"
REPO = "octo/demo"
GOAL_P99_S = 0.050
WARMUP = 20  # deliveries at 20/s before the measured ones (checked, not timed)
REDELIVER_EVERY = 100  # 1% of the GUIDs are delivered a second time
REDELIVER_AFTER_S = 0.5
COMMENTS_PER_ISSUE = 50
PIPELINE = """agents:
  - id: plan
    runtime: command
    command: ["echo", "plan: one function"]
    handoffs: [{to: build, condition: always}]
  - id: build
    runtime: command
    command: ["echo", "build: done"]
    handoffs: [{to: check, condition: always}]
  - id: check
    runtime: command
    command: ["echo", "check: 3 passed"]
"""
ACTIVE_TASKS = ("pending", "in_progress")
DRAIN_TIMEOUT_S = 120.0
PROFILE_RATE = 100  # py-spy samples per second
SETTLE_S = 3.0  # no new row for this long: the deliveries that timed out are not coming

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


class RunFailed(Exception):
    """The server, the sender or the deliveries table did not do what the benchmark needs."""


# ---- the server: the app on uvicorn in a thread, and what it saw ----------------------------------


@dataclass
class ServerSide:
    """Seconds each `POST /webhook` spent inside the app, and the event loop's lateness."""

    in_app_s: list[float] = field(default_factory=list)
    loop_lag_s: list[float] = field(default_factory=list)
    gc_pauses: list[tuple[int, float]] = field(default_factory=list)  # (generation, seconds)
    _gc_started: float = 0.0

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        """gc.callbacks hook: how long each collection stopped the process (every thread)."""
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc_pauses.append((int(info["generation"]), time.perf_counter() - self._gc_started))


def timed(app: Asgi, seen: ServerSide) -> Asgi:
    """ASGI wrapper: how long the app took from the request to the last byte of its answer."""

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != "/webhook":
            await app(scope, receive, send)
            return
        begin = time.perf_counter()

        async def sending(message: MutableMapping[str, Any]) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                seen.in_app_s.append(time.perf_counter() - begin)

        await app(scope, receive, sending)

    return wrapper


async def watch_loop(seen: ServerSide, stop: asyncio.Event, period_s: float = 0.005) -> None:
    """How late a 5 ms sleep wakes up: the time the loop was busy with something else."""
    while not stop.is_set():
        begin = time.perf_counter()
        await asyncio.sleep(period_s)
        seen.loop_lag_s.append(time.perf_counter() - begin - period_s)


@contextlib.contextmanager
def served(app: Asgi, log_file: Path, seen: ServerSide) -> Iterator[int]:
    """uvicorn as `aqm serve` runs it, on 127.0.0.1 (a free port) in a thread; yields the port."""
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    for handler in log_config["handlers"].values():
        handler.clear()
        handler.update({"class": "logging.FileHandler", "filename": str(log_file), "formatter": "default"})
    log_config["formatters"]["default"]["use_colors"] = False
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="info", log_config=log_config)
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    async def serve() -> None:
        stop = asyncio.Event()
        watcher = asyncio.create_task(watch_loop(seen, stop))
        try:
            await server.serve()
        finally:
            stop.set()
            await watcher

    def target() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target, name="aqm-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if failure or not thread.is_alive() or time.monotonic() > deadline:
            raise RunFailed(f"the app did not start (see {log_file}): {failure[0] if failure else ''}")
        time.sleep(0.01)
    try:
        yield int(server.servers[0].sockets[0].getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=30)


# ---- --profile: where the server's CPU goes, sampled by py-spy ---------------------------------------

# (category, ((path part, function or "*"), ...)): the first category one of whose patterns matches
# a frame of the sample wins. Frames are py-spy's "function (path:line)".
CATEGORIES: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("queue: githubkit parse() of the payload", (("app/github/webhook.py", "parse_event"),)),
    (
        "queue: the rest of handling (store get/start/finish)",
        (("app/github/services.py", "*"), ("app/github/router.py", "*"), ("app/github/job.py", "*")),
    ),
    ("request: record_delivery (statement, aiosqlite)", (("app/store/github.py", "record_delivery"),)),
    ("request: signature check + JSON action", (("app/github/webhook.py", "*"),)),
    (
        "request: FastAPI dependency solving (sync deps)",
        (("fastapi/dependencies/utils.py", "solve_dependencies"), ("starlette/concurrency.py", "*")),
    ),
    ("request: logging (uvicorn's access log)", (("logging/__init__.py", "*"),)),
    ("request: the endpoint's own code (enqueue, answer)", (("app/server/app.py", "*"),)),
    (
        "request: uvicorn, h11, Starlette, FastAPI",
        (("uvicorn/", "*"), ("h11/", "*"), ("starlette/", "*"), ("fastapi/", "*")),
    ),
    ("SQLAlchemy/aiosqlite in a greenlet (either path)", (("sqlalchemy/", "*"), ("aiosqlite/", "*"))),
    ("asyncio: callbacks, accept, close, select", (("asyncio/", "*"), ("selectors.py", "*"))),
)


@contextlib.contextmanager
def py_spy(executable: str | None, output: Path, rate: int) -> Iterator[None]:
    """`py-spy record` of this process (only the thread holding the GIL, without pausing it)."""
    if executable is None:
        yield
        return
    argv = [executable, "record", "--pid", str(os.getpid()), "--nonblocking", "--gil", "--threads"]
    argv += ["--format", "raw", "--rate", str(rate), "--output", str(output)]
    spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        _, errors = spy.communicate(timeout=60)
        if not output.is_file():
            raise RunFailed(f"py-spy wrote no profile (exit {spy.returncode}): {errors.strip()}")


def classify(thread: str, frames: Sequence[str]) -> str:
    if "aqm-serve" not in thread:
        kind = next((label for key, label in THREAD_KINDS if key in thread), None)
        return f"thread: {kind or thread}"
    for category, patterns in CATEGORIES:
        for frame in frames:
            function, _, where = frame.rpartition(" (")
            if any(part in where and _named(function, name) for part, name in patterns):
                return category
    return "other"


def _named(function: str, name: str) -> bool:
    """py-spy names methods `Class.method` and closures `outer.<locals>.inner`."""
    return name in ("*", function) or function.endswith("." + name)


def profile_report(raw: Path, rate: int, deliveries: int) -> str:
    counts: dict[str, int] = {}
    for line in raw.read_text(encoding="utf-8").splitlines():
        stack, _, number = line.rpartition(" ")
        thread, *frames = stack.split(";")
        category = classify(thread, frames)
        counts[category] = counts.get(category, 0) + int(number)
    total = sum(counts.values()) or 1
    rows = [
        [category, f"{100 * count / total:.0f}%", f"{1000 * count / rate / deliveries:.2f}"]
        for category, count in sorted(counts.items(), key=lambda item: -item[1])
    ]
    header = [f"holding the GIL (py-spy, {total} samples at {rate}/s)", "share", "ms per delivery"]
    return table(header, rows)


# ---- the deliveries ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    lines: list[str]  # the schedule, one JSON object a line, for the sender
    guids: list[str]  # every distinct GUID sent
    counts: dict[str, int]  # warmup / new / redelivery


def plan_deliveries(sim: GitHubSimulator, seconds: float, rate: float, commands: float = 0.0) -> Plan:
    """Signed `issue_comment.created` deliveries of comments without a command, with their times;
    with `commands`, that share of the measured ones are `/aqm run` comments (kind "command")."""
    hooks = sim.deliverer(None, secret=SECRET)
    total = round(seconds * rate)
    every = round(1 / commands) if commands > 0 else 0  # each `every`-th measured delivery
    lines: list[str] = []
    guids: list[str] = []
    redelivered: list[tuple[float, Any]] = []
    counts = {"warmup": WARMUP, "new": total, "redelivery": 0, "command": 0}
    warmup_s = WARMUP / 20.0
    issue = None
    for index in range(WARMUP + total):
        if index % COMMENTS_PER_ISSUE == 0:  # payloads count the thread's comments: keep threads short
            issue = sim.open_issue(REPO, f"Latency {index}", "Comments without a command.", user="maintainer")
        assert issue is not None
        user = ("maintainer", "outsider")[index % 2]
        body = f"Thanks, this looks right to me (comment {index}, no command here)."
        comment = sim.add_comment(REPO, issue.number, user=user, body=body)
        delivery = hooks.build(
            "issue_comment", hooks.payloads.issue_comment("created", comment, comment.user)
        )
        if index < WARMUP:
            at, kind = index / 20.0, "warmup"
        elif (
            every
            and (index - WARMUP) % every == every // 2
            and (index - WARMUP) % REDELIVER_EVERY != REDELIVER_EVERY // 2  # a comment's redelivery slot
        ):
            at, kind = warmup_s + 0.5 + (index - WARMUP) / rate, "command"
            delivery = run_command(sim, hooks, index)
            counts["command"] += 1
        else:
            at, kind = warmup_s + 0.5 + (index - WARMUP) / rate, "new"
            if (index - WARMUP) % REDELIVER_EVERY == REDELIVER_EVERY // 2:
                redelivered.append((at + REDELIVER_AFTER_S + 0.5 / rate, delivery))
        lines.append(_line(at, kind, delivery))
        guids.append(delivery.guid)
    for at, delivery in redelivered:
        lines.append(_line(at, "redelivery", delivery))
    counts["redelivery"] = len(redelivered)
    return Plan(lines, guids, counts)


def run_command(sim: GitHubSimulator, hooks: Any, index: int) -> Any:
    """A maintainer's `/aqm run` on an issue of its own (one task per thread), as a delivery."""
    issue = sim.open_issue(REPO, f"Task {index}", "Please run the pipeline.", user="maintainer")
    comment = sim.add_comment(REPO, issue.number, user="maintainer", body="/aqm run")
    return hooks.build("issue_comment", hooks.payloads.issue_comment("created", comment, comment.user))


def _line(at: float, kind: str, delivery: Any) -> str:
    return json.dumps(
        {
            "at": round(at, 6),
            "kind": kind,
            "guid": delivery.guid,
            "headers": dict(delivery.headers),
            "body": delivery.body.decode(),
        }
    )


def send(schedule: Path, results: Path, url: str, timeout_s: float) -> list[dict[str, Any]]:
    """Run the sender in its own process; its results, one per delivery."""
    argv = [sys.executable, str(LOAD), str(schedule), str(results), "--url", url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise RunFailed(f"the sender exited {done.returncode}:\n{done.stdout}{done.stderr}")
    loaded: list[dict[str, Any]] = json.loads(results.read_text(encoding="utf-8"))
    return loaded


# ---- checking the deliveries table -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recorded:
    rows: int
    distinct: int
    statuses: dict[str, int]
    attempts: dict[int, int]
    ids: set[str]
    drain_s: float


def wait_until_handled(database: Path, expected: int, intake_only: bool) -> Recorded:
    """Poll the deliveries table until nothing is pending (the in-process queue has handled all)."""
    begin = time.monotonic()
    rows, still_since = -1, begin
    while True:
        recorded = read_deliveries(database, time.monotonic() - begin)
        if recorded.rows != rows:
            rows, still_since = recorded.rows, time.monotonic()
        settled = recorded.rows >= expected or time.monotonic() - still_since > SETTLE_S
        if (intake_only or recorded.statuses.get("pending", 0) == 0) and settled:
            return recorded
        if time.monotonic() - begin > DRAIN_TIMEOUT_S:
            return recorded
        time.sleep(0.2)


def wait_for_tasks(database: Path, expected: int) -> dict[str, int]:
    """With --commands: poll the tasks table until the tasks the commands started have all ended."""
    begin = time.monotonic()
    while True:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)) as db:
            statuses = dict(db.execute("SELECT status, count(*) FROM tasks GROUP BY status").fetchall())
        ended = sum(n for status, n in statuses.items() if status not in ACTIVE_TASKS)
        if ended >= expected or time.monotonic() - begin > DRAIN_TIMEOUT_S:
            return statuses
        time.sleep(0.2)


def read_deliveries(database: Path, drain_s: float) -> Recorded:
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)) as db:
        rows = db.execute("SELECT id, status, attempts FROM deliveries").fetchall()
    statuses: dict[str, int] = {}
    attempts: dict[int, int] = {}
    for _id, status, attempt in rows:
        statuses[status] = statuses.get(status, 0) + 1
        attempts[attempt] = attempts.get(attempt, 0) + 1
    ids = {row[0] for row in rows}
    return Recorded(len(rows), len(ids), statuses, attempts, ids, drain_s)


# ---- CPU of the server process, per kind of thread ------------------------------------------------

THREAD_KINDS = (
    ("aqm-serve", "event loop (requests + in-process queue)"),
    ("_connection_worker_thread", "aiosqlite connection threads"),
    ("AnyIO worker thread", "AnyIO worker threads (sync FastAPI dependencies)"),
    ("MainThread", "the benchmark's main thread (waits)"),
)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def thread_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) of each live thread of this process, with its Python name."""
    found: dict[int, tuple[str, float]] = {}
    for thread in threading.enumerate():
        native = thread.native_id
        if native is None:
            continue
        try:
            fields = Path(f"/proc/self/task/{native}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        found[native] = (thread.name, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
    return found


@dataclass(frozen=True, slots=True)
class CpuUse:
    wall_s: float
    process_s: float  # every thread of this process, those that ended too
    by_kind: dict[str, float]


def cpu_between(before: tuple[float, float, dict[int, tuple[str, float]]]) -> CpuUse:
    wall, process, threads = before
    now = thread_cpu()
    by_kind: dict[str, float] = {}
    for native, (name, seconds) in now.items():
        kind = next((label for key, label in THREAD_KINDS if key in name), f"other ({name})")
        by_kind[kind] = by_kind.get(kind, 0.0) + seconds - threads.get(native, (name, 0.0))[1]
    return CpuUse(time.perf_counter() - wall, time.process_time() - process, by_kind)


def cpu_mark() -> tuple[float, float, dict[int, tuple[str, float]]]:
    return time.perf_counter(), time.process_time(), thread_cpu()


# ---- the report --------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def mode_label(intake_only: bool, commands: float) -> str:
    """What a run measured, named in its verdict row: the figures of the modes differ."""
    if intake_only:
        return "--intake-only: the intake alone, nothing handled"
    if commands > 0:
        return f"{commands:.0%} `/aqm run` commands, their pipelines running in the same process"
    return "comments without a command, handled in the same process (no pipeline runs)"


def latency_report(
    results: list[dict[str, Any]], plan: Plan, seconds: float, rate: float, mode: str, load: str
) -> tuple[str, bool]:
    measured = [r for r in results if r["kind"] != "warmup"]
    latencies = [float(r["latency_s"]) for r in measured]
    lags = [float(r["lag_s"]) for r in measured]
    errors = [r for r in results if not 200 <= int(r["status"]) < 300]
    p99 = percentile(latencies, 0.99)
    verdict = "PASS" if p99 < GOAL_P99_S else "MISS"
    commands = [float(r["latency_s"]) for r in measured if r["kind"] == "command"]
    rows = [
        [
            "deliveries timed",
            f"{len(measured)} ({plan.counts['new']} new + {plan.counts['redelivery']} redelivered;"
            f" {plan.counts['command']} of the new are /aqm run)",
            "",
        ],
        ["rate × duration", f"{rate:g}/s × {seconds:g} s, open loop, a connection each", ""],
        ["p50 (ms)", ms(percentile(latencies, 0.50)), ""],
        ["p95 (ms)", ms(percentile(latencies, 0.95)), ""],
        [f"p99 (ms), {mode}", ms(p99), f"< {GOAL_P99_S * 1000:g} ms: {verdict} ({load})"],
        ["max (ms)", ms(max(latencies)), ""],
        ["mean (ms)", ms(statistics.fmean(latencies)), ""],
        ["errors (no 2xx)", f"{len(errors)} of {len(results)}", "none: PASS" if not errors else "FAIL"],
        [
            "sender lag p99 / max (ms)",
            f"{ms(percentile(lags, 0.99))} / {ms(max(lags))}",
            "how late requests started",
        ],
    ]
    if commands:
        rows.append(
            [
                "  of which /aqm run: p50 / p99 (ms)",
                f"{ms(percentile(commands, 0.5))} / {ms(percentile(commands, 0.99))}",
                "",
            ]
        )
    for error in errors[:5]:
        rows.append(
            ["  e.g.", f"{error['kind']} {error['guid']}: {error['status']} {error['error'] or ''}", ""]
        )
    return table(["measure", "value", "goal"], rows), not errors


def server_report(seen: ServerSide) -> str:
    in_app = seen.in_app_s
    lag = seen.loop_lag_s
    rows = [
        [
            "inside the app (ASGI call → last byte)",
            ms(percentile(in_app, 0.5)),
            ms(percentile(in_app, 0.99)),
            ms(max(in_app)),
        ],
        [
            "event-loop lag (a 5 ms sleep's overshoot)",
            ms(percentile(lag, 0.5)),
            ms(percentile(lag, 0.99)),
            ms(max(lag)),
        ],
    ]
    for generation in (0, 1, 2):
        pauses = [seconds for gen, seconds in seen.gc_pauses if gen == generation]
        if pauses:
            label = f"garbage collections, generation {generation} ({len(pauses)}×)"
            rows.append([label, ms(percentile(pauses, 0.5)), ms(percentile(pauses, 0.99)), ms(max(pauses))])
    return table(["server side (all requests incl. warm-up)", "p50 (ms)", "p99 (ms)", "max (ms)"], rows)


def cpu_report(cpu: CpuUse, deliveries: int) -> str:
    rows = [
        [kind, f"{seconds:.1f}", f"{100 * seconds / cpu.wall_s:.0f}%", f"{1000 * seconds / deliveries:.2f}"]
        for kind, seconds in sorted(cpu.by_kind.items(), key=lambda item: -item[1])
        if seconds >= 0.05
    ]
    ended = cpu.process_s - sum(cpu.by_kind.values())
    if ended >= 0.05:
        rows.append(
            [
                "threads that ended meanwhile (closed connections, idle workers)",
                f"{ended:.1f}",
                f"{100 * ended / cpu.wall_s:.0f}%",
                f"{1000 * ended / deliveries:.2f}",
            ]
        )
    rows.append(
        [
            "the whole server process",
            f"{cpu.process_s:.1f}",
            f"{100 * cpu.process_s / cpu.wall_s:.0f}%",
            f"{1000 * cpu.process_s / deliveries:.2f}",
        ]
    )
    header = [f"server CPU while sending ({cpu.wall_s:.0f} s)", "CPU s", "of one core", "ms per delivery"]
    return table(header, rows)


def records_report(
    recorded: Recorded,
    plan: Plan,
    results: list[dict[str, Any]],
    intake_only: bool,
    tasks: dict[str, int] | None = None,
) -> tuple[str, bool]:
    sent = set(plan.guids)
    redeliveries = [r for r in results if r["kind"] == "redelivery"]
    by_guid: dict[str, list[bool | None]] = {}
    for result in results:
        by_guid.setdefault(result["guid"], []).append(result["duplicate"])
    overtaken = sum(r["duplicate"] is False for r in redeliveries)  # the redelivery was recorded first
    checks = [
        (
            "rows == distinct GUIDs sent",
            recorded.rows == len(sent),
            f"{recorded.rows} rows, {len(sent)} sent",
        ),
        ("no GUID twice", recorded.rows == recorded.distinct, f"{recorded.distinct} distinct ids"),
        (
            "every GUID sent is there",
            recorded.ids == sent,
            f"{len(sent - recorded.ids)} missing, {len(recorded.ids - sent)} unknown",
        ),
        (
            "each GUID answered new once, else duplicate",
            all(a.count(False) == 1 and a.count(True) == len(a) - 1 for a in by_guid.values()),
            f"{len(redeliveries)} redelivered; {overtaken} overtook their original",
        ),
        (
            "each handled once: ignored, or (/aqm run) done",
            handled_once(recorded, len(sent), plan.counts["command"]),
            f"statuses {recorded.statuses}, attempts {recorded.attempts}",
        ),
    ]
    if plan.counts["command"] and not intake_only:
        completed = (tasks or {}).get("completed", 0)
        checks.append(
            (
                "each /aqm run's task completed",
                tasks == {"completed": plan.counts["command"]},
                f"{completed} of {plan.counts['command']}; tasks {tasks}",
            )
        )
    if intake_only:
        checks[-1] = ("handled (skipped: --intake-only)", True, f"statuses {recorded.statuses}")
    rows = [[name, "PASS" if ok else "FAIL", detail] for name, ok, detail in checks]
    rows.append(["queue drained after the last send", "", f"{recorded.drain_s:.1f} s"])
    return table(["deliveries table", "result", "detail"], rows), all(ok for _, ok, _ in checks)


def handled_once(recorded: Recorded, sent: int, commands: int) -> bool:
    """Every delivery handled in one attempt: the comments ignored, the commands done."""
    expected = {"ignored": sent - commands, "done": commands} if commands else {"ignored": sent}
    return recorded.statuses == expected and recorded.attempts == {1: sent}


# ---- main --------------------------------------------------------------------------------------


async def _leave_pending(_delivery_id: str) -> None:
    """--intake-only: the in-process queue takes deliveries and does nothing with them."""


def benchmark(
    seconds: float,
    rate: float,
    *,
    spy: str | None,
    intake_only: bool,
    keep: Path | None = None,
    commands: float = 0.0,
) -> int:
    with tempfile.TemporaryDirectory(prefix="aqm-bench-webhook-") as temp:
        root = Path(temp)
        sim = GitHubSimulator(root / "github")
        seeded = sim.seed_standard(files={"README.md": "# demo\n", ".aqm/agents.yaml": PIPELINE})
        settings = Settings(
            data_dir=root / "aqm-data",
            github_api_url=sim.base_url,
            github_app_id=str(seeded.app.id),
            github_private_key=seeded.key.private_pem,
            github_webhook_secret=SECRET,
            api_token="bench",
        )
        print(f"building {WARMUP + round(seconds * rate)} signed deliveries ...", file=sys.stderr)
        plan = plan_deliveries(sim, seconds, rate, commands)
        schedule = root / "schedule.jsonl"
        schedule.write_text("\n".join(plan.lines) + "\n", encoding="utf-8")
        seen = ServerSide()
        results_file = keep or root / "results.json"
        app = create_app(settings, github_transport=sim.transport())
        with served(timed(app, seen), root / "server.log", seen) as port:
            if intake_only:
                app.state.queue.handle = _leave_pending
            url = f"http://127.0.0.1:{port}/webhook"
            print(f"sending to {url} for {seconds:g} s at {rate:g}/s ...", file=sys.stderr)
            load_before, before = os.getloadavg(), cpu_mark()
            gc.callbacks.append(seen.on_gc)
            with py_spy(spy, root / "profile.txt", PROFILE_RATE):
                results = send(schedule, results_file, url, timeout_s=seconds + WARMUP + 120)
            load_after, cpu = os.getloadavg(), cpu_between(before)
            gc.callbacks.remove(seen.on_gc)
            recorded = wait_until_handled(settings.data_dir / "aqm.db", len(plan.guids), intake_only)
            tasks = None
            if plan.counts["command"] and not intake_only:
                tasks = wait_for_tasks(settings.data_dir / "aqm.db", plan.counts["command"])
        mode = mode_label(intake_only, commands)
        load = f"load {load_before[0]:.2f} before, {load_after[0]:.2f} after / {os.cpu_count()} CPUs"
        latency, answered = latency_report(results, plan, seconds, rate, mode, load)
        records, exact = records_report(recorded, plan, results, intake_only, tasks)
        print()
        print(f"{load}; {mode}")
        print()
        print(latency)
        print()
        print(server_report(seen))
        print()
        print(cpu_report(cpu, len(results)))
        print()
        print(records)
        if spy is not None:
            print()
            print(profile_report(root / "profile.txt", PROFILE_RATE, len(results)))
        return 0 if answered and exact else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to send (default 60)")
    parser.add_argument("--rate", type=float, default=100.0, help="deliveries per second (default 100)")
    parser.add_argument(
        "--profile", action="store_true", help="sample the server with py-spy (on PATH, or --py-spy)"
    )
    parser.add_argument("--py-spy", type=Path, help="the py-spy executable for --profile")
    parser.add_argument("--results", type=Path, help="also keep the per-delivery results (JSON) there")
    parser.add_argument(
        "--intake-only", action="store_true", help="diagnostic: the in-process queue handles nothing"
    )
    parser.add_argument(
        "--commands",
        type=float,
        default=0.0,
        help="share of the deliveries that are /aqm run commands whose pipelines run in process (e.g. 0.05)",
    )
    parser.add_argument("--quick", action="store_true", help="a check that it works: 10 s instead of 60")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds = 10.0
    if args.seconds <= 0 or args.rate <= 0:
        parser.error("--seconds and --rate must be positive")
    if not 0 <= args.commands <= 0.5:
        parser.error("--commands is a share between 0 and 0.5")
    spy = None
    if args.profile:
        spy = str(args.py_spy) if args.py_spy else shutil.which("py-spy")
        if spy is None:
            parser.error("--profile needs py-spy: pip install py-spy (any venv) and pass --py-spy PATH")
    try:
        return benchmark(
            args.seconds,
            args.rate,
            spy=spy,
            intake_only=args.intake_only,
            keep=args.results,
            commands=args.commands,
        )
    except (RunFailed, subprocess.TimeoutExpired) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
