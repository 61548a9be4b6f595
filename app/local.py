"""The local CLI's task commands: run, approve, reject, human-input, cancel, fix, restart, chunks.

Each opens the project's store (SQLite in `.aqm/aqm.db` unless AQM_DATABASE_URL says
otherwise), loads the task's pipeline from the project, and drives the task with the one
driver until it ends or pauses — in this same process, as aqm does.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from app import followups
from app.driver import DriverIO, TaskRunner, load_state
from app.engine.commands import Notify
from app.engine.decide import decide
from app.engine.events import (
    CancelRequested,
    Event,
    HumanAnswered,
    HumanDecided,
    TaskStarted,
)
from app.engine.spec import RunSpec
from app.engine.state import ENDED, TaskState, TaskStatus
from app.errors import TaskError
from app.project import Project
from app.runtimes.registry import RuntimeFactory, get_runtime, runtimes_for, stage_launcher
from app.store.api import Store, open_store
from app.store.records import TaskRecord


def database_url_from_env() -> str | None:
    """AQM_DATABASE_URL (any case, as pydantic-settings reads it; empty = unset), the one setting
    the task commands use: read directly, not through `app.settings`, whose pydantic-settings
    import was ~5% of the instructions of every `aqm` command's start-up."""
    found = [value for name, value in os.environ.items() if name.upper() == "AQM_DATABASE_URL"]
    return found[0] if found and found[0] else None


