"""A task's life on GitHub: the thread's queue and the task's lease, around the engine's driver.

`ThreadTasks` starts a task for an issue or PR (its pipeline read from the default branch by
app/github/config.py), runs it through the driver, and hands the thread to two collaborators:
app/github/reporting.py (run card, stage comments, check runs, statuses) and
app/github/publishing.py (workspace, commits, pushes to `aqm/<task-id>` with a PR — or to the PR's
own branch when config says so and the branch is in the same repository).

One task per thread runs at a time (app/store/github.py, "queue and leases"): `start` records
the task queued with its run card, then `run_queue` claims the thread's slot for the earliest
queued task and runs it, and the next one when it pauses or ends. A task runs under a lease
renewed while it runs (app/github/leases.py); `resume` is how the reconciler picks up a task whose
worker died.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app import followups
from app.driver import DriverIO, TaskRunner, load_state
from app.engine.events import CancelRequested, Event, HumanAnswered, HumanDecided, Resumed, TaskStarted
from app.engine.spec import RunSpec
from app.engine.state import TaskState, TaskStatus
from app.followups import Restart
from app.github import render
from app.github.config import ConfigProblem, Loaded, load_from_default_branch
from app.github.gateway import GitHubGateway
from app.github.leases import Leases
from app.github.publishing import PublishFailed, Publishing
from app.github.reporting import Reporter, Reporting
from app.github.threads import Thread, thread_of
from app.runtimes.workspace import WorkspaceError
from app.store.github import ACTIVE, GitHubStore, TaskLink
from app.store.records import TaskRecord
from app.store.store import TaskStore

log = logging.getLogger("aqm.github")
WAITING = {TaskStatus.AWAITING_GATE.value, TaskStatus.AWAITING_HUMAN_INPUT.value}  # for a human


@dataclass
class Deferred:
    """The thread queues a delivery set going, run once all its commands are recorded.

    A comment's commands are all recorded (tasks queued, decisions saved) before any task runs:
    the delivery is then finished, and a worker that dies while a task runs leaves only work that
    the reconciler recovers (queues and leases), never a later command of the comment unread.
    """

    queues: list[tuple[ThreadTasks, str, int, str | None]] = field(default_factory=list)
    holding: bool = True

    async def run(self) -> None:
        self.holding = False
        for tasks, repo, number, asked in self.queues:
            await tasks.run_queue(repo, number, asked=asked)


class ThreadTasks:
    """Starting, continuing and reporting tasks of GitHub threads."""

    def __init__(
        self,
        store: TaskStore,
        github_store: GitHubStore,
        gateway: GitHubGateway,
        *,
        runtimes: Any,
        workspaces: Path,
        public_url: str | None,
        owner: str = "local",
        lease_s: float = 60.0,
        deferred: Deferred | None = None,
        git_dirs: Path | None = None,
        unsandboxed: bool = False,
        max_cost_usd: float | None = None,
        buttons: bool = True,
    ) -> None:
        self.store = store
        self.github_store = github_store
        self.gateway = gateway
        self.runtimes = runtimes
        self.workspaces = workspaces
        self.leases = Leases(github_store, owner=owner, lease_s=lease_s)  # this worker's
        self.specs: dict[str, RunSpec] = {}
        self.continued: set[str] = set()  # queued again by a human's decision: its check is open
        self.deferred = deferred  # a delivery's: its thread queues run once it is handled
        self.max_cost_usd = max_cost_usd  # the shell's cap on a task's cost (config.capped)
        self.reporting = Reporting(
            store,
            github_store,
            gateway,
            specs=self.specs,
            public_url=public_url,
            unsandboxed=unsandboxed,
            buttons=buttons,
        )
        # the worker's git directories, beside the workspaces: a stage sees only its workspace
        self.publishing = Publishing(
            github_store, gateway, workspaces=workspaces, git_dirs=git_dirs or workspaces.parent / "git"
        )

    # ---- starting --------------------------------------------------------------------------

    async def start(
        self,
        thread: Thread,
        loaded: Loaded,
        *,
        text: str,
        agent: str | None,
        head_sha: str,
        clone_url: str,
        source: str | None = None,
        requested_at: datetime | None = None,
        parent: TaskLink | None = None,
    ) -> TaskRecord:
        """Record the task in its thread's queue with a run card; run it now when the thread is free.

        `source` names the request ("<delivery>#<n>"): a replayed delivery finds its task and
        creates none (a task whose worker died is resumed by the reconciler, not here).
        With `parent`, a fix: it starts from the parent's
        last pushed commit and pushes onto the parent's branch and PR.
        """
        if source is not None and (known := await self.github_store.link_of_source(source)) is not None:
            return await self.store.get_task(known.task_id)
        pipeline = loaded.pipeline
        kind = "run" if parent is None else "fix"
        state = TaskState(
            task_id="",
            pipeline=pipeline.name,
            description=text,
            params=dict(pipeline.params),
            comment_params=loaded.comment_params,
            entry_agent=agent,
            kind=kind,
        )
        task = await self.store.create_task(
            pipeline=pipeline.name,
            description=text,
            state=state.core(),
            kind=kind,
            parent_task_id=None if parent is None else parent.task_id,
        )
        link = TaskLink(
            task_id=task.id,
            repo=thread.full_name,
            number=thread.number,
            is_pull=thread.is_pull,
            actor=thread.actor,
            installation_id=thread.installation_id,
            head_sha=head_sha,
            source=source,
            requested_at=requested_at or datetime.now(UTC),
            queued=True,
            # a fix checks out (prepare_workdir) and pushes onto what its parent pushed
            branch=None if parent is None else parent.branch,
            pr_number=None if parent is None else parent.pr_number,
            gate_sha=None if parent is None else parent.gate_sha,
        )
        await self.github_store.link_task(link)
        self.specs[task.id] = RunSpec(pipeline, loaded.config)
        self.publishing.sources[task.id] = (clone_url, loaded.default_branch)
        text = await self.reporting.card_text(task.id, link)
        card = await self.gateway.comment(thread.owner, thread.repo, thread.number, text)
        self.reporting.sent_cards[card] = text
        await self.github_store.update_link(task.id, card_comment_id=card)
        await self.run_queue(thread.full_name, thread.number, asked=task.id)
        return task

    async def run_queue(self, repo: str, number: int, *, asked: str | None = None) -> None:
        """Run the thread's queued tasks in the order asked, while the thread's slot is free.

        `asked`: a task just queued; when it cannot start now, the thread is told behind what.
        Deferred while a delivery's commands are being recorded (`Deferred`).
        """
        if self.deferred is not None and self.deferred.holding:
            self.deferred.queues.append((self, repo, number, asked))
            return
        claimed = await self.leases.claim_next(repo, number)
        if (
            asked is not None
            and claimed != asked
            and (link := await self.github_store.get_link(asked)).queued
        ):
            await self.tell_queued(repo, number, asked)
            if asked in self.continued:  # its card still shows what it waited for
                await self.reporting.refresh_card(link, checks=False)
        while claimed is not None:
            await self.run_claimed(claimed)
            claimed = await self.leases.claim_next(repo, number)

    async def tell_queued(self, repo: str, number: int, task_id: str) -> None:
        owner, name = repo.split("/", 1)
        behind = await self.github_store.slot_holder(repo, number)
        await self.gateway.comment(
            owner, name, number, render.queued_reply(task_id, behind or "another task")
        )

    async def resume(self, task_id: str) -> None:
        """The reconciler's job: resume a task whose lease expired, or start an idle thread's queue."""
        link = await self.github_store.get_link(task_id)
        if link.queued:
            await self.run_queue(link.repo, link.number)
            return
        if not await self.leases.take(task_id, expired_only=True):
            return  # it runs (here or elsewhere)
        if (await self.store.get_task(task_id)).status not in ACTIVE:  # it ended or paused meanwhile
            await self.leases.release(task_id)
            return
        log.info("resuming %s: its lease expired", task_id)
        await self.run_claimed(task_id)
        await self.run_queue(link.repo, link.number)

    async def run_claimed(self, task_id: str) -> None:
        """Run a task this worker holds the lease of: from its start, or again from the running stages."""
        async with self.leases.held(task_id):  # from the claim on: a clone can outlast a lease
            await self._run_claimed(task_id)

    async def _run_claimed(self, task_id: str) -> None:
        link = await self.github_store.get_link(task_id)
        task = await self.store.get_task(task_id)
        thread = thread_of(link)
        if task_id not in self.specs and not await self.load_spec(thread, task):
            return
        if link.card_comment_id is None:
            text = await self.reporting.card_text(task_id, link)
            card = await self.gateway.comment(thread.owner, thread.repo, thread.number, text)
            self.reporting.sent_cards[card] = text
            await self.github_store.update_link(task_id, card_comment_id=card)
            link = await self.github_store.get_link(task_id)
        if link.is_pull and link.check_run_id is None and task_id not in self.continued:
            await self.reporting.open_check_run(link, task.pipeline)
        self.continued.discard(task_id)
        try:
            await self.publishing.prepare_workdir(thread, link)
        except WorkspaceError as problem:
            reply = render.workspace_problem_reply(task_id, str(problem), publishing=False)
            await self.fail_task(
                thread, task_id, f"the workspace could not be prepared: {problem}", reply=reply
            )
            return
        started = task.status == "pending"  # not yet: its first step was never committed
        if not started:
            await self.reporting.post_missed_stages(link)
        await self.advance(task_id, TaskStarted(task.state.get("entry_agent")) if started else Resumed())

    async def load_spec(self, thread: Thread, task: TaskRecord) -> bool:
        """The task's pipeline from the default branch now; a broken one fails the task, saying why."""
        repository = await self.gateway.repository(thread.owner, thread.repo)
        try:
            loaded = await load_from_default_branch(
                self.gateway, thread, repository, task.pipeline, {}, task=task, max_cost_usd=self.max_cost_usd
            )
        except ConfigProblem as problem:
            await self.fail_task(thread, task.id, "invalid .aqm/ config", reply=problem.reply)
            return False
        self.specs[task.id] = RunSpec(loaded.pipeline, loaded.config)
        return True

    async def fail_task(self, thread: Thread, task_id: str, error: str, *, reply: str) -> TaskState:
        """Fail a task for what happened outside its stages (its config, its workspace), saying why
        on the thread and its card."""
        await self.gateway.comment(thread.owner, thread.repo, thread.number, reply)
        failed = failed_outside_stages(
            await load_state(self.store, await self.store.get_task(task_id)), error
        )
        await self.store.commit(task_id, status="failed", state=failed.core(), error=failed.error)
        await self.leases.release(task_id)
        await self.reporting.refresh_card(await self.github_store.get_link(task_id))
        return failed

    async def publish(self, link: TaskLink, state: TaskState) -> TaskState:
        """Publish what the agents changed (app/github/publishing.py); a workspace that cannot be
        committed safely fails the task, saying why on the thread."""
        try:
            return await self.publishing.publish_changes(link, state)
        except PublishFailed as failed:
            return await self.fail_task(thread_of(link), link.task_id, failed.error, reply=failed.reply)

    # ---- running ---------------------------------------------------------------------------

    async def advance(self, task_id: str, event: Event, *, run: bool = True) -> TaskState:
        """Feed one event to the task and run it until it ends or pauses, reporting on GitHub
        (`run=False`: only record the event; see `queue_continuation`).

        Under the task's lease, renewed meanwhile: when another worker holds it, only a cancel
        goes ahead (it runs no stage; the running worker notices and stops).
        """
        leased = task_id in self.leases.holding or await self.leases.take(task_id)
        if not leased and not isinstance(event, CancelRequested):
            log.warning("%s is running elsewhere (or queued); %s not fed", task_id, type(event).__name__)
            return await load_state(self.store, await self.store.get_task(task_id))
        async with self.leases.held(task_id) if leased else contextlib.nullcontext():
            task = await self.store.get_task(task_id)
            link = await self.github_store.get_link(task_id)
            spec = self.specs[task_id]
            state = await load_state(self.store, task)
            if not state.task_id:
                state = state.model_copy(update={"task_id": task.id})
            reporter = Reporter(self.reporting, link)
            async with reporter:
                io = DriverIO(self.store, self.runtimes, self.workspaces / task_id, reporter)
                runner = self.leases.runners[task_id] = TaskRunner(spec, io, task, state)
                final = await (runner.advance(event) if run else runner.record(event))
            if run or final.status.value not in ACTIVE:  # else it is reported when it runs
                final = await self.publish(link, final)
                await self.reporting.refresh_card(await self.github_store.get_link(task_id))
        return final

    async def feed(self, task_id: str, event: Event) -> TaskState:
        """A human's event (answer, decision, cancel); then the thread's next queued task, if it is free.

        A decision or an answer for a waiting task queues it (`queue_continuation`): it goes on at
        once when the thread's slot is free, else after the task that took the slot meanwhile.
        """
        asked = None
        if isinstance(event, HumanDecided | HumanAnswered) and (
            (await self.store.get_task(task_id)).status in WAITING
        ):
            final = await self.queue_continuation(task_id, event)
            asked = task_id
        else:
            final = await self.advance(task_id, event)
        link = await self.github_store.get_link(task_id)
        await self.run_queue(link.repo, link.number, asked=asked)
        return final

    async def queue_continuation(self, task_id: str, event: Event) -> TaskState:
        """Record a human's decision or answer and put the task back in its thread's queue, like a
        new run, for `run_queue` to go on with (a `Resumed` runs the stages it started).

        Queued before the event makes the task active, so that it never holds the thread's slot
        without claiming it, nor looks like a dead worker's task meanwhile (as `rewind`). A
        decision that ends the task, or pauses it again, leaves the queue at once.
        """
        if not await self.leases.take(task_id):  # a second decision, being recorded elsewhere
            log.warning("%s is being continued elsewhere; %s not fed", task_id, type(event).__name__)
            return await load_state(self.store, await self.store.get_task(task_id))
        async with self.leases.held(task_id):
            link = await self.github_store.get_link(task_id)
            await self.github_store.update_link(task_id, queued=True, requested_at=datetime.now(UTC))
            try:
                final = await self.advance(task_id, event, run=False)
            except BaseException:
                await self.github_store.update_link(
                    task_id, queued=link.queued, requested_at=link.requested_at
                )
                raise
            if final.status.value not in ACTIVE:
                await self.github_store.update_link(task_id, queued=False, requested_at=link.requested_at)
            else:
                self.continued.add(task_id)
        return final

    async def rewind(
        self, link: TaskLink, from_stage: int | None, *, requested_at: datetime | None = None
    ) -> Restart:
        """Rewind an ended task for a restart (app/followups.py) and put it back in its thread's queue.

        The link is queued before the rewind makes the task active again, so that it never holds
        the thread's slot without claiming it, nor looks like a dead worker's task meanwhile. A PR
        gets a new check run when it starts (the old one is completed for good); stage comments
        from `from_stage` on are posted again.
        """
        task_id = link.task_id
        asked = requested_at or datetime.now(UTC)
        await self.github_store.update_link(task_id, queued=True, requested_at=asked)
        try:
            rewound = await followups.restart(self.store, task_id, from_stage)
        except Exception:
            await self.github_store.update_link(task_id, queued=link.queued, requested_at=link.requested_at)
            raise
        kept = {k: v for k, v in link.posted_stages.items() if int(k) < rewound.from_stage}
        await self.github_store.update_link(
            task_id, posted_stages=kept, check_run_id=None if link.is_pull else link.check_run_id
        )
        return rewound

    async def run_rewound(self, link: TaskLink, loaded: Loaded) -> None:
        """Run a rewound (queued) task when the thread's slot is free, in its workspace when this
        machine still has it (else a checkout of its last pushed commit, see `prepare_workdir`)."""
        self.specs[link.task_id] = RunSpec(loaded.pipeline, loaded.config)
        await self.reporting.refresh_card(await self.github_store.get_link(link.task_id), checks=False)
        await self.run_queue(link.repo, link.number, asked=link.task_id)


def failed_outside_stages(state: TaskState, error: str) -> TaskState:
    """The task failed for what happened outside its stages: nothing of it waits for a human now
    (as a cancel leaves it), so its card offers no `/approve`."""
    branches = tuple(
        b.model_copy(update={"status": "failed", "gate": None, "question": None})
        if b.status not in ("done", "failed", "cancelled")
        else b
        for b in state.branches
    )
    return state.model_copy(update={"status": TaskStatus.FAILED, "error": error, "branches": branches})
