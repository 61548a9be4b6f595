"""The Action's shell: one event from `GITHUB_EVENT_PATH`, handled by the GitHub core in this process.

It assembles the same services as the App (app/github/services.py) over a SQLite store in the
runner's temp folder, loads the thread's tasks saved on GitHub (action/state.py), records the event
as the run's one delivery and hands it to the core — the same commands, permissions, triggers, run
card, stage comments, check runs (or statuses) and sandboxed stages as the App — then saves the
thread's tasks again and writes the step's outputs. A task that pauses at a gate or a question ends
the step successfully; the workflow run of a later `/approve`, review or `/aqm answer` goes on.

Inputs arrive as environment variables the composite step sets (composite actions get no
`INPUT_*`): AQM_GITHUB_TOKEN (required), AQM_ACTION_PIPELINE, AQM_ACTION_TRIGGER,
AQM_ACTION_MAX_COST_USD, and ANTHROPIC_API_KEY / GEMINI_API_KEY / CODEX_API_KEY (each handed by the
sandbox only to the CLI that needs it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from action.state import StateError, ThreadState
from app.errors import AqmError
from app.github.services import Services
from app.settings import Settings
from app.store.github import TaskLink

log = logging.getLogger("aqm.action")
EVENTS = ("issue_comment", "pull_request_review", "issues", "pull_request")
DEFAULT_API_URL = "https://api.github.com"


class InputError(AqmError):
    """A required input or runner variable is missing or unusable; the message names it."""


@dataclass(frozen=True, slots=True)
class Inputs:
    """The inputs that change what the core does (the token and keys go to Settings and the sandbox)."""

    pipeline: str | None
    max_cost_usd: float | None


def read_inputs(env: Mapping[str, str]) -> Inputs:
    """The step's inputs, or InputError naming the one that cannot be used."""
    trigger = env.get("AQM_ACTION_TRIGGER") or "/aqm"
    if trigger != "/aqm":
        raise InputError(f"the `trigger` input is {trigger!r}: this version reads `/aqm` commands only")
    cost = env.get("AQM_ACTION_MAX_COST_USD") or None
    try:
        max_cost_usd = None if cost is None else float(cost)
    except ValueError:
        max_cost_usd = -1.0
    if max_cost_usd is not None and not max_cost_usd > 0:
        raise InputError(f"the `max-cost-usd` input is {cost!r}: give a number of US dollars above 0")
    return Inputs(env.get("AQM_ACTION_PIPELINE") or None, max_cost_usd)


@dataclass(frozen=True, slots=True)
class RunnerEvent:
    """What the runner hands the step: the event, its repository and where to work."""

    name: str
    action: str | None
    body: str
    owner: str
    repo: str
    number: int | None  # the issue or pull request; None for an event of no thread
    api_url: str
    temp: Path
    run_id: str


def read_event(env: Mapping[str, str]) -> RunnerEvent:
    """The event and the runner's variables, or InputError naming what is missing."""
    if not env.get("AQM_GITHUB_TOKEN"):
        raise InputError(
            "the `github-token` input is empty: pass `github-token: ${{ github.token }}` (or an App's "
            "token) to the aqm action"
        )
    for name in ("GITHUB_EVENT_PATH", "GITHUB_EVENT_NAME", "GITHUB_REPOSITORY", "RUNNER_TEMP"):
        if not env.get(name):
            raise InputError(f"{name} is not set: run this action as a step of a GitHub Actions workflow")
    text = Path(env["GITHUB_EVENT_PATH"]).read_text(encoding="utf-8")
    payload = json.loads(text)
    owner, _, repo = env["GITHUB_REPOSITORY"].partition("/")
    thread = payload.get("issue") or payload.get("pull_request") or {}
    number = thread.get("number") if isinstance(thread, dict) else None
    return RunnerEvent(
        name=env["GITHUB_EVENT_NAME"],
        action=payload.get("action") if isinstance(payload.get("action"), str) else None,
        body=text,
        owner=owner,
        repo=repo,
        number=number if isinstance(number, int) else None,
        api_url=env.get("GITHUB_API_URL") or DEFAULT_API_URL,
        temp=Path(env["RUNNER_TEMP"]),
        run_id=f"{env.get('GITHUB_RUN_ID', uuid.uuid4().hex)}.{env.get('GITHUB_RUN_ATTEMPT', '1')}",
    )