@dataclass
class Local:
    """One CLI invocation's project, store and output."""

    project: Project
    store: Store
    out: TextIO = sys.stdout
    progress: Callable[[Notify], None] | None = None
    runtimes: RuntimeFactory = get_runtime  # unsandboxed, as aqm runs its CLIs; see `sandbox_stages`

    @classmethod
    async def open(cls, project: Project, database_url: str | None, *, out: TextIO = sys.stdout) -> Local:
        store = await open_store(database_url, default_file=project.aqm_dir / "aqm.db")
        return cls(project, store, out)

    async def close(self) -> None:
        await self.store.close()

    # ---- building blocks -------------------------------------------------------------------

    def spec(self, pipeline: str | None, params: dict[str, str]) -> RunSpec:
        return RunSpec(self.project.load(pipeline, overrides=params), self.project.config())

    def io(self) -> DriverIO:
        return DriverIO(self.store, self.runtimes, self.project.root, self.progress or self.print_progress)

    def sandbox_stages(self) -> None:
        """`aqm run --sandbox`: stages run in bubblewrap, as on the App, with `.aqm/` hidden from them
        and the CLIs' logins in HOME (~/.claude, ~/.gemini, ~/.codex) bound in, so a login works."""
        launcher = stage_launcher(sandbox=True, data_dir=self.project.aqm_dir, logins=True)
        self.runtimes = runtimes_for(launcher)

    def print_progress(self, note: Notify) -> None:
        if note.kind in (
            "stage_started",
            "stage_finished",
            "gate_waiting",
            "question",
            "note",
            "consensus",
            "gate_decided",
            "fork",
            "task_ended",
        ):
            mark = _MARKS.get(note.kind, "•")
            if note.kind == "stage_finished" and note.text.endswith(("rejected", "failed", "cancelled")):
                mark = "✗"
            print(f"  {mark} {note.text}", file=self.out, flush=True)

    async def task(self, task_id: str) -> TaskRecord:
        return await self.store.get_task(task_id)

    async def spec_of(self, task: TaskRecord) -> RunSpec:
        return self.spec(task.pipeline, followups.parent_params(task))

    async def drive(self, spec: RunSpec, task: TaskRecord, state: TaskState, event: Event) -> int:
        runner = TaskRunner(spec, self.io(), task, state)
        final = await runner.advance(event)
        self.report(final)
        ok = (TaskStatus.COMPLETED, TaskStatus.AWAITING_GATE, TaskStatus.AWAITING_HUMAN_INPUT)
        return 0 if final.status in ok else 1  # a task still in_progress here is a defect: say so

    def report(self, state: TaskState) -> None:
        print(f"Status: {state.status.value}  {state.task_id}", file=self.out)
        if state.error:
            print(f"Error: {state.error}", file=self.out)
        for branch in state.branches:
            if branch.gate is not None:
                print(
                    f"Waiting: the human gate of '{branch.gate.agent_id}' (stage {branch.gate.stage}).\n"
                    f"  approve: aqm approve {state.task_id} [-r reason]\n"
                    f"  reject:  aqm reject {state.task_id} -r <reason>",
                    file=self.out,
                )
            if branch.question is not None:
                questions = "\n".join(f"  ? {q}" for q in branch.question.questions)
                print(
                    f"Question from '{branch.question.agent_id}':\n{questions}\n"
                    f'  answer: aqm human-input {state.task_id} "<answer>"',
                    file=self.out,
                )
        if state.status in (TaskStatus.FAILED, TaskStatus.STALLED, TaskStatus.CANCELLED):
            print(
                f"Restart: aqm restart {state.task_id}"
                + (f" (from stage {state.failed_stage})" if state.failed_stage else ""),
                file=self.out,
            )

    # ---- commands --------------------------------------------------------------------------

    async def run(
        self,
        description: str,
        *,
        pipeline: str | None,
        agent: str | None,
        params: dict[str, str],
        kind: str = "run",
        parent: str | None = None,
    ) -> int:
        spec = self.spec(pipeline, params)
        if agent is not None and agent not in spec.pipeline.ids:
            raise TaskError(
                f"no agent '{agent}' in pipeline '{spec.pipeline.name}' ({', '.join(spec.pipeline.ids)})"
            )
        state = TaskState(
            task_id="",
            pipeline=spec.pipeline.name,
            description=description,
            params=dict(spec.pipeline.params),
            kind=kind,
        )
        task = await self.store.create_task(
            pipeline=spec.pipeline.name,
            description=description,
            state=state.core(),
            kind=kind,
            parent_task_id=parent,
        )
        state = state.model_copy(update={"task_id": task.id})
        print(f"Task {task.id} (pipeline {spec.pipeline.name})", file=self.out, flush=True)
        return await self.drive(spec, task, state, TaskStarted(agent))

    async def resume(self, task_id: str, event: Event, *, allowed: set[TaskStatus]) -> int:
        task = await self.task(task_id)
        state = await load_state(self.store, task)
        if state.status not in allowed:
            raise TaskError(f"Task '{task.id}' is not in a resumable state. (current: {state.status.value})")
        return await self.drive(await self.spec_of(task), task, state, event)

    async def approve(self, task_id: str, reason: str, *, decision: str = "approved") -> int:
        task = await self.task(task_id)
        self.single_waiting(await load_state(self.store, task), "gate")
        return await self.resume(
            task_id, HumanDecided(decision, reason, by=_user()), allowed={TaskStatus.AWAITING_GATE}
        )

    async def answer(self, task_id: str, text: str) -> int:
        task = await self.task(task_id)
        self.single_waiting(await load_state(self.store, task), "question")
        return await self.resume(
            task_id, HumanAnswered(text, by=_user()), allowed={TaskStatus.AWAITING_HUMAN_INPUT}
        )

    def single_waiting(self, state: TaskState, what: str) -> None:
        waiting = [b for b in state.branches if (b.gate if what == "gate" else b.question) is not None]
        if len(waiting) > 1:
            names = ", ".join(
                b.gate.agent_id if b.gate else b.question.agent_id if b.question else "" for b in waiting
            )
            raise TaskError(
                f"several {what}s wait in {state.task_id} ({names}); this version answers one at a time"
            )

    async def cancel(self, task_id: str, reason: str) -> int:
        task = await self.task(task_id)
        state = await load_state(self.store, task)
        if state.status in ENDED:
            raise TaskError(f"Task '{task.id}' has already ended ({state.status.value}).")
        spec = await self.spec_of(task)
        state, _ = decide(spec, state, CancelRequested(reason or "cancelled from the command line"))
        await self.store.commit(
            task.id,
            status=state.status.value,
            state=state.core(),
            error=state.error,
            expected_version=task.version,
        )
        print(f"Cancelled {task.id}", file=self.out)
        return 0

    async def restart(self, task_id: str, from_stage: int | None) -> int:
        rewound = await followups.restart(self.store, task_id, from_stage)
        if rewound.from_stage:
            print(f"Restarting {rewound.task.id} from stage {rewound.from_stage}", file=self.out, flush=True)
        spec = await self.spec_of(rewound.task)
        return await self.drive(spec, rewound.task, rewound.state, rewound.event)

    async def fix(self, task_id: str, text: str, *, agent: str | None, params: dict[str, str]) -> int:
        parent = await self.task(task_id)
        description = await followups.fix_description(self.store, parent, text)
        merged = followups.parent_params(parent) | params
        return await self.run(
            description, pipeline=parent.pipeline, agent=agent, params=merged, kind="fix", parent=parent.id
        )

    async def chunks(self, task_id: str, action: str, value: str | None) -> int:
        task = await self.task(task_id)
        if action == "list":
            state = await load_state(self.store, task)
        else:
            state = await followups.edit_chunks(self.store, await self.spec_of(task), task, action, value)
        from app.engine.sessions import chunks_table

        print(chunks_table(state.chunks), file=self.out)
        return 0


_MARKS = {
    "stage_started": "▶",
    "stage_finished": "✓",
    "gate_waiting": "⏸",
    "question": "?",
    "task_ended": "■",
    "gate_decided": "⚑",
    "consensus": "✓",
    "fork": "⑂",
}


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except OSError:  # pragma: no cover - no user name in the environment
        return "local user"


def data_path(project: Project) -> Path:
    return project.aqm_dir / "aqm.db"
