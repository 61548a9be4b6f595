"""GitHub API calls of one task: fixed per task, and per stage, counted by the GitHub simulator.

The real app (`create_app`, SQLite and the in-process queue in a temp dir) and the simulator run
in process (githubkit's transport is the simulator's ASGI app). A maintainer comments `/aqm run`
on an issue, then on a pull request (check runs exist on PRs only), of a repository whose
`.aqm/agents.yaml` is a linear 5-stage pipeline of `command` stages (the first writes a file, so
the task ends with a commit and a PR; no gates). The simulator's `traffic` counts the calls by
operation. A transport wrapped around the simulator's also notes, for each call, the app's own
frames on the stack: the function and line in app/github/ that made it, and — for calls made by
the run's `Reporter` — the engine notification (`stage_started`, `stage_finished`, `task_ended`)
it was reporting. A call made while reporting `stage_started` or `stage_finished` is a per-stage
call; every other call is fixed per task (token, permission, config reads, first card, check-run
creation, checkout token, instruction files, the final card, the PR). For edits it notes whether
the comment's text (or the check run's status) changed at all.

    .venv/bin/python bench/github_calls.py

Prints per operation the fixed and per-stage calls for the issue and the PR, the average per stage
against the goal (≤ 3), and every call site with its count. Exit status: 0 whether the goal is
met or not (this is a report); 1 when a run does not complete with its PR.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from validate import table

from app.playground.simulator import GitHubSimulator
from app.queue import InProcessQueue
from app.server.app import create_app
from app.settings import Settings

SECRET = "bench-webhook-secret"
REPO = "octo/demo"
STAGES = 5
GOAL_PER_STAGE = 3.0
PER_STAGE_NOTES = ("stage_started", "stage_finished")
APP_ROOT = Path(__file__).resolve().parent.parent / "app"
SHOWN_FILES = (  # call sites are named by these frames
    "github/runs.py",
    "github/reporting.py",
    "github/publishing.py",
    "github/config.py",
    "github/job.py",
    "github/services.py",
    "github/router.py",
    *(
        f"github/handlers/{name}.py"
        for name in ("comments", "task_commands", "reviews", "check_runs", "pushes", "triggers")
    ),
)
SITE_DEPTH = 3  # the innermost frames of SHOWN_FILES shown per call site

PIPELINE = f"""\
# {STAGES} command stages, the first one writes a file; no gates
agents:
  - id: writer
    runtime: command
    command: ["sh", "-c", "printf 'def greet(name):\\\\n    return name\\\\n' > greet.py; echo ok"]
    handoffs: [{{to: lint}}]
  - id: lint
    runtime: command
    command: ["echo", "lint: clean"]
    handoffs: [{{to: tests}}]
  - id: tests
    runtime: command
    command: ["echo", "3 passed"]
    handoffs: [{{to: docs}}]
  - id: docs
    runtime: command
    command: ["echo", "docs: nothing to change"]
    handoffs: [{{to: summary}}]
  - id: summary
    runtime: command
    command: ["echo", "done: greet() added"]
