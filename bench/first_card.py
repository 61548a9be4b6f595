"""Time from posting a `/aqm run` delivery to the run card existing on GitHub (the simulator).

Both sides on real loopback sockets: the real app (`create_app`, SQLite in a temp dir, the
in-process queue) on uvicorn in a thread, the GitHub simulator served by `sim.serve()` in another
(the app's githubkit talks HTTP to it). Each run opens a new issue and posts a signed
`issue_comment.created` delivery of `/aqm run` by a collaborator with write access who has not
commented before (so the app asks GitHub for the permission every time, as for a new person; the
installation token is cached after the first run), then polls the simulator's state every
millisecond for the bot's comment with the run-card marker (`<!-- aqm:run-card`). The pipeline
is command stages (no fake CLIs needed); each run is let finish before the next.

The first run after start-up is reported on its own (cold: githubkit builds its response models
on first use, the first token is minted); then `--runs` (default 10) timed runs. The simulator
logs the start and end of every call it serves, so the report also shows, for the median run,
where the time went: each GitHub call before the card, and the app's own time between them.

    .venv/bin/python bench/first_card.py [--runs 10]

Goal: under 1 s (the median and the slowest of the timed runs). Exit status: 0 whether the goal
is met or not (this is a report); 1 when a run does not post its card within 30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import uvicorn.config
from validate import table

from app.playground.simulator import GitHubSimulator
from app.playground.simulator.state import Permission
from app.server.app import create_app
from app.settings import Settings

SECRET = "bench-webhook-secret"
REPO = "octo/demo"
MARKER = "<!-- aqm:run-card"
BOT = "aqm[bot]"
GOAL_S = 1.0
DEFAULT_RUNS = 10
CARD_TIMEOUT_S = 30.0
DONE_TIMEOUT_S = 120.0
POLL_S = 0.001
QUIET_S = 0.5  # no GitHub call for this long: the previous task is done
PIPELINE = """\
agents:
  - id: plan
    runtime: command
    command: ["echo", "plan: add greet(name)"]
    handoffs: [{to: build}]
  - id: build
    runtime: command
    command: ["sh", "-c", "echo 'def greet(name): return name' > greet.py; echo wrote greet.py"]
    handoffs: [{to: check}]
  - id: check
    runtime: command
    command: ["echo", "1 passed"]
