"""Reporting a task on its thread: the sticky run card, stage comments, check runs and statuses.

`Reporter` takes the driver's notes while stages run and makes the GitHub calls in order, off the
engine's loop; a failed call never stops the task (the final card is rewritten anyway).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import quote

from app.driver import load_state
from app.engine.commands import Notify
from app.engine.spec import RunSpec
from app.engine.state import TaskState, TaskStatus
from app.github import render
from app.github.gateway import GitHubError, GitHubGateway
from app.store.github import GitHubStore, TaskLink
from app.store.store import TaskStore

log = logging.getLogger("aqm.github")


class Reporter:
    """Keeps the thread up to date while the driver runs: GitHub calls happen in order, off the loop."""

    def __init__(self, reporting: Reporting, link: TaskLink) -> None:
        self.reporting = reporting
        self.link = link
        self.queue: asyncio.Queue[Notify | None] = asyncio.Queue()
        self.worker: asyncio.Task[None] | None = None

    def __call__(self, note: Notify) -> None:
        self.queue.put_nowait(note)

    async def __aenter__(self) -> Reporter:
        self.worker = asyncio.create_task(self._work())
        return self

    async def __aexit__(self, *_: object) -> None:
        self.queue.put_nowait(None)
        if self.worker is not None:
            await self.worker

    async def _work(self) -> None:
        while (note := await self.queue.get()) is not None:
            try:
                if note.kind == "stage_finished" and note.stage is not None:
                    await self.reporting.post_stage(self.link, note.stage)
                if note.kind in ("stage_started", "stage_finished", "gate_waiting", "question", "task_ended"):
                    # the check run changes status only at a pause or the end: update it then
                    checks = note.kind in ("gate_waiting", "question", "task_ended")
                    await self.reporting.refresh_card(self.link, checks=checks)
            except Exception:  # reporting must never stop the task; the final card is rewritten anyway
                log.exception("reporting on %s failed", self.link.task_id)


class Reporting:
    """What a thread shows of its tasks: the run card, one comment per finished stage, and the
    check run on a PR (commit statuses where GitHub refuses check runs). Each is sent only when it
    changed since this job last sent it."""

    def __init__(
        self,
        store: TaskStore,
        github_store: GitHubStore,
        gateway: GitHubGateway,
        *,
        specs: dict[str, RunSpec],
        public_url: str | None,
        unsandboxed: bool = False,
        buttons: bool = True,
    ) -> None:
        self.store = store
        self.github_store = github_store
        self.gateway = gateway
        self.specs = specs  # the lifecycle's: what each task runs (its runtimes and budget on the card)
        self.public_url = public_url
        self.unsandboxed = unsandboxed  # AQM_UNSAFE_UNSANDBOXED_STAGES: every card says so
        self.buttons = buttons  # Approve / Reject on check runs: only where their clicks come back
        # what this job last sent per card comment / check run: an unchanged one is not sent again
        self.sent_cards: dict[int, str] = {}
        self.sent_checks: dict[int, dict[str, Any]] = {}
        self.sent_statuses: dict[str, tuple[str, str]] = {}

    async def card_text(self, task_id: str, link: TaskLink) -> str:
        task = await self.store.get_task(task_id)
        state = await load_state(self.store, task)
        stages = await self.store.list_stages(task_id, texts=False)
        spec = self.specs.get(task_id)
        runtimes = {a.id: a.runtime or "session" for a in spec.pipeline.agents} if spec else {}
        budget = spec.config.github.budget if spec else None
        return render.run_card(
            task,
            state,
            stages,
            pipeline=task.pipeline,
            runtime_of=runtimes,
            public_url=self.public_url,
            budget=budget,
            queued=link.queued,
            unsandboxed=self.unsandboxed,
        )

    async def refresh_card(self, link: TaskLink, *, checks: bool = True) -> None:
        owner, repo = link.repo.split("/", 1)
        text = await self.card_text(link.task_id, link)
        card = link.card_comment_id
        if card is not None and self.sent_cards.get(card) != text:
            await self.gateway.edit_comment(owner, repo, card, text)
            self.sent_cards[card] = text
        if checks and (link.check_run_id is not None or (link.is_pull and link.head_sha)):
            await self.update_check_run(link)

    async def post_stage(self, link: TaskLink, number: int) -> None:
        owner, repo = link.repo.split("/", 1)
        stage = await self.store.get_stage(link.task_id, number)
        if stage.kind == "turn":
            return  # session turns appear in the session's minutes, not one comment each
        transcript = None
        if stage.kind == "session":
            from app.views import transcript_md

            transcript = transcript_md(await self.store.list_stages(link.task_id))
        posted = [
            await self.gateway.comment(owner, repo, link.number, body)
            for body in render.stage_comment(link.task_id, stage, transcript=transcript)
        ]
        # remembered, so that a worker resuming the task posts the ones a dead worker had not
        known = (await self.github_store.get_link(link.task_id)).posted_stages
        await self.github_store.update_link(link.task_id, posted_stages=known | {str(number): posted})

    async def post_missed_stages(self, link: TaskLink) -> None:
        """Post the comments of finished stages that a worker which died had not posted yet.

        A worker killed between posting a stage's comment and remembering it leaves a comment the
        link does not know: the thread is read once (only when something seems missing) and a
        stage whose marked comment is there is remembered, not posted again. Only the app's own
        comments count — those by the author of the task's run card (its login as GitHub shows it,
        whatever the credential): anyone can paste a stage marker into a comment of theirs."""
        missed = [
            stage.number
            for stage in await self.store.list_stages(link.task_id, texts=False)
            if stage.finished_at is not None
            and stage.kind != "turn"
            and str(stage.number) not in link.posted_stages
        ]
        if not missed:
            return
        owner, repo = link.repo.split("/", 1)
        on_thread = await self.gateway.comments(owner, repo, link.number)
        ours = {c.author for c in on_thread if c.id == link.card_comment_id and c.author}
        for number in missed:
            marker = render.stage_marker(link.task_id, number)
            already = [c.id for c in on_thread if c.author in ours and marker in c.body]
            if already:
                known = (await self.github_store.get_link(link.task_id)).posted_stages
                await self.github_store.update_link(
                    link.task_id, posted_stages=known | {str(number): already}
                )
            else:
                await self.post_stage(link, number)

    async def open_check_run(self, link: TaskLink, pipeline: str) -> None:
        """A check run on the PR's head; commit statuses instead where GitHub refuses check runs
        (403: a token that is not a GitHub App's, e.g. a classic PAT), remembered per credential."""
        owner, repo = link.repo.split("/", 1)
        statuses_only = self.gateway.clients.statuses_only
        if self.gateway.installation_id not in statuses_only:
            try:
                check = await self.gateway.create_check_run(
                    owner,
                    repo,
                    name=f"aqm/{pipeline}",
                    head_sha=link.head_sha or "",
                    status="in_progress",
                    output={"title": "Starting", "summary": f"Task {link.task_id} is starting."},
                )
            except GitHubError as exc:
                if exc.status != 403 or exc.retry_after_s is not None:  # not a rate limit: a refusal
                    raise
                statuses_only.add(self.gateway.installation_id)
            else:
                await self.github_store.update_link(link.task_id, check_run_id=check)
                return
        await self.post_status(link, "pending", f"Task {link.task_id} is starting.", pipeline=pipeline)

    async def update_check_run(self, link: TaskLink) -> None:
        owner, repo = link.repo.split("/", 1)
        task = await self.store.get_task(link.task_id)
        state = await load_state(self.store, task)
        if link.check_run_id is None:  # a PR task without a check run: commit statuses, if ours
            if self.uses_statuses():
                await self.post_status(link, *_commit_status(task.id, state), pipeline=task.pipeline)
            return
        stages = await self.store.list_stages(link.task_id, texts=False)
        title, summary, text = render.check_run_output(task, state, stages)
        fields: dict[str, Any] = {"output": {"title": title, "summary": summary, "text": text}}
        fields |= _check_status(state, buttons=self.buttons)
        check = link.check_run_id
        if self.sent_checks.get(check) != fields:
            await self.gateway.update_check_run(owner, repo, check, **fields)
            self.sent_checks[check] = fields

    def uses_statuses(self) -> bool:
        """Commit statuses stand for check runs: GitHub refused us one, or we are a token (a
        process that restarts forgets the refusal; a token never gets check runs)."""
        clients = self.gateway.clients
        return self.gateway.installation_id in clients.statuses_only or clients.app_id is None

    async def post_status(self, link: TaskLink, state: str, description: str, *, pipeline: str) -> None:
        """Set the commit status `aqm/<pipeline>` of the PR head the task runs on (once per change)."""
        if link.head_sha is None or self.sent_statuses.get(link.task_id) == (state, description):
            return
        owner, repo = link.repo.split("/", 1)
        public = self.public_url
        target = f"{public.rstrip('/')}{render.TASK_PATH}{quote(link.task_id, safe='')}" if public else None
        await self.gateway.create_commit_status(
            owner,
            repo,
            link.head_sha,
            state=state,
            context=f"aqm/{pipeline}",
            description=description,
            target_url=target,
        )
        self.sent_statuses[link.task_id] = (state, description)


def _check_status(state: TaskState, *, buttons: bool = True) -> dict[str, Any]:
    """Status and conclusion, with the Approve / Reject buttons while exactly one gate waits (an
    empty `actions` list takes them off again, so a stale button cannot be clicked)."""
    shown = render.check_run_actions(state) if buttons else []
    fields: dict[str, Any] = {"status": "in_progress", "actions": shown}
    if state.status == TaskStatus.COMPLETED:
        fields |= {"status": "completed", "conclusion": "success"}
    elif state.status in (TaskStatus.FAILED, TaskStatus.STALLED):
        fields |= {"status": "completed", "conclusion": "failure"}
    elif state.status == TaskStatus.CANCELLED:
        fields |= {"status": "completed", "conclusion": "cancelled"}
    return fields


def _commit_status(task_id: str, state: TaskState) -> tuple[str, str]:
    """The commit status (state, description ≤ 140 chars) that stands for a check run."""
    if state.status == TaskStatus.COMPLETED:
        return "success", f"Task {task_id} completed."
    if state.status in (TaskStatus.FAILED, TaskStatus.STALLED):
        reason = (state.error or "").splitlines()[0] if state.error else ""
        return "failure", f"Task {task_id} failed{': ' + reason if reason else '.'}"[:140]
    if state.status == TaskStatus.CANCELLED:
        return "error", f"Task {task_id} was cancelled."
    if state.status == TaskStatus.AWAITING_GATE:
        return "pending", f"Task {task_id} waits for approval."
    if state.status == TaskStatus.AWAITING_HUMAN_INPUT:
        return "pending", f"Task {task_id} waits for an answer."
    return "pending", f"Task {task_id} is running."