def settings_for(event: RunnerEvent, env: Mapping[str, str]) -> Settings:
    """The App's settings, as the Action has them: a store in the runner's temp folder."""
    data_dir = event.temp / f"aqm-{event.run_id}"
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    run_url = f"{server}/{event.owner}/{event.repo}/actions/runs/{event.run_id.split('.')[0]}"
    return Settings(data_dir=data_dir, github_api_url=event.api_url, public_url=run_url)


@dataclass(frozen=True, slots=True)
class Outcome:
    task_id: str
    status: str
    pr_url: str


async def handle(event: RunnerEvent, inputs: Inputs, settings: Settings, server_url: str) -> Outcome | None:
    """Load the thread's tasks, handle the event through the GitHub core, save them again."""
    services = await Services.start(settings)
    services.default_pipeline, services.max_cost_usd = inputs.pipeline, inputs.max_cost_usd
    services.check_run_buttons = False  # no workflow run is there to take their clicks
    try:
        gateway = services.clients.gateway(None)
        state = ThreadState(gateway, event.owner, event.repo, event.number or 0)
        if event.number is not None:
            await state.load(services.store)
        delivery = f"action-{event.run_id}"
        await services.github_store.record_delivery(
            delivery, event=event.name, action=event.action, body=event.body
        )
        try:
            await services.handle(delivery)
        finally:  # what was done is kept, even when GitHub failed part-way: the next run goes on
            if event.number is not None:
                await state.save(services.store)
        record = await services.github_store.get_delivery(delivery)
        if record.status not in ("done", "ignored", "refused"):
            raise InputError(f"handling the event failed: {record.error or record.status}")
        if event.number is None:
            return None
        return await outcome_of(services, event, state.number, server_url)
    finally:
        await services.close()


async def outcome_of(services: Services, event: RunnerEvent, thread: int, server_url: str) -> Outcome | None:
    """The newest task of the thread (for a review on a task's own PR: of the task's thread)."""
    links: list[tuple[TaskLink, str]] = await services.github_store.thread_tasks(
        f"{event.owner}/{event.repo}", thread
    )
    if not links:
        return None
    link, status = links[0]
    pr = f"{server_url}/{event.owner}/{event.repo}/pull/{link.pr_number}" if link.pr_number else ""
    return Outcome(link.task_id, status, pr)


def write_outputs(outcome: Outcome | None, env: Mapping[str, str]) -> None:
    """`task-id`, `status` and `pr-url` for later steps (ids and URLs: one line each)."""
    path = env.get("GITHUB_OUTPUT")
    if not path or outcome is None:
        return
    with Path(path).open("a", encoding="utf-8") as out:
        out.write(f"task-id={outcome.task_id}\nstatus={outcome.status}\npr-url={outcome.pr_url}\n")


def main(env: Mapping[str, str] | None = None) -> int:
    """Exit 0 when the event was handled (a task paused or completed, or nothing to do); 1 when the
    task failed or the run could not be done; 2 for missing inputs."""
    env = os.environ if env is None else env
    logging.basicConfig(level=logging.WARNING, format="aqm: %(message)s")
    logging.getLogger("aqm").setLevel(logging.INFO)
    try:
        event, inputs = read_event(env), read_inputs(env)
    except (InputError, OSError, ValueError) as exc:
        print(f"::error title=aqm::{exc}", file=sys.stderr)
        return 2
    server_url = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    try:
        outcome = asyncio.run(handle(event, inputs, settings_for(event, env), server_url))
    except (StateError, AqmError) as exc:
        print(f"::error title=aqm::{exc}", file=sys.stderr)
        return 1
    write_outputs(outcome, env)
    if outcome is not None:
        print(f"aqm: task {outcome.task_id} is {outcome.status}", file=sys.stderr)
    return 1 if outcome is not None and outcome.status in ("failed", "stalled") else 0