"""


class RunFailed(Exception):
    """The task did not complete as the benchmark needs."""


# ---- who made each call ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call:
    operation: str  # as the simulator names it (githubkit's method name)
    status: int
    site: str  # the innermost app frames that made it, outermost first: "runs.py:196 start → ..."
    gateway: str  # the GitHubGateway method
    note: str | None  # the Reporter's notification being reported, if any
    stage: int | None
    unchanged: bool | None  # an edit: True when the text (comment) or status (check run) did not change

    @property
    def per_stage(self) -> bool:
        return self.note in PER_STAGE_NOTES


@dataclass
class Recorder(httpx.AsyncBaseTransport):
    """The simulator's transport, noting for every request the app frames that made it."""

    sim: GitHubSimulator
    inner: httpx.AsyncBaseTransport
    calls: list[Call] = field(default_factory=list)
    last_body: dict[str, str] = field(default_factory=dict)  # per URL: the last text / status sent

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        site, gateway, note, stage = _origin(sys._getframe(1))
        unchanged = self._unchanged(request)
        mark = self.sim.traffic.mark()
        response = await self.inner.handle_async_request(request)
        logged = self.sim.traffic.log[mark:]
        if len(logged) != 1:
            raise RunFailed(
                f"expected one simulator call for {request.method} {request.url}, got {len(logged)}"
            )
        operation = logged[0].operation
        if operation == "apps.create_installation_access_token" and gateway != "installation_token":
            gateway = f"{gateway} (githubkit's auth)"
        self.calls.append(Call(operation, logged[0].status, site, gateway, note, stage, unchanged))
        return response

    def _unchanged(self, request: httpx.Request) -> bool | None:
        if request.method != "PATCH":
            return None
        payload: dict[str, Any] = json.loads(request.content or b"{}")
        key = str(request.url.path)
        if "/check-runs/" in key:  # its status: what the goal counts
            value = json.dumps([payload.get("status"), payload.get("conclusion")])
        else:
            value = hashlib.sha256(str(payload.get("body")).encode()).hexdigest()
        unchanged = self.last_body.get(key) == value
        self.last_body[key] = value
        return unchanged

    async def aclose(self) -> None:
        await self.inner.aclose()


def _origin(frame: FrameType | None) -> tuple[str, str, str | None, int | None]:
    """The app/github frames on the stack (outermost first), the gateway method and the note."""
    sites: list[str] = []
    gateway = "?"
    note: str | None = None
    stage: int | None = None
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if path.is_relative_to(APP_ROOT):
            relative = path.relative_to(APP_ROOT).as_posix()
            if relative == "github/gateway.py" and _name(frame) not in ("call", "<lambda>"):
                gateway = _name(frame)  # the outermost: the method the GitHub core (app/github/) called
            if relative in SHOWN_FILES:
                sites.append(f"{path.name}:{frame.f_lineno} {_name(frame)}")
            reported = frame.f_locals.get("note") if frame.f_code.co_name == "_work" else None
            if reported is not None and note is None:
                note, stage = str(getattr(reported, "kind", "")), getattr(reported, "stage", None)
        frame = frame.f_back
    return " → ".join(reversed(sites[:SITE_DEPTH])), gateway, note, stage


def _name(frame: FrameType) -> str:
    return frame.f_code.co_name


# ---- one run -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Run:
    label: str  # issue | pull request
    calls: list[Call]
    traffic: Counter[str]  # the simulator's own count of the run's calls
    stage_comments: int
    thread: str


async def run_once(root: Path, *, pull: bool) -> Run:
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
    recorder = Recorder(sim, sim.transport())
    app = create_app(settings, github_transport=recorder)
    async with app.router.lifespan_context(app):
        queue = app.state.queue
        assert isinstance(queue, InProcessQueue)
        hooks = sim.deliverer(
            "http://aqm.bench/webhook", transport=httpx.ASGITransport(app=app), secret=SECRET
        )
        if pull:
            sim.commit(REPO, {"feature.txt": "a feature\n"}, branch="feature", message="A feature")
            item = sim.open_pull(
                REPO, head="feature", title="A feature", body="Adds a feature.", user="outsider"
            )
        else:
            item = sim.open_issue(
                REPO, "Add greet()", "Please add a greet(name) function.", user="maintainer"
            )
        mark = sim.traffic.mark()
        delivery = await hooks.comment_created(REPO, item.number, "maintainer", "/aqm run")
        if delivery.response_status != 202:
            raise RunFailed(f"the app answered {delivery.response_status} to the /aqm run delivery")
        await queue.join()
        traffic = sim.traffic.since(mark)
        thread = sim.thread(REPO, item.number)
    comments = sum(1 for c in recorder.calls if c.operation == "issues.create_comment" and c.per_stage)
    label = "pull request" if pull else "issue"
    if "Completed" not in thread or "aqm/T-" not in thread:
        raise RunFailed(f"the task on the {label} did not complete with its PR:\n{thread}")
    if Counter(c.operation for c in recorder.calls) != traffic:
        raise RunFailed("the recorded calls and the simulator's traffic disagree")
    return Run(label, recorder.calls, traffic, comments, thread)


