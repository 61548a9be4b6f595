"""One event being handled: who asked in which thread, its one reply, and the task lookups that
every kind of event shares (app/github/handlers/ holds one module per kind).

A delivery answers at most once (app/github/replies.py: refusals, help and what its commands said,
folded into one comment posted at the end); its tasks run once all its commands are recorded
(`Deferred`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from app.engine.events import Event
from app.engine.spec import RunSpec
from app.engine.state import ENDED
from app.github import events, render
from app.github.config import ConfigProblem, Loaded, load_from_default_branch
from app.github.gateway import GitHubError, GitHubGateway
from app.github.replies import Replies
from app.github.runs import Deferred, ThreadTasks
from app.github.threads import Thread
from app.store.github import DeliveryRecord, TaskLink
from app.store.records import TaskRecord

if TYPE_CHECKING:
    from app.github.services import Services

log = logging.getLogger("aqm.github")
WRITE = ("admin", "write", "maintain")
EARLIER_RUNS_WAIT_S = 30.0  # at most, for an earlier comment's run to be recorded (a dead job's never is)
EARLIER_RUNS_POLL_S = 0.2
ENDED_NAMES = {status.value for status in ENDED}


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
                gateway,
                thread,
                repository,
                pipeline,
                {},
                files=files,
                task=again,
                max_cost_usd=self.services.max_cost_usd,
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
            return await load_from_default_branch(
                gateway,
                thread,
                repository,
                task.pipeline,
                {},
                task=task,
                max_cost_usd=self.services.max_cost_usd,
            )
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