"""

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


class RunFailed(Exception):
    """A run did not post its card (or did not finish) in time."""


# ---- the simulator's clock: when each call it served began and ended ---------------------------


@dataclass(frozen=True, slots=True)
class Served:
    start: float  # time.perf_counter()
    end: float
    method: str
    path: str


@dataclass
class Stopwatch:
    calls: list[Served] = field(default_factory=list)

    def wrap(self, app: Asgi) -> Asgi:
        async def timed(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            start = time.perf_counter()
            try:
                await app(scope, receive, send)
            finally:
                self.calls.append(Served(start, time.perf_counter(), scope["method"], scope["path"]))

        return timed


# ---- the app on uvicorn in a thread ------------------------------------------------------------


@contextlib.contextmanager
def served_app(app: Asgi, log_file: Path) -> Iterator[str]:
    """uvicorn as `aqm serve` runs it (log level info, into a file), on a free loopback port."""
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    for handler in log_config["handlers"].values():
        handler.clear()
        handler.update({"class": "logging.FileHandler", "filename": str(log_file), "formatter": "default"})
    log_config["formatters"]["default"]["use_colors"] = False
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="info", log_config=log_config)
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), name="aqm-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RunFailed(f"the app did not start (see {log_file})")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/webhook"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


# ---- one run -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timing:
    posted: float  # perf_counter when the delivery was about to be posted
    acknowledged_s: float  # the 202
    card_s: float  # the card seen in the simulator's state
    calls: list[Served]  # the simulator's calls from the post to the card


async def one_run(sim: GitHubSimulator, hooks: Any, watch: Stopwatch, user: str, number: int) -> Timing:
    issue = sim.open_issue(REPO, f"Add greet() #{number}", "Please add a greet(name) function.", user=user)
    first_call = len(watch.calls)
    posted = time.perf_counter()
    delivery = await hooks.comment_created(REPO, issue.number, user, "/aqm run")
    acknowledged = time.perf_counter() - posted
    if delivery.response_status != 202:
        raise RunFailed(f"the app answered {delivery.response_status} to the /aqm run delivery")
    while not _card_exists(sim, issue.number):
        if time.perf_counter() - posted > CARD_TIMEOUT_S:
            raise RunFailed(f"no run card on #{issue.number} after {CARD_TIMEOUT_S:g} s")
        await asyncio.sleep(POLL_S)
    card = time.perf_counter() - posted
    await _wait_until_done(sim, watch, issue.number)
    calls = [c for c in watch.calls[first_call:] if c.start <= posted + card]  # now all recorded
    return Timing(posted, acknowledged, card, calls)


def _card_exists(sim: GitHubSimulator, number: int) -> bool:
    comments = list(sim.world.comments.values())  # the simulator's thread adds to it
    return any(
        c.issue_number == number and c.repo == REPO and c.user.login == BOT and MARKER in c.body
        for c in comments
    )


async def _wait_until_done(sim: GitHubSimulator, watch: Stopwatch, number: int) -> None:
    """Until the card says the task ended and the app has made no call for a while, so that the
    next run's timeline holds only its own calls (the card can say "Completed" while the run's
    last stage comments, PR and final edit are still on their way)."""
    deadline = time.perf_counter() + DONE_TIMEOUT_S
    while time.perf_counter() < deadline:
        cards = [c.body for c in list(sim.world.comments.values()) if c.issue_number == number]
        cards = [body for body in cards if MARKER in body]
        ended = bool(cards) and any(word in cards[0] for word in ("Completed", "Failed", "Cancelled"))
        quiet = not watch.calls or time.perf_counter() - watch.calls[-1].end > QUIET_S
        if ended and quiet:
            return
        await asyncio.sleep(0.02)
    raise RunFailed(f"the task on #{number} did not end within {DONE_TIMEOUT_S:g} s")


# ---- the report --------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def summary(cold: Timing, timed: Sequence[Timing]) -> str:
    cards = [t.card_s for t in timed]
    median, slowest = statistics.median(cards), max(cards)
    rows = [
        ["cold: the first run after start-up", ms(cold.card_s), "", "", "(not in the goal)"],
        [
            f"timed runs ({len(timed)})",
            ms(median),
            ms(slowest),
            ms(min(cards)),
            "PASS" if median < GOAL_S and slowest < GOAL_S else "MISS",
        ],
        ["  of which the 202 (ack)", ms(statistics.median(t.acknowledged_s for t in timed)), "", "", ""],
    ]
    header = ["`/aqm run` → run card", "median (ms)", "max (ms)", "min (ms)", f"goal < {GOAL_S * 1000:g} ms"]
    return table(header, rows)


def timeline(run: Timing, label: str) -> str:
    """The simulator's calls of one run, from the post to the card, and the gaps between them."""
    rows = []
    cursor = run.posted
    in_calls = 0.0
    for call in run.calls:
        gap = call.start - cursor
        rows.append(
            [
                f"{call.method} {call.path}",
                ms(call.start - run.posted),
                ms(call.end - call.start),
                ms(max(gap, 0.0)),
            ]
        )
        in_calls += call.end - call.start
        cursor = max(cursor, call.end)
    rows.append(
        ["(card seen by the poll)", ms(run.card_s), "", ms(max(run.posted + run.card_s - cursor, 0.0))]
    )
    rows.append(["total inside the simulator's calls", "", ms(in_calls), ""])
    rows.append(["total in the app between calls", "", "", ms(run.card_s - in_calls)])
    header = [f"{label}: GitHub call", "starts at (ms)", "takes (ms)", "app time before it (ms)"]
    return table(header, rows)


# ---- main --------------------------------------------------------------------------------------


async def drive(sim: GitHubSimulator, url: str, watch: Stopwatch, runs: int) -> tuple[Timing, list[Timing]]:
    async with httpx.AsyncClient(timeout=30) as client:
        hooks = sim.deliverer(url, client=client, secret=SECRET)
        cold = await one_run(sim, hooks, watch, "dev0", 0)
        timed = [await one_run(sim, hooks, watch, f"dev{n}", n) for n in range(1, runs + 1)]
    return cold, timed


def benchmark(runs: int) -> int:
    with tempfile.TemporaryDirectory(prefix="aqm-bench-card-") as temp:
        root = Path(temp)
        sim = GitHubSimulator(root / "github")
        writers: dict[str, Permission] = {f"dev{n}": "write" for n in range(runs + 1)}
        seeded = sim.seed_standard(
            files={"README.md": "# demo\n", ".aqm/agents.yaml": PIPELINE}, collaborators=writers
        )
        watch = Stopwatch()
        sim.app = watch.wrap(sim.app)  # type: ignore[assignment]  # serve() serves sim.app
        logging.getLogger("aqm").setLevel(logging.ERROR)  # the API-token warning
        with sim.serve() as api_url:
            settings = Settings(
                data_dir=root / "aqm-data",
                github_api_url=api_url,
                github_app_id=str(seeded.app.id),
                github_private_key=seeded.key.private_pem,
                github_webhook_secret=SECRET,
                api_token="bench",
            )
            with served_app(create_app(settings), root / "server.log") as url:
                load_before = os.getloadavg()
                cold, timed = asyncio.run(drive(sim, url, watch, runs))
                load_after = os.getloadavg()
    median = sorted(timed, key=lambda t: t.card_s)[(len(timed) - 1) // 2]
    print(
        f"{os.cpu_count()} CPUs; load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; "
        "app and simulator on loopback HTTP"
    )
    print()
    print(summary(cold, timed))
    print()
    print(timeline(median, "median run"))
    print()
    print(timeline(cold, "cold run"))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help=f"timed runs (default {DEFAULT_RUNS})")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    try:
        return benchmark(args.runs)
    except RunFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
