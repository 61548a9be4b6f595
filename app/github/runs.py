"""A task's life on GitHub: config from the default branch, a workspace, the engine, the thread.

`ThreadTasks` starts a task for an issue or PR (reading `.aqm/` from the default branch at
the time of the command), keeps the sticky run card and the check run up to date while the
driver runs it, posts one comment per finished stage, and — when the task pauses or ends —
commits what the agents changed and pushes it to `aqm/<task-id>` with a PR (or to the PR's
own branch when config says so and the branch is in the same repository).

One task per thread runs at a time (app/store/github.py, "queue and leases"): `start` records
the task queued with its run card, then `run_queue` claims the thread's slot for the earliest
queued task and runs it, and the next one when it pauses or ends. A task runs under a lease
renewed while it runs (app/github/leases.py); `resume` is how the reconciler picks up a task whose
worker died.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from app import followups
from app.driver import DriverIO, TaskRunner, load_state
from app.engine.commands import Notify
from app.engine.events import CancelRequested, Event, HumanAnswered, HumanDecided, Resumed, TaskStarted
from app.engine.spec import RunSpec
from app.engine.state import ENDED, TaskState, TaskStatus
from app.errors import SpecError, SpecErrors
from app.followups import Restart
from app.github import render
from app.github.gateway import CONTENTS_MAX_BYTES, FileTooLarge, GitHubError, GitHubGateway, Repository
from app.github.leases import Leases
from app.runtimes import git
from app.runtimes.workspace import WorkspaceError
from app.spec.loader import Pipeline, load_config, load_pipeline
from app.spec.models import ProjectConfig
from app.spec.source import MappingReader
from app.store.github import ACTIVE, GitHubStore, TaskLink
from app.store.records import TaskRecord
from app.store.store import TaskStore

log = logging.getLogger("aqm.github")
PARAM_FIELDS_REFUSED = {"cli_flags", "claude_code_flags", "mcp", "model", "runtime", "command"}


@dataclass(frozen=True, slots=True)
class Thread:
    """Where a command came from."""

    owner: str
    repo: str
    number: int
    is_pull: bool
    installation_id: int | None
    actor: str

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"


@dataclass
class Loaded:
    pipeline: Pipeline
    config: ProjectConfig
    files: dict[str, str]
    default_branch: str  # the branch the files were read from
    comment_params: tuple[str, ...] = ()  # params given in a comment, now or to the task it continues


WAITING = {TaskStatus.AWAITING_GATE.value, TaskStatus.AWAITING_HUMAN_INPUT.value}  # for a human


class ConfigProblem(Exception):  # carries the reply to post
    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


async def load_from_default_branch(
    gateway: GitHubGateway,
    thread: Thread,
    repository: Repository,
    pipeline: str | None,
    params: dict[str, str],
    *,
    files: dict[str, str] | None = None,
    task: TaskRecord | None = None,
) -> Loaded:
    """The `.aqm/` tree at the default branch's head (`files`, when already read), loaded and validated.

    `params` are a comment's `--param` values. With `task` (a task continued, resumed, restarted or
    fixed), the params it ran with come first, so it goes on with the values it started with.
    Params from a comment — this one's or the task's — fill prompt text only: a pipeline that puts
    params into `command`, `model`, … is refused for them.
    """
    if files is None:
        files = await read_config_files(gateway, thread, repository.default_branch)
    inherited = {} if task is None else followups.parent_params(task)
    given = tuple(sorted({*params, *(() if task is None else task.state.get("comment_params", ()))}))
    try:
        config, loaded = await asyncio.to_thread(_load_files, files, pipeline, {**inherited, **params})
    except SpecErrors as exc:
        raise ConfigProblem(render.validation_errors(_shown(exc.errors))) from None
    risky = sorted({f for _, f in loaded.param_fields if f in PARAM_FIELDS_REFUSED} if given else set())
    if risky:
        fields = "`, `".join(risky)
        raise ConfigProblem(
            f"This pipeline puts params into `{fields}`. Params given in a comment "
            "fill prompt text only, so this run is refused. Run it without `--param`."
            if params
            else f"This pipeline now puts params into `{fields}`, and task {task.id if task else ''} "
            "was started with params from a comment (`--param`), which fill prompt text only: it "
            "cannot go on. Start a new run without `--param`."
        )
    return Loaded(loaded, config, files, repository.default_branch, given)


async def read_config_files(gateway: GitHubGateway, thread: Thread, branch: str) -> dict[str, str]:
    """The `.aqm/` tree at `branch`; ConfigProblem naming a file over GitHub's contents API limit
    (which GitHub itself would not serve), before anything is parsed."""
    try:
        return await gateway.read_tree(thread.owner, thread.repo, branch, ".aqm")
    except FileTooLarge as exc:
        size = f" ({exc.size:,} bytes)" if exc.size is not None else ""
        raise ConfigProblem(
            render.escape_text(
                f"`{exc.path}` is too large{size}: GitHub serves files of up to 1 MB "
                f"({CONTENTS_MAX_BYTES:,} bytes) through its contents API, so aqm reads `.aqm/` "
                "files up to that size. Make it smaller, or split it into files it imports."
            )
        ) from None


async def load_config_files(files: dict[str, str]) -> ProjectConfig:
    """config.yaml of `.aqm/` files, parsed in a thread: YAML never stalls the event loop."""
    return await asyncio.to_thread(_load_config, files)


def _load_config(files: dict[str, str]) -> ProjectConfig:
    return load_config(MappingReader(files), "config.yaml")


def _load_files(
    files: dict[str, str], pipeline: str | None, overrides: dict[str, str]
) -> tuple[ProjectConfig, Pipeline]:
    """config.yaml and the pipeline named (else the default one), parsed and validated. Sync and pure:
    run in a thread, since a large file takes the parser seconds (a 10 MB one stalled /healthz ~6 s)."""
    reader = MappingReader(files)
    config = load_config(reader, "config.yaml")
    name = pipeline or config.default_pipeline or "default"
    path = _pipeline_path(files, name)
    loaded = load_pipeline(
        reader, path, name=name, overrides=overrides, params_file="params.yaml", config=config
    )
    return config, loaded


def _pipeline_path(files: dict[str, str], name: str) -> str:
    if f"pipelines/{name}.yaml" in files:
        return f"pipelines/{name}.yaml"
    if name == "default" and "agents.yaml" in files:
        return "agents.yaml"
    names = sorted(
        {p[len("pipelines/") : -5] for p in files if p.startswith("pipelines/") and p.endswith(".yaml")}
    )
    message = f"No pipeline named `{name}` in `.aqm/` on the default branch" + (
        f" (pipelines: {', '.join(names)})." if names else "; add `.aqm/agents.yaml`."
    )
    raise ConfigProblem(render.escape_text(message))  # the name comes from the comment: escape it


def _shown(errors: list[SpecError]) -> list[SpecError]:
    return [SpecError(e.message, f".aqm/{e.path}", e.line, e.column, e.fix) for e in errors]


class Reporter:
    """Keeps the thread up to date while the driver runs: GitHub calls happen in order, off the loop."""

    def __init__(self, tasks: ThreadTasks, link: TaskLink) -> None:
        self.tasks = tasks
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
                    await self.tasks.post_stage(self.link, note.stage)
                if note.kind in ("stage_started", "stage_finished", "gate_waiting", "question", "task_ended"):
                    # the check run changes status only at a pause or the end: update it then
                    checks = note.kind in ("gate_waiting", "question", "task_ended")
                    await self.tasks.refresh_card(self.link, checks=checks)
            except Exception:  # reporting must never stop the task; the final card is rewritten anyway
                log.exception("reporting on %s failed", self.link.task_id)


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
    ) -> None:
        self.store = store
        self.github_store = github_store
        self.gateway = gateway
        self.runtimes = runtimes
        self.workspaces = workspaces
        # the worker's git directories, beside the workspaces: a stage sees only its workspace
        self.git_dirs = git_dirs or workspaces.parent / "git"
        self.public_url = public_url
        self.unsandboxed = unsandboxed  # AQM_UNSAFE_UNSANDBOXED_STAGES: every card says so
        self.leases = Leases(github_store, owner=owner, lease_s=lease_s)  # this worker's
        self.specs: dict[str, RunSpec] = {}
        self.sources: dict[str, tuple[str, str]] = {}  # task -> (repository's clone URL, default branch)
        self.continued: set[str] = set()  # queued again by a human's decision: its check is open
        self.deferred = deferred  # a delivery's: its thread queues run once it is handled
        # what this job last sent per card comment / check run: an unchanged one is not sent again
        self.sent_cards: dict[int, str] = {}
        self.sent_checks: dict[int, dict[str, Any]] = {}
        self.sent_statuses: dict[str, tuple[str, str]] = {}

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
        self.sources[task.id] = (clone_url, loaded.default_branch)
        text = await self.card_text(task.id, link)
        card = await self.gateway.comment(thread.owner, thread.repo, thread.number, text)
        self.sent_cards[card] = text
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
                await self.refresh_card(link, checks=False)
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
            text = await self.card_text(task_id, link)
            card = await self.gateway.comment(thread.owner, thread.repo, thread.number, text)
            self.sent_cards[card] = text
            await self.github_store.update_link(task_id, card_comment_id=card)
            link = await self.github_store.get_link(task_id)
        if link.is_pull and link.check_run_id is None and task_id not in self.continued:
            await self.open_check_run(link, task.pipeline)
        self.continued.discard(task_id)
        try:
            await self.prepare_workdir(thread, link)
        except WorkspaceError as problem:
            reply = render.workspace_problem_reply(task_id, str(problem), publishing=False)
            await self.fail_task(
                thread, task_id, f"the workspace could not be prepared: {problem}", reply=reply
            )
            return
        started = task.status == "pending"  # not yet: its first step was never committed
        if not started:
            await self.post_missed_stages(link)
        await self.advance(task_id, TaskStarted(task.state.get("entry_agent")) if started else Resumed())

    async def load_spec(self, thread: Thread, task: TaskRecord) -> bool:
        """The task's pipeline from the default branch now; a broken one fails the task, saying why."""
        repository = await self.gateway.repository(thread.owner, thread.repo)
        try:
            loaded = await load_from_default_branch(
                self.gateway, thread, repository, task.pipeline, {}, task=task
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
        await self.refresh_card(await self.github_store.get_link(task_id))
        return failed

    def repo(self, task_id: str) -> git.Repo:
        """The task's workspace (what its stages see) and the worker's git directory for it."""
        return git.Repo.of(task_id, workspaces=self.workspaces, git_dirs=self.git_dirs)

    async def prepare_workdir(self, thread: Thread, link: TaskLink) -> None:
        """Check out the repository at the task's last pushed commit (its branch's; for a fix, its
        parent's), else at the head it started from, unless this machine has the task's checkout
        already; then restore the instruction files, every time before stages run: a stage, or a
        worker that died part-way, may have left others (WorkspaceError when that fails)."""
        repo = self.repo(link.task_id)
        url, default_branch = await self._source(thread, link)
        if not repo.prepared:
            token = await self.gateway.installation_token()
            if link.branch is not None and link.gate_sha is not None:  # pushed (or a fix of a task that did)
                refs = [f"refs/heads/{link.branch}"]
                await git.checkout(repo, url, link.gate_sha, token=token, refs=refs)
            else:  # a PR's head, from a fork too, is the base repository's refs/pull/N/head
                refs = [f"refs/pull/{link.number}/head"] if link.is_pull else []
                await git.checkout(repo, url, link.head_sha or "", token=token, refs=refs)
        defaults = await self._default_instructions(thread, default_branch)
        git.restore_instruction_files(repo.work_tree, defaults)

    async def _source(self, thread: Thread, link: TaskLink) -> tuple[str, str]:
        """The thread's repository's clone URL and default branch. Only ever the base repository:
        a fork's head is fetched from it (`refs/pull/N/head`) and changes are pushed to it."""
        if link.task_id not in self.sources:
            repository = await self.gateway.repository(thread.owner, thread.repo)
            self.sources[link.task_id] = (repository.clone_url, repository.default_branch)
        return self.sources[link.task_id]

    async def _default_instructions(self, thread: Thread, default_branch: str) -> dict[str, str]:
        """Agent instruction files on the default branch (the top-level ones), from one listing
        of its root; none when it cannot be read (the workspace's own are removed then)."""
        with contextlib.suppress(Exception):
            return await self.gateway.read_root_files(
                thread.owner, thread.repo, default_branch, git.INSTRUCTION_FILES
            )
        return {}

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
            reporter = Reporter(self, link)
            async with reporter:
                io = DriverIO(self.store, self.runtimes, self.workspaces / task_id, reporter)
                runner = self.leases.runners[task_id] = TaskRunner(spec, io, task, state)
                final = await (runner.advance(event) if run else runner.record(event))
            if run or final.status.value not in ACTIVE:  # else it is reported when it runs
                final = await self.publish_changes(link, final)
                await self.refresh_card(await self.github_store.get_link(task_id))
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
        await self.refresh_card(await self.github_store.get_link(link.task_id), checks=False)
        await self.run_queue(link.repo, link.number, asked=link.task_id)

    async def publish_changes(self, link: TaskLink, state: TaskState) -> TaskState:
        """Commit and push what the agents changed, with a PR, before a pause and at the end; the
        task's state after (failed when the workspace cannot be committed safely).

        Always to the base repository: a fork PR's changes go to `aqm/<task-id>` there, in a PR
        against the fork PR's base branch, linked from its thread (a fork is not ours to push to).
        """
        if state.status not in ENDED and state.status not in (
            TaskStatus.AWAITING_GATE,
            TaskStatus.AWAITING_HUMAN_INPUT,
        ):
            return state
        repo = self.repo(link.task_id)
        if not repo.prepared:
            return state
        title = f"aqm {link.task_id}: {state.description.splitlines()[0][:60]}"
        thread = thread_of(link)
        try:
            sha = await git.commit_all(repo, title)
        except WorkspaceError as problem:
            reply = render.workspace_problem_reply(link.task_id, str(problem), publishing=True)
            error = f"the agents' changes could not be committed: {problem}"
            return await self.fail_task(thread, link.task_id, error, reply=reply)
        if sha is None and link.branch is None:
            return state
        branch = link.branch or f"aqm/{link.task_id}"
        if sha is not None:
            url, _ = await self._source(thread, link)
            await git.push(repo, url, branch, token=await self.gateway.installation_token())
        pr, from_fork = link.pr_number, False
        if pr is None and sha is not None:
            base, from_fork = await self._pull_target(link)
            body = pull_body(link.task_id, link.number)
            pr = await self.gateway.create_pull(
                thread.owner, thread.repo, head=branch, base=base, title=title, body=body
            )
        await self.github_store.update_link(
            link.task_id, branch=branch, pr_number=pr, gate_sha=await git.head(repo)
        )
        if from_fork and pr is not None:  # the PR was opened just now, in the base repository
            reply = render.fork_changes_reply(link.task_id, branch, pr)
            await self.gateway.comment(thread.owner, thread.repo, link.number, reply)
        return state

    async def _pull_target(self, link: TaskLink) -> tuple[str, bool]:
        """The branch the task's PR goes into, and whether the task's thread is a fork's PR: a PR's
        own branch (a fork's: its base branch), an issue's default branch."""
        owner, repo = link.repo.split("/", 1)
        if link.is_pull:
            pull = await self.gateway.pull(owner, repo, link.number)
            return (pull.base_ref, True) if pull.is_fork else (pull.head_ref, False)
        return (await self.gateway.repository(owner, repo)).default_branch, False

    # ---- the thread ------------------------------------------------------------------------

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
        fields |= _check_status(state)
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


def thread_of(link: TaskLink) -> Thread:
    owner, repo = link.repo.split("/", 1)
    return Thread(owner, repo, link.number, link.is_pull, link.installation_id, link.actor)


def pull_body(task_id: str, number: int) -> str:
    return (
        f"The changes of aqm task `{task_id}`, started from #{number}.\n\n"
        "Review them here; the task's run card on the thread shows every stage."
    )


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


def _check_status(state: TaskState) -> dict[str, Any]:
    """Status and conclusion, with the Approve / Reject buttons while exactly one gate waits (an
    empty `actions` list takes them off again, so a stale button cannot be clicked)."""
    fields: dict[str, Any] = {"status": "in_progress", "actions": render.check_run_actions(state)}
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
