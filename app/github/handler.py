"""Handling one recorded delivery: parse it, check who asked, act, answer in the thread.

Dispatch is on `X-GitHub-Event` and the action: app/github/events.py reads the events aqm acts on
through models of the fields it uses (refused, in one line of the log, when one lacks a field aqm
uses) and ignores the others unread. Comments (`issue_comment`, created or edited — only the
command lines an edit of the body adds count) carry the commands of app/github/commands.py;
every command but `/aqm help` and `/aqm status` needs write access, asked of GitHub (cached for a
minute). A delivery answers at most once (app/github/replies.py: refusals, help and what its
commands said, folded into one comment posted at the end) and runs at most the first
MAX_COMMANDS_PER_COMMENT commands of a comment; each command performed is logged as a step of the
delivery (with what it replied), so a retry (app/github/retries.py) performs and says nothing
twice. Reviews approve or reject the waiting gate when they were given for the PR head the task
paused at. Events of bots (our own comments included) are recorded and ignored. Nothing here
raises for bad input: every path ends in a reply, in "ignored" or in "refused".
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from app import followups
from app.driver import load_state
from app.engine.events import CancelRequested, Event, HumanAnswered, HumanDecided
from app.engine.spec import RunSpec
from app.engine.state import ENDED, TaskState, TaskStatus
from app.errors import SpecError, SpecErrors, StoreError, TaskError
from app.github import commands as grammar
from app.github import events, render, retries, triggers
from app.github.gateway import GitHubClients, GitHubError, GitHubGateway
from app.github.replies import MAX_COMMANDS_PER_COMMENT, Replies
from app.github.runs import (
    ConfigProblem,
    Deferred,
    Loaded,
    Thread,
    ThreadTasks,
    load_config_files,
    load_from_default_branch,
    read_config_files,
)
from app.runtimes.process import Launcher
from app.runtimes.registry import RuntimeFactory, get_runtime, runtimes_for, stage_launcher
from app.settings import Settings
from app.spec.models import GitHubSettings
from app.store.github import DeliveryRecord, GitHubStore, TaskLink
from app.store.records import TaskRecord
from app.store.store import TaskStore

log = logging.getLogger("aqm.github")
WRITE = ("admin", "write", "maintain")
EARLIER_RUNS_WAIT_S = 30.0  # at most, for an earlier comment's run to be recorded (a dead job's never is)
EARLIER_RUNS_POLL_S = 0.2
ENDED_NAMES = {status.value for status in ENDED}


def launcher_for(settings: Settings) -> Launcher:
    """How the App starts stages: sandboxed, unless AQM_UNSAFE_UNSANDBOXED_STAGES opts out."""
    return stage_launcher(sandbox=not settings.unsafe_unsandboxed_stages, data_dir=settings.data_dir)


@dataclass
class Services:
    """What handling a delivery needs; built once per server or worker process."""

    settings: Settings
    store: TaskStore
    github_store: GitHubStore
    clients: GitHubClients
    runtimes: RuntimeFactory = get_runtime
    workspaces: Path = field(default_factory=lambda: Path(".aqm-data") / "workspaces")
    worker_id: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    )

    @classmethod
    async def start(
        cls,
        settings: Settings,
        *,
        github_transport: httpx.AsyncBaseTransport | None = None,
        launcher: Launcher | None = None,
    ) -> Services:
        """The services of one server or worker; stages start through `launcher` (default: the
        settings' sandbox, or a ConfigError when this machine has none)."""
        launcher = launcher or launcher_for(settings)
        store = await TaskStore.connect(settings.effective_database_url)
        clients = GitHubClients(
            base_url=settings.github_api_url,
            token=settings.github_token.get_secret_value() if settings.github_token else None,
            app_id=settings.github_app_id,
            private_key=settings.private_key() if settings.github_app_id else None,
            transport=github_transport,
        )
        return cls(
            settings,
            store,
            GitHubStore(store),
            clients,
            runtimes=runtimes_for(launcher),
            workspaces=settings.data_dir / "workspaces",
        )

    async def close(self) -> None:
        await self.clients.close()
        await self.store.close()

    async def database_ok(self) -> bool:
        try:
            await self.store.list_tasks(limit=1)
        except Exception:
            return False
        return True

    def tasks(self, gateway: GitHubGateway, deferred: Deferred | None = None) -> ThreadTasks:
        return ThreadTasks(
            self.store,
            self.github_store,
            gateway,
            runtimes=self.runtimes,
            workspaces=self.workspaces,
            public_url=self.settings.public_url,
            owner=self.worker_id,
            lease_s=self.settings.task_lease_s,
            deferred=deferred,
            unsandboxed=self.settings.unsafe_unsandboxed_stages,
        )

    async def resume(self, task_id: str) -> None:
        """Resume a task whose worker died (its lease expired), or start an idle thread's queue."""
        link = await self.github_store.get_link(task_id)
        await self.tasks(self.clients.gateway(link.installation_id)).resume(task_id)

    async def stuck(self) -> tuple[list[DeliveryRecord], list[TaskLink]]:
        """What the reconciler re-enqueues: deliveries never finished, tasks whose worker died."""
        deliveries = await self.github_store.unfinished_deliveries(
            older_than_s=self.settings.redeliver_after_s
        )
        idle = await self.github_store.idle_queues(older_than_s=self.settings.task_lease_s)
        tasks = await self.github_store.expired_leases() + idle
        return deliveries, tasks

    async def handle(self, delivery_id: str) -> None:
        """Handle one delivery once: a redelivered or finished one changes nothing. A failure
        leaves it for a retry (app/github/retries.py) or, at the cap, marks it failed."""
        delivery = await self.github_store.claim_delivery(delivery_id)
        if delivery is None:
            return
        job = Job(self, delivery)
        try:
            outcome = await job.run()
        except Exception as exc:
            await self.after_failure(job, exc)
            await job.deferred.run()  # what the earlier commands recorded goes on meanwhile
            if not isinstance(exc, GitHubError):
                raise  # ours: the queue logs its traceback
            return
        # every command is recorded: from here queues and leases recover the work, not a replay
        await self.github_store.finish_delivery(delivery_id, outcome, job.note)
        await job.deferred.run()

    async def after_failure(self, job: Job, error: Exception) -> None:
        """Leave the delivery for a retry after its backoff, or give it up: failed, and its one reply
        (what it had to say so far, and why it stopped) posted when it can be."""
        delivery = job.delivery
        decision = retries.after_failure(
            error, attempts=delivery.attempts, base_s=self.settings.redeliver_after_s
        )
        if isinstance(decision, retries.Retry):
            log.warning(
                "delivery %s attempt %d: %s; retrying in %.0f s",
                delivery.id,
                delivery.attempts,
                decision.reason,
                decision.after_s,
            )
            at = datetime.now(UTC) + timedelta(seconds=decision.after_s)
            await self.github_store.retry_delivery(delivery.id, at=at, error=decision.reason)
            return
        attempts = delivery.attempts
        log.warning("delivery %s failed after %d attempts: %s", delivery.id, attempts, decision.reason)
        await job.give_up(decision.shown)
        await self.github_store.finish_delivery(delivery.id, "failed", decision.reason)


class Job:
    """One delivery being handled."""

    def __init__(self, services: Services, delivery: DeliveryRecord) -> None:
        self.services = services
        self.delivery = delivery
        self.note: str | None = None  # why it was refused, recorded with the delivery
        self.step = 0  # the command being performed: its tasks' `source` is "<delivery>#<step>"
        self.deferred = Deferred()  # the tasks it starts or continues run once it is handled
        self.replies = Replies()  # what it says in the thread: one comment, at the end
        self.answer_to: tuple[Thread, GitHubGateway] | None = None
        self.reacted = False  # 👀 is on the comment

    async def run(self) -> str:
        outcome = await self.dispatch()
        await self.post_reply()
        return outcome

    async def dispatch(self) -> str:
        """Read the delivery if aqm acts on its event (app/github/events.py) and hand it to its
        handler; a payload without a field aqm uses is refused, in one line of the log."""
        name, action = self.delivery.event, self.delivery.action
        try:
            event = events.read_event(name, action, self.delivery.body)
        except events.UnreadableEvent as exc:
            self.note = str(exc)
            log.warning("delivery %s refused: %s", self.delivery.id, self.note)
            return "refused"
        if event is None:
            return "ignored"
        kind = f"{name}.{action}"
        if isinstance(event, events.IssueEvent | events.PullRequestEvent):
            return await self.on_thread_event(kind, event)  # bots are judged against github.allow_bots
        if event.sender.is_bot:
            return "ignored"
        if isinstance(event, events.CommentEvent):
            return await self.on_comment(event)
        if isinstance(event, events.ReviewEvent):
            return await self.on_review(event)
        return await self.on_check_run_action(event)

    # ---- context ---------------------------------------------------------------------------

    @staticmethod
    def thread(event: events.ThreadEvent) -> Thread:
        owner, repo = event.repository.full_name.split("/", 1)
        number, is_pull = event.thread
        return Thread(owner, repo, number, is_pull, event.installation_id, event.sender.login)

    async def reply(self, thread: Thread, gateway: GitHubGateway, body: str) -> None:
        """Say `body` (already rendered and escaped) in the delivery's one reply."""
        self.answer_to = self.answer_to or (thread, gateway)
        self.replies.add(body)

    async def post_reply(self) -> None:
        """Post the delivery's one reply, unless there is nothing to say or a former attempt did."""
        body = self.replies.render()
        if body is None or self.answer_to is None:
            return
        store = self.services.github_store
        if "reply" in await store.delivery_steps(self.delivery.id):
            return
        thread, gateway = self.answer_to
        comment_id = await gateway.comment(thread.owner, thread.repo, thread.number, body)
        await store.record_step(self.delivery.id, "reply", str(comment_id))

    async def give_up(self, why: str) -> None:
        """The delivery failed for good: its reply says so, with what it had to say before (best
        effort: GitHub may be what fails)."""
        if self.answer_to is None:
            return
        self.replies.failure = (
            f"aqm gave up on this after {self.delivery.attempts} attempts: {why}. "
            "Commands not answered above were not done; comment them again to retry."
        )
        try:
            await self.post_reply()
        except GitHubError as exc:
            log.warning("delivery %s: its reply could not be posted either: %s", self.delivery.id, exc)

    async def eyes(self, thread: Thread, gateway: GitHubGateway, comment_id: int) -> None:
        """👀 on the comment whose command is taken: once per attempt, however many it holds."""
        if not self.reacted:
            await gateway.react(thread.owner, thread.repo, comment_id, "eyes")
            self.reacted = True

    def gateway(self, thread: Thread) -> GitHubGateway:
        return self.services.clients.gateway(thread.installation_id)

    def tasks(self, gateway: GitHubGateway) -> ThreadTasks:
        return self.services.tasks(gateway, self.deferred)

    # ---- comments --------------------------------------------------------------------------

    async def on_comment(self, event: events.CommentEvent) -> str:
        comment = event.comment
        previous = None
        if self.delivery.action == "edited":
            if event.changes is None or event.changes.body is None:
                return "ignored"  # something else was edited: every line is as it was
            previous = event.changes.body.from_
        parsed = grammar.parse_comment(comment.body or "", previous=previous)
        if not parsed:
            return "ignored"
        thread = self.thread(event)
        gateway = self.gateway(thread)
        self.answer_to = (thread, gateway)
        self.replies.login = thread.actor
        performed = await self.sort_commands(thread, gateway, parsed)
        done = await self.services.github_store.delivery_steps(self.delivery.id)
        for step, command in enumerate(performed):
            self.step = step
            perform = functools.partial(self.on_command, thread, gateway, command, comment.id)
            await self.perform_once(f"command:{step}", done, perform)
        return "done"

    async def sort_commands(
        self, thread: Thread, gateway: GitHubGateway, parsed: list[grammar.CommentCommand]
    ) -> list[grammar.CommentCommand]:
        """The commands to perform, at most MAX_COMMANDS_PER_COMMENT; the others (refused, help,
        unknown, unreadable, past the cap) go to the one reply."""
        writer = True
        if any(grammar.needs_write(command) for command in parsed):
            writer = await gateway.permission(thread.owner, thread.repo, thread.actor) in WRITE
        performed: list[grammar.CommentCommand] = []
        for command in parsed:
            if isinstance(command, grammar.HelpCommand | grammar.Unknown):
                self.replies.ask_help(command if isinstance(command, grammar.Unknown) else None)
            elif isinstance(command, grammar.Invalid):
                self.replies.misread(command)
            elif not writer and grammar.needs_write(command):
                self.replies.refuse(command)
            else:
                performed.append(command)
        self.replies.ignored = max(len(performed) - MAX_COMMANDS_PER_COMMENT, 0)
        return performed[:MAX_COMMANDS_PER_COMMENT]

    async def perform_once(
        self, step: str, done: dict[str, str | None], action: Callable[[], Awaitable[None]]
    ) -> None:
        """Run `action` unless a former attempt of this delivery did; what it replied is logged with
        the step, so a retry's one reply still says it."""
        if step in done:
            self.replies.parts.extend(json.loads(done[step] or "[]"))
            return
        before = len(self.replies.parts)
        await action()
        said = json.dumps(self.replies.parts[before:])
        await self.services.github_store.record_step(self.delivery.id, step, said)

    async def on_command(self, thread: Thread, gateway: GitHubGateway, command: Any, comment_id: int) -> None:
        if isinstance(command, grammar.RunCommand):
            await self.eyes(thread, gateway, comment_id)
            await self.start_run(thread, gateway, command)
        elif isinstance(command, grammar.ApproveCommand | grammar.RejectCommand):
            await self.decide_gate(thread, gateway, command)
        elif isinstance(command, grammar.AnswerCommand):
            await self.answer(thread, gateway, command)
        elif isinstance(command, grammar.CancelCommand):
            await self.cancel(thread, gateway, command.task_id)
        elif isinstance(command, grammar.StatusCommand):
            await self.status(thread, gateway, command.task_id)
        elif isinstance(command, grammar.RestartCommand):
            await self.restart(thread, gateway, command, comment_id)
        elif isinstance(command, grammar.FixCommand):
            await self.fix(thread, gateway, command, comment_id)
        elif isinstance(command, grammar.ChunksCommand):
            await self.chunks(thread, gateway, command)
        else:
            message = f"`{_verb(command)}` is not available on GitHub yet."
            await self.reply(thread, gateway, render.help_reply(None) + "\n\n" + render.escape_text(message))

    async def start_run(self, thread: Thread, gateway: GitHubGateway, command: Any) -> None:
        repository = await gateway.repository(thread.owner, thread.repo)
        try:
            loaded = await load_from_default_branch(
                gateway, thread, repository, command.pipeline, command.params
            )
        except ConfigProblem as problem:
            await self.reply(thread, gateway, problem.reply)
            return
        if command.agent is not None and command.agent not in loaded.pipeline.ids:
            await self.reply(
                thread,
                gateway,
                render.escape_text(f"No agent `{command.agent}` in pipeline `{loaded.pipeline.name}`."),
            )
            return
        text, head_sha, clone_url = await self.task_text(thread, gateway, command.text, repository)
        await self.queue_task(
            thread, gateway, loaded, text=text, agent=command.agent, head_sha=head_sha, clone_url=clone_url
        )

    async def queue_task(
        self,
        thread: Thread,
        gateway: GitHubGateway,
        loaded: Loaded,
        *,
        text: str,
        agent: str | None,
        head_sha: str,
        clone_url: str,
        parent: TaskLink | None = None,
    ) -> None:
        """A new task asked for by this delivery (`/aqm run`, `/aqm fix`): recorded under the
        delivery (a replay finds it), after the runs asked for earlier on the thread, then
        started or queued behind the thread's running task."""
        source = f"{self.delivery.id}#{self.step}"
        await self.after_earlier_runs(thread)
        await self.tasks(gateway).start(
            thread,
            loaded,
            text=text,
            agent=agent,
            head_sha=head_sha,
            clone_url=clone_url,
            source=source,
            requested_at=self.delivery.received_at,
            parent=parent,
        )

    async def after_earlier_runs(self, thread: Thread) -> None:
        """Let runs asked earlier on this thread (handled by other workers) join its queue first."""
        store = self.services.github_store
        for _ in range(int(EARLIER_RUNS_WAIT_S / EARLIER_RUNS_POLL_S)):
            if not await store.unrecorded_runs_before(self.delivery, thread.full_name, thread.number):
                return
            await asyncio.sleep(EARLIER_RUNS_POLL_S)

    async def task_text(
        self, thread: Thread, gateway: GitHubGateway, text: str, repository: Any
    ) -> tuple[str, str, str]:
        """The task (the command's text, else the thread's title and body, as data), head SHA, remote
        (the repository's own, a fork PR's too: its head is fetched from `refs/pull/N/head` there)."""
        if thread.is_pull:
            pull = await gateway.pull(thread.owner, thread.repo, thread.number)
            title, body, sha = pull.title, pull.body, pull.head_sha
        else:
            issue = await gateway.issue(thread.owner, thread.repo, thread.number)
            title, body = issue.title, issue.body
            sha = await gateway.branch_sha(thread.owner, thread.repo, repository.default_branch)
        if not text.strip():
            text = f"{title}\n\n{body}".strip()
        return text, sha, repository.clone_url

    # ---- existing tasks --------------------------------------------------------------------

    async def find(self, thread: Thread, task_id: str | None) -> tuple[TaskLink, str] | None:
        links = await self.services.github_store.thread_tasks(thread.full_name, thread.number)
        if task_id is not None:
            links = [pair for pair in links if pair[0].task_id == task_id.upper()]
        return links[0] if links else None

    async def continue_task(
        self, thread: Thread, gateway: GitHubGateway, task_id: str | None, event: Event
    ) -> None:
        found = await self.find(thread, task_id)
        if found is None:
            await self.reply(
                thread,
                gateway,
                render.escape_text(f"No aqm task {task_id or ''} on this thread.".replace("  ", " ")),
            )
            return
        link, _ = found
        got = await self.load_task(thread, gateway, link.task_id)
        if got is None:
            return
        loaded = got[1]
        tasks = self.tasks(gateway)
        tasks.specs[link.task_id] = RunSpec(loaded.pipeline, loaded.config)
        await tasks.feed(link.task_id, event)

    async def decide_gate(self, thread: Thread, gateway: GitHubGateway, command: Any) -> None:
        decision = "approved" if isinstance(command, grammar.ApproveCommand) else "rejected"
        found = await self.waiting(thread, gateway, command.task_id, "awaiting_gate", "approval")
        if found is not None:
            event = HumanDecided(decision, command.reason or "", by=thread.actor, agent_id=command.agent)
            await self.continue_task(thread, gateway, found, event)

    async def answer(self, thread: Thread, gateway: GitHubGateway, command: grammar.AnswerCommand) -> None:
        found = await self.waiting(thread, gateway, command.task_id, "awaiting_human_input", "an answer")
        if found is not None:
            await self.continue_task(thread, gateway, found, HumanAnswered(command.text, by=thread.actor))

    async def waiting(
        self, thread: Thread, gateway: GitHubGateway, task_id: str | None, status: str, what: str
    ) -> str | None:
        """The task a decision or answer is for, when it waits for one (as `aqm approve` and
        `aqm human-input` ask); else None, after a reply saying so — also while a fan-out task's
        gate or question waits but its other stages still run."""
        found = await self.find(thread, task_id)
        if found is not None and found[1] == status:
            return found[0].task_id
        text = f"No aqm task waits for {what} on this thread."
        if found is not None and found[1] == "in_progress":
            text = (
                f"Task {found[0].task_id} is still running stages; comment again when its card says "
                f"it waits for {what}. This comment was not used."
            )
        await self.reply(thread, gateway, render.escape_text(text))
        return None

    async def cancel(self, thread: Thread, gateway: GitHubGateway, task_id: str | None) -> None:
        found = await self.find(thread, task_id)
        if found is None or found[1] in {s.value for s in ENDED}:
            await self.reply(
                thread,
                gateway,
                render.escape_text("No running aqm task on this thread."),
            )
            return
        await self.continue_task(
            thread, gateway, found[0].task_id, CancelRequested(f"cancelled by @{thread.actor}")
        )

    async def status(self, thread: Thread, gateway: GitHubGateway, task_id: str | None) -> None:
        found = await self.find(thread, task_id)
        if found is None:
            await self.reply(
                thread,
                gateway,
                render.escape_text("No aqm task on this thread yet. Start one with `/aqm run`."),
            )
            return
        text = await self.tasks(gateway).card_text(found[0].task_id, found[0])
        await self.reply(thread, gateway, text)

    # ---- issue and pull request events: triggers and on_push -------------------------------

    async def on_thread_event(self, kind: str, event: events.IssueEvent | events.PullRequestEvent) -> str:
        """`issues.opened|labeled`, `pull_request.opened|synchronize`: apply `github:` of config.yaml.

        No `.aqm/` on the default branch: ignored, silently. A broken config.yaml: one comment
        listing the errors (not for bots). A push to a PR first applies `on_push` to the PR's
        running or paused tasks; then every declared trigger the event fires starts its pipeline
        with the thread's title and body as the task, unless the sender is a bot not in
        `allow_bots` or the PR comes from a fork (told once to ask a maintainer for `/aqm run`).
        """
        facts = triggers.EventFacts.of(kind, event)
        if facts.sender_is_bot and facts.head_ref and triggers.OWN_BRANCH.match(facts.head_ref):
            return "ignored"  # the app's own branch and PR: its pushes never cancel or start anything
        thread = self.thread(event)
        gateway = self.gateway(thread)
        repository = await gateway.repository(thread.owner, thread.repo)
        try:
            files = await read_config_files(gateway, thread, repository.default_branch)
            if not files:
                return "ignored"
            settings = (await load_config_files(files)).github
        except (SpecErrors, ConfigProblem) as exc:
            if facts.sender_is_bot:
                return "ignored"
            await self.reply(thread, gateway, _config_reply(exc))
            return "done"
        outcome = "ignored"
        if kind == "pull_request.synchronize":
            outcome, restarted = await self.on_push(thread, gateway, settings, facts, files)
            if restarted:
                return outcome  # the restarted task is this push's run
        fired = triggers.matching(settings, facts)
        if not fired:
            return outcome
        verdict = triggers.authorise(settings, facts)
        if verdict == "fork":
            if triggers.tell_fork(settings, facts):
                await self.reply(thread, gateway, render.fork_waiting_reply(pipeline=fired[0].pipeline))
                return "done"
            return outcome
        if verdict != "run":
            return outcome
        for trigger in fired:
            await self.start_triggered(thread, gateway, repository, files, trigger.pipeline, trigger.agent)
        return "done"

    async def start_triggered(
        self,
        thread: Thread,
        gateway: GitHubGateway,
        repository: Any,
        files: dict[str, str],
        pipeline: str,
        agent: str | None,
        *,
        text: str = "",
        again: TaskRecord | None = None,
    ) -> None:
        """Start `pipeline` from the `.aqm/` files already read (the thread's title and body by default);
        `again`: a task cancelled by a push, started again with the params it ran with."""
        try:
            loaded = await load_from_default_branch(
                gateway, thread, repository, pipeline, {}, files=files, task=again
            )
        except ConfigProblem as problem:
            await self.reply(thread, gateway, problem.reply)
            return
        if agent is not None and agent not in loaded.pipeline.ids:
            name = loaded.pipeline.name
            message = f"No agent `{agent}` in pipeline `{name}` (github.triggers in config.yaml)."
            await self.reply(thread, gateway, render.escape_text(message))
            return
        task_text, head_sha, clone_url = await self.task_text(thread, gateway, text, repository)
        await self.tasks(gateway).start(
            thread, loaded, text=task_text, agent=agent, head_sha=head_sha, clone_url=clone_url
        )

    async def on_push(
        self,
        thread: Thread,
        gateway: GitHubGateway,
        settings: GitHubSettings,
        facts: triggers.EventFacts,
        files: dict[str, str],
    ) -> tuple[str, bool]:
        """New commits on a PR: cancel (or restart, or leave) the tasks running or paused on it.

        A push of the app's own (the head is what it pushed for the task) changes nothing.
        Returns the outcome and whether a task was started again.
        """
        ended = {s.value for s in ENDED}
        links = await self.services.github_store.thread_tasks(thread.full_name, thread.number)
        active = [link for link, status in links if status not in ended and link.is_pull]
        if settings.on_push == "ignore" or not active:
            return "ignored", False
        sha = facts.head_sha or ""
        restarted = False
        outcome = "ignored"
        for link in active:
            if sha in (link.head_sha, link.gate_sha):
                continue  # the head the task runs on, or the app's own push for it
            reason = f"new commits were pushed to the pull request (head {sha[:7]})"
            await self.continue_task(thread, gateway, link.task_id, CancelRequested(f"cancelled: {reason}"))
            again = settings.on_push == "restart"
            message = f"Task {link.task_id} was cancelled: {reason}." + (
                " Starting it again on the new head." if again else ""
            )
            await self.reply(thread, gateway, render.escape_text(message))
            outcome = "done"
            if again:
                task = await self.services.store.get_task(link.task_id)
                state = TaskState.from_core(task.state)
                repository = await gateway.repository(thread.owner, thread.repo)
                await self.start_triggered(
                    thread,
                    gateway,
                    repository,
                    files,
                    task.pipeline,
                    state.entry_agent,
                    text=task.description,
                    again=task,
                )
                restarted = True
        return outcome, restarted

    # ---- restart, fix, chunks --------------------------------------------------------------

    async def task_of(
        self, thread: Thread, gateway: GitHubGateway, command: Any
    ) -> tuple[TaskLink, str] | None:
        """The task a command names (else the thread's newest); None after replying that there is none."""
        found = await self.find(thread, command.task_id)
        if found is None:
            if command.task_id:
                problem = f"there is no aqm task {command.task_id.upper()} on this thread."
                then, words = "/aqm status", "The thread's newest task:"
            else:
                problem, then, words = (
                    "there is no aqm task on this thread yet.",
                    "/aqm run",
                    "Start one with",
                )
            reply = render.task_problem_reply(thread.actor, command, problem, then=then, then_words=words)
            await self.reply(thread, gateway, reply)
        return found

    async def load_for(self, thread: Thread, gateway: GitHubGateway, task: TaskRecord) -> Loaded | None:
        """The task's pipeline from the default branch now, with the params it ran with."""
        repository = await gateway.repository(thread.owner, thread.repo)
        try:
            return await load_from_default_branch(gateway, thread, repository, task.pipeline, {}, task=task)
        except ConfigProblem as problem:
            await self.reply(thread, gateway, problem.reply)
            return None

    async def load_task(
        self, thread: Thread, gateway: GitHubGateway, task_id: str
    ) -> tuple[TaskRecord, Loaded] | None:
        """The task and its pipeline from the default branch now (None: the problem was replied)."""
        task = await self.services.store.get_task(task_id)
        loaded = await self.load_for(thread, gateway, task)
        return None if loaded is None else (task, loaded)

    async def restart(
        self, thread: Thread, gateway: GitHubGateway, command: grammar.RestartCommand, comment_id: int
    ) -> None:
        found = await self.task_of(thread, gateway, command)
        if found is None:
            return
        link = found[0]
        try:
            got = await self.load_task(thread, gateway, link.task_id)
            if got is None:
                return
            loaded = got[1]
            tasks = self.tasks(gateway)
            await tasks.rewind(link, command.from_stage, requested_at=self.delivery.received_at)
        except (TaskError, StoreError) as problem:
            then = f"/aqm cancel {link.task_id}" if found[1] not in ENDED_NAMES else None
            reply = render.task_problem_reply(
                thread.actor, command, str(problem), then=then, then_words="To stop it, comment"
            )
            await self.reply(thread, gateway, reply)
            return
        await self.eyes(thread, gateway, comment_id)
        await tasks.run_rewound(link, loaded)  # like a new run: now, or when the thread's slot is free

    async def fix(
        self, thread: Thread, gateway: GitHubGateway, command: grammar.FixCommand, comment_id: int
    ) -> None:
        found = await self.task_of(thread, gateway, command)
        if found is None:
            return
        got = await self.load_task(thread, gateway, found[0].task_id)
        if got is None:
            return
        parent, loaded = got
        await self.eyes(thread, gateway, comment_id)
        repository = await gateway.repository(thread.owner, thread.repo)
        text = await followups.fix_description(self.services.store, parent, command.text)
        _, head_sha, clone_url = await self.task_text(thread, gateway, text, repository)
        await self.queue_task(
            thread,
            gateway,
            loaded,
            text=text,
            agent=None,
            head_sha=head_sha,
            clone_url=clone_url,
            parent=found[0],
        )

    async def chunks(self, thread: Thread, gateway: GitHubGateway, command: grammar.ChunksCommand) -> None:
        found = await self.task_of(thread, gateway, command)
        if found is None:
            return
        link = found[0]
        store = self.services.store
        task = await store.get_task(link.task_id)
        note = None
        if command.action == "list":
            state = await load_state(store, task)
        else:
            loaded = await self.load_for(thread, gateway, task)
            if loaded is None:
                return
            spec = RunSpec(loaded.pipeline, loaded.config)
            try:
                state = await followups.edit_chunks(store, spec, task, command.action, command.value)
            except (TaskError, StoreError) as problem:
                await self.reply(
                    thread, gateway, render.task_problem_reply(thread.actor, command, str(problem))
                )
                return
            note = _chunk_note(command)
            tasks = self.tasks(gateway)
            tasks.specs[link.task_id] = spec
            await tasks.refresh_card(link, checks=False)
        await self.reply(thread, gateway, render.chunks_reply(link.task_id, state.chunks, note=note))

    # ---- check-run buttons -----------------------------------------------------------------

    async def on_check_run_action(self, event: events.CheckRunActionEvent) -> str:
        """Approve / Reject on the check run of a task waiting at a human gate
        (https://docs.github.com/rest/guides/using-the-rest-api-to-interact-with-checks#check-runs-and-requested-actions)."""
        action = event.requested_action
        identifier = None if action is None else action.identifier
        if identifier not in ("approve", "reject"):
            return "ignored"
        owner, repo = event.repository.full_name.split("/", 1)
        link = await self.services.github_store.task_of_check_run(
            event.repository.full_name, event.check_run.id
        )
        if link is None:
            return "ignored"
        thread = Thread(owner, repo, link.number, link.is_pull, event.installation_id, event.sender.login)
        gateway = self.gateway(thread)
        verb = "Approve" if identifier == "approve" else "Reject"
        if await gateway.permission(owner, repo, thread.actor) not in WRITE:
            await self.reply(thread, gateway, render.refusal(thread.actor, f"{verb} (check run)"))
            return "done"
        task = await self.services.store.get_task(link.task_id)
        state = await load_state(self.services.store, task)
        gates = [gate for _, gate in render.waiting_gates(state)]
        if state.status != TaskStatus.AWAITING_GATE or len(gates) != 1:
            await self.reply(thread, gateway, render.waiting_gates_reply(link.task_id, gates))
            return "done"
        decision = "approved" if identifier == "approve" else "rejected"
        reason = f"{decision} by @{thread.actor} via the check run"
        event_ = HumanDecided(decision, reason, by=thread.actor, agent_id=gates[0].agent_id)
        await self.continue_task(thread, gateway, link.task_id, event_)
        return "done"

    # ---- reviews ---------------------------------------------------------------------------

    async def on_review(self, event: events.ReviewEvent) -> str:
        review = event.review
        state = review.state.lower()
        if state not in ("approved", "changes_requested"):
            return "ignored"
        thread = self.thread(event)
        gateway = self.gateway(thread)
        links = await self.services.github_store.tasks_of_pull(thread.full_name, thread.number)
        waiting = [link for link, status in links if status == "awaiting_gate"]
        if not waiting:
            return "ignored"
        if await gateway.permission(thread.owner, thread.repo, thread.actor) not in WRITE:
            await self.reply(thread, gateway, render.refusal(thread.actor, "review"))
            return "done"
        link = waiting[0]
        # The review binds to the state the task paused at: on the task's own PR, its head after the
        # push before the pause; on the thread's PR, the head the task ran on.
        expected = link.gate_sha if link.pr_number == thread.number else link.head_sha
        if len(waiting) > 1 or review.commit_id != expected:
            await self.reply(
                thread,
                gateway,
                render.stale_review_reply(
                    link.task_id, reviewed_sha=review.commit_id, gate_sha=expected or ""
                ),
            )
            return "done"
        decision = "approved" if state == "approved" else "rejected"
        decided = HumanDecided(decision, review.body or "", by=thread.actor)
        await self.continue_task(thread, gateway, link.task_id, decided)
        return "done"


def _config_reply(problem: SpecErrors | ConfigProblem) -> str:
    """The reply for `.aqm/` that cannot be used: its validation errors, or the problem's own reply."""
    if isinstance(problem, ConfigProblem):
        return problem.reply
    shown = [SpecError(e.message, f".aqm/{e.path}", e.line, e.column, e.fix) for e in problem.errors]
    return render.validation_errors(shown)


def _chunk_note(command: grammar.ChunksCommand) -> str:
    if command.action == "add":
        return f"Added a chunk: {command.value}"
    return f"Marked {command.value} done." if command.action == "done" else f"Removed {command.value}."


def _verb(command: Any) -> str:
    return type(command).__name__.removesuffix("Command").lower()