# ---- the report --------------------------------------------------------------------------------


def operations_table(runs: Sequence[Run]) -> str:
    operations = sorted({c.operation for run in runs for c in run.calls})
    header = ["operation"] + [f"{run.label}: {kind}" for run in runs for kind in ("per task", "per stage")]
    rows = []
    for operation in operations:
        row = [operation]
        for run in runs:
            fixed = sum(1 for c in run.calls if c.operation == operation and not c.per_stage)
            staged = sum(1 for c in run.calls if c.operation == operation and c.per_stage)
            row += [str(fixed or ""), f"{staged} ({staged / STAGES:g}/stage)" if staged else ""]
        rows.append(row)
    totals = ["total"]
    for run in runs:
        fixed = sum(1 for c in run.calls if not c.per_stage)
        staged = sum(1 for c in run.calls if c.per_stage)
        totals += [str(fixed), f"{staged} ({staged / STAGES:g}/stage)"]
    rows.append(totals)
    return table(header, rows)


def goal_table(runs: Sequence[Run]) -> str:
    rows = []
    for run in runs:
        staged = [c for c in run.calls if c.per_stage]
        average = len(staged) / STAGES
        unchanged = sum(1 for c in staged if c.unchanged)
        rows.append(
            [
                run.label,
                str(len(run.calls)),
                str(len(run.calls) - len(staged)),
                str(len(staged)),
                f"{average:.1f}",
                f"{unchanged}",
                f"≤ {GOAL_PER_STAGE:g}",
                "PASS" if average <= GOAL_PER_STAGE else "MISS",
            ]
        )
    header = [
        f"{STAGES}-stage task on",
        "calls",
        "per task",
        "per stage (all stages)",
        "average per stage",
        "of which no-op",
        "goal",
        "result",
    ]
    return table(header, rows)


def sites_table(runs: Sequence[Run], *, per_stage: bool) -> str:
    keys: list[tuple[str, str, str, str]] = []
    counts: dict[tuple[str, str, str, str], list[int]] = {}
    noops: dict[tuple[str, str, str, str], list[int]] = {}
    for index, run in enumerate(runs):
        for call in run.calls:
            if call.per_stage != per_stage:
                continue
            key = (call.operation, call.gateway, call.note or "", call.site or "(no app frame)")
            if key not in counts:
                keys.append(key)
                counts[key] = [0] * len(runs)
                noops[key] = [0] * len(runs)
            counts[key][index] += 1
            noops[key][index] += 1 if call.unchanged else 0
    header = ["operation", "gateway method", "reporting", "call site (innermost frames in app/github)"]
    header += [f"{run.label}" for run in runs] + [f"{run.label}: no-op" for run in runs]
    rows = [
        [*key, *(str(n) for n in counts[key]), *(str(n) if n else "" for n in noops[key])] for key in keys
    ]
    return table(header, rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--show-threads", action="store_true", help="print both threads as a user reads them")
    args = parser.parse_args(argv)
    runs: list[Run] = []
    try:
        for pull in (False, True):
            with tempfile.TemporaryDirectory(prefix="aqm-bench-calls-") as temp:
                runs.append(asyncio.run(run_once(Path(temp), pull=pull)))
    except RunFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"A {STAGES}-stage pipeline of command stages (the first writes a file, no gates), "
        "`/aqm run` by a maintainer; calls counted by the simulator."
    )
    for run in runs:
        print(f"  {run.label}: {len(run.calls)} calls, {run.stage_comments} stage comments")
    print()
    print(goal_table(runs))
    print()
    print(operations_table(runs))
    print()
    print("Per-stage calls (made while reporting stage_started / stage_finished), by call site:")
    print(sites_table(runs, per_stage=True))
    print()
    print("Calls per task, by call site:")
    print(sites_table(runs, per_stage=False))
    if args.show_threads:
        for run in runs:
            print()
            print(run.thread)
    return 0


if __name__ == "__main__":
    sys.exit(main())
