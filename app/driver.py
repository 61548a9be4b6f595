"""The one loop that performs I/O: decide, persist, perform, feed results back.

`TaskRunner.advance(event)` folds the event into the task with the pure engine, commits the
new state and its stage records in one transaction (persist before acting: a killed
process loses at most the stages that were running), then performs the commands: stages
and gate questions run as asyncio tasks (at most `pipeline.max_parallel` processes at once),
`StopStages` cancels them (the runtime kills the process group), `Notify` goes to the
watcher. It returns when the task has ended or paused (gate, question) with nothing running.
Another process may change the task meanwhile (`aqm cancel`): a watcher notices the new
version and stops the running stages.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.engine.commands import AskGate, ChooseEntry, Command, Notify, RunStage, SaveStage, StopStages
from app.engine.decide import decide
from app.engine.events import (
    EntryChosen,
    Event,
    GateErrored,
    GateJudged,
    StageFailed,
    StageFinished,
    TimeBudgetSpent,
    Usage,
)
from app.engine.gates import VERDICT_SCHEMA, entry_schema, parse_entry, parse_verdict
from app.engine.prompts import render_prompt
from app.engine.spec import RunSpec
from app.engine.state import ENDED, StageSummary, TaskState, TaskStatus
from app.errors import RuntimeFailed, StoreError, VersionConflict
from app.runtimes.base import Finished, RunRequest, Runtime, RuntimeEvent, TextDelta
from app.store.api import Store
from app.store.records import StageRecord, TaskRecord, running_seconds

WATCH_INTERVAL_S = 0.5
Progress = Callable[[Notify], None]
RuntimeFactory = Callable[[str], Runtime]


@dataclass
class DriverIO:
    """What the driver talks to; built once by an entry point (CLI, worker, Action)."""

    store: Store
    runtimes: RuntimeFactory
    workdir: Path
    progress: Progress = lambda _: None
    stream: Callable[[int, str], None] | None = None  # live text of running stages (stage, delta)
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Deadline:
    """A time budget: `limit_min` minutes of running time, `spent_s` of them used before `since`."""

    limit_min: float
    spent_s: float
    since: float  # time.monotonic() when this advance began

    def minutes(self) -> float:
        return (self.spent_s + time.monotonic() - self.since) / 60

    def left(self) -> float:
        return max(0.0, self.limit_min * 60 - self.spent_s - (time.monotonic() - self.since))


class TaskRunner:
    """Runs one task until it ends or pauses."""

    def __init__(self, spec: RunSpec, io: DriverIO, task: TaskRecord, state: TaskState) -> None:
        self.spec = spec
        self.io = io
        self.task_id = task.id
        self.version = task.version
        self.state = state
        self.stages: dict[int, StageRecord] = {}
        self.running: dict[int, asyncio.Task[Event]] = {}  # stage number -> its process
        self.side: set[asyncio.Task[Event]] = set()  # entry choice
        self.slots = asyncio.Semaphore(max(1, spec.config.pipeline.max_parallel))
        self.results: asyncio.Queue[asyncio.Task[Event]] = asyncio.Queue()  # finished work, in order
        # one at a time: a decision with its commit, and the watcher's look at the stored version
        # (a read racing a commit would see an older version and revert the state to it)
        self.lock = asyncio.Lock()
        self.superseded = False  # another worker took the task over: stop without writing anything

    # ---- the loop --------------------------------------------------------------------------

    async def advance(self, event: Event) -> TaskState:
        watcher = asyncio.create_task(self.watch())
        try:
            deadline = await self.time_budget()
            await self.fold(event)
            # a finished stage leaves `running` when its result is queued: both count as work left
            while (self.running or self.side or not self.results.empty()) and self.state.status not in ENDED:
                try:
                    done = await asyncio.wait_for(self.results.get(), deadline.left() if deadline else None)
                except TimeoutError:  # github.budget.max_minutes is spent: the engine stops the task
                    assert deadline is not None
                    await self.fold(TimeBudgetSpent(deadline.minutes()))
                    continue
                if not done.cancelled():  # a cancelled stage (aqm cancel, a failure) only wakes the loop
                    await self.fold(done.result())
        except VersionConflict:
            await self.adopt_newer()  # another process changed the task (aqm cancel): theirs wins
        except asyncio.CancelledError:
            await self.interrupt()
            raise
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        return self.state

    async def record(self, event: Event) -> TaskState:
        """Fold one event and save the result without running anything it starts (only its notes
        are reported): a later `advance(Resumed())` runs what it started, as after a restart."""
        async with self.lock:
            state, commands = decide(self.spec, self.state, event)
            await self.persist(state, commands)
            self.state = state
        for command in commands:
            if isinstance(command, Notify):
                self.perform(command)
        return self.state

    async def time_budget(self) -> Deadline | None:
        """When `github.budget.max_minutes` is set: the moment this task's running time reaches it."""
        limit = self.spec.config.github.budget.max_minutes
        if limit is None:
            return None
        stages = await self.io.store.list_stages(self.task_id, texts=False)
        return Deadline(limit, running_seconds(stages, datetime.now(UTC)), time.monotonic())

    async def fold(self, event: Event) -> None:
        async with self.lock:
            state, commands = decide(self.spec, self.state, event)
            await self.persist(state, commands)
            self.state = state
        for command in commands:
            self.perform(command)

    async def persist(self, state: TaskState, commands: list[Command]) -> None:
        records = [await self.apply(c, state) for c in commands if isinstance(c, SaveStage)]
        self.version = await self.io.store.commit(
            self.task_id,
            status=state.status.value,
            state=state.core(),
            error=state.error,
            stages=records,
            expected_version=self.version,
        )
        for record in records:
            if record.finished_at is not None:
                self.stages.pop(record.number, None)

    def perform(self, command: Command) -> None:
        if isinstance(command, RunStage):
            self.spawn(command.stage, self.run_stage(command))
        elif isinstance(command, AskGate):
            self.spawn(command.stage, self.ask_gate(command))
        elif isinstance(command, ChooseEntry):
            task = asyncio.create_task(self.choose_entry(command))
            self.side.add(task)
            task.add_done_callback(self.deliver)
        elif isinstance(command, StopStages):
            for number in command.stages:
                if number in self.running:
                    self.running.pop(number).cancel()
        elif isinstance(command, Notify):
            self.io.progress(command)

    def spawn(self, stage: int, work: Any) -> None:
        task: asyncio.Task[Event] = asyncio.create_task(work)
        self.running[stage] = task
        task.add_done_callback(self.deliver)

    def deliver(self, task: asyncio.Task[Event]) -> None:
        self.side.discard(task)
        for number, running in list(self.running.items()):
            if running is task:
                del self.running[number]
        self.results.put_nowait(task)

    # ---- stage records ---------------------------------------------------------------------

    async def apply(self, save: SaveStage, state: TaskState) -> StageRecord:
        record = self.stages.get(save.stage)
        if record is None:
            record = await self.existing(save, state)
        now = datetime.now(UTC)
        changes: dict[str, Any] = {"status": save.status, "retry_count": save.retry_count}
        for name in (
            "input_text",
            "output_text",
            "gate_result",
            "reject_reason",
            "error",
            "retry_reason",
            "runtime",
            "model",
        ):
            if (value := getattr(save, name)) is not None:
                changes[name] = value
        if save.task_name:
            changes["task_name"] = save.task_name
        if save.usage is not None:
            changes.update(input_tokens=save.usage[0], output_tokens=save.usage[1], cost_usd=save.usage[2])
        if save.finished:
            changes["finished_at"] = now
        record = replace(record, **changes)
        self.stages[save.stage] = record
        return record

    async def existing(self, save: SaveStage, state: TaskState) -> StageRecord:
        # the engine gives a stage's input only when the stage begins: running, or (a session's
        # result) recorded finished at once
        if save.input_text is not None:
            return StageRecord(
                task_id=self.task_id,
                number=save.stage,
                agent_id=save.agent_id,
                branch=save.branch,
                kind=save.kind,
                started_at=datetime.now(UTC),
                state_before=state.core(),
            )
        return await self.io.store.get_stage(self.task_id, save.stage)

    # ---- performing ------------------------------------------------------------------------

    async def run_stage(self, command: RunStage) -> Event:
        if command.delay_s > 0:
            await asyncio.sleep(command.delay_s)
        async with self.slots:
            outputs = await self.io.store.stage_texts(self.task_id, sorted(command.prompt.stages()))
            agent = self.spec.agent(command.agent_id)
            request = RunRequest(
                prompt=render_prompt(command.prompt, outputs),
                workdir=self.io.workdir,
                timeout_s=command.timeout_s,
                model=command.model,
                flags=command.flags,
                mcp=tuple(agent.servers),
                env=self.io.env,
                argv=command.argv,
                decision=command.decision,
            )
            try:
                finished = await self.collect(command.stage, self.io.runtimes(command.runtime), request)
            except RuntimeFailed as exc:
                return StageFailed(command.stage, str(exc), exc.category, exc.partial_output)
        usage = Usage(finished.usage.input_tokens, finished.usage.output_tokens, finished.usage.cost_usd)
        return StageFinished(command.stage, finished.output, usage, finished.exit_code)

    async def collect(self, stage: int, runtime: Runtime, request: RunRequest) -> Finished:
        finished: Finished | None = None
        event: RuntimeEvent
        async for event in runtime.run(request):
            if isinstance(event, Finished):
                finished = event
            elif isinstance(event, TextDelta) and self.io.stream is not None:
                self.io.stream(stage, event.text)
        if finished is None:
            raise RuntimeFailed(f"{runtime.name} ended without an answer")
        return finished

    async def ask_gate(self, command: AskGate) -> Event:
        request = RunRequest(
            prompt=f"{command.system_prompt}\n\n{command.message}",
            workdir=self.io.workdir,
            timeout_s=command.timeout_s,
            model=command.model,
            schema=VERDICT_SCHEMA,
            env=self.io.env,
        )
        async with self.slots:
            try:
                finished = await self.collect(command.stage, self.io.runtimes(command.runtime), request)
            except RuntimeFailed as exc:
                return GateErrored(command.stage, f"{command.runtime}: {exc}")
        verdict = parse_verdict(finished.output, finished.structured)
        if verdict is None:
            return GateErrored(command.stage, f"no verdict in the answer: {finished.output[:200]!r}")
        usage = Usage(finished.usage.input_tokens, finished.usage.output_tokens, finished.usage.cost_usd)
        return GateJudged(command.stage, verdict[0], verdict[1], usage)

    async def choose_entry(self, command: ChooseEntry) -> Event:
        request = RunRequest(
            prompt=command.message,
            workdir=self.io.workdir,
            timeout_s=command.timeout_s,
            model=command.model,
            schema=entry_schema(command.choices),
            env=self.io.env,
        )
        try:
            finished = await self.collect(0, self.io.runtimes(command.runtime), request)
        except RuntimeFailed as exc:
            return EntryChosen(None, f"{command.runtime} failed: {exc}")
        chosen = parse_entry(finished.output, finished.structured, command.choices)
        return EntryChosen(chosen, "" if chosen else f"answer {finished.output[:80]!r}")

    # ---- other processes -------------------------------------------------------------------

    async def watch(self) -> None:
        """Notice a change made by another process (aqm cancel): stop what runs here."""
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            async with self.lock:
                task = await self.io.store.get_task(self.task_id)
                if task.version == self.version:
                    continue
                self.state = TaskState.from_core(task.state, self.state.history)
                self.version = task.version
            if self.state.status in ENDED:
                for running in list(self.running.values()) + list(self.side):
                    running.cancel()

    async def adopt_newer(self) -> None:
        task = await self.io.store.get_task(self.task_id)
        if task.version == self.version:
            raise
        self.state = TaskState.from_core(task.state, self.state.history)
        self.version = task.version
        for running in list(self.running.values()) + list(self.side):
            running.cancel()

    async def interrupt(self) -> None:
        """Ctrl-C: stop the processes and leave the task `stalled`, so `aqm restart` resumes it."""
        for running in list(self.running.values()) + list(self.side):
            running.cancel()
        if self.state.status in ENDED or self.superseded:
            return
        stalled = self.state.model_copy(update={"status": TaskStatus.STALLED, "error": "interrupted"})
        with contextlib.suppress(StoreError):
            self.version = await self.io.store.commit(
                self.task_id,
                status=stalled.status.value,
                state=stalled.core(),
                error=stalled.error,
                expected_version=self.version,
            )
        self.state = stalled


async def history_of(store: Store, task_id: str) -> tuple[StageSummary, ...]:
    """Rebuild a loaded task's stage summaries from its stage records (finished stages only)."""
    from app.engine.context import summary_line

    records = await store.list_stages(task_id, texts=False)
    finished = [r for r in records if r.finished_at is not None and r.status not in ("running", "judging")]
    texts = await store.stage_texts(task_id, [r.number for r in finished])
    return tuple(
        StageSummary(
            number=r.number,
            agent_id=r.agent_id,
            branch=r.branch,
            status=r.status,
            line=summary_line(texts.get(r.number, "")),
            kind=r.kind,
        )
        for r in finished
    )


async def load_state(store: Store, task: TaskRecord) -> TaskState:
    return TaskState.from_core(task.state, await history_of(store, task.id))
