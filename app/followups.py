"""What restart, fix and chunk edits do to a stored task, shared by the CLI and the GitHub App.

Each function checks the request against the task (raising TaskError with a message a user can
act on), changes the store where the operation needs it, and returns what the caller drives or
shows next. Running the task stays with the caller (app/local.py drives it in process,
app/github/runs.py on a thread's workspace).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.driver import load_state
from app.engine.decide import decide
from app.engine.events import ChunksEdited, Event, Resumed, TaskStarted
from app.engine.spec import RunSpec
from app.engine.state import TaskState, TaskStatus
from app.errors import TaskError
from app.store.api import Store
from app.store.records import TaskRecord

RESTARTABLE = {TaskStatus.FAILED, TaskStatus.COMPLETED, TaskStatus.STALLED, TaskStatus.CANCELLED}
FIX_CONTEXT_STAGES = 3  # the last stages' outputs a fix task sees


@dataclass(frozen=True, slots=True)
class Restart:
    """A task rewound for a restart: drive `state` from `event` (the task record is the stored one)."""

    task: TaskRecord
    state: TaskState
    event: Event
    from_stage: int  # 0: the task ran no stage, it starts again from the beginning


async def restart(store: Store, task_id: str, from_stage: int | None) -> Restart:
    """Rewind a failed, completed, stalled or cancelled task to stage `from_stage` (default: the
    stage that failed, else the last one): stages from there on are deleted, the state before it
    comes back."""
    task = await store.get_task(task_id)
    state = await load_state(store, task)
    if state.status not in RESTARTABLE:
        raise TaskError(
            f"Task {task.id} cannot be restarted while it is {state.status.value}; "
            "only a failed, completed, stalled or cancelled task can."
        )
    last = await store.last_stage_number(task.id)
    number = from_stage or state.failed_stage or last
    if number < 1 or number > max(last, 1):
        raise TaskError(f"--from-stage must be between 1 and {max(last, 1)} for task {task.id}")
    if last == 0:  # pending again: it starts from its start agent
        fresh = state.model_copy(update={"status": TaskStatus.PENDING, "error": None})
        await store.commit(task.id, status="pending", state=fresh.core(), expected_version=task.version)
        return Restart(await store.get_task(task.id), fresh, TaskStarted(state.entry_agent), 0)
    snapshot = (await store.get_stage(task.id, number)).state_before
    restarted = TaskState.from_core(snapshot)
    rerun = set(restarted.running_stages())
    history = tuple(h for h in state.history if h.number < number and h.number not in rerun)
    restarted = restarted.model_copy(
        update={"history": history, "status": TaskStatus.IN_PROGRESS, "error": None}
    )
    await store.commit(
        task.id,
        status="in_progress",
        state=restarted.core(),
        truncate_from=number,
        expected_version=task.version,
    )
    return Restart(await store.get_task(task.id), restarted, Resumed(), number)


async def fix_description(store: Store, parent: TaskRecord, text: str) -> str:
    """The task text of a fix: the original task, the last stages' outputs, then the fix request."""
    stages = await store.list_stages(parent.id)
    context = "\n\n".join(
        f"## [stage {s.number}] {s.agent_id} ({s.status})\n{s.output_text}"
        for s in stages[-FIX_CONTEXT_STAGES:]
    )
    return (
        f"[FIX — follow-up from {parent.id}]\nOriginal task: {parent.description}\n\n"
        f"--- Previous context ---\n{context}\n\n--- Fix request ---\n{text}"
    )


def parent_params(parent: TaskRecord) -> dict[str, str]:
    """The params a task ran with, as text (a fix runs with them too)."""
    return {k: param_text(v) for k, v in parent.state.get("params", {}).items() if v is not None}


async def edit_chunks(
    store: Store, spec: RunSpec, task: TaskRecord, action: str, value: str | None
) -> TaskState:
    """Add a chunk, mark one done or remove one; the task's state after the edit."""
    state = await load_state(store, task)
    if not value:
        raise TaskError(f"chunks {action} needs {'a description' if action == 'add' else 'a chunk id'}")
    if action in ("done", "remove") and value.upper() not in {c.id for c in state.chunks}:
        known = ", ".join(c.id for c in state.chunks) or "none yet"
        raise TaskError(f"No chunk {value.upper()} in task {task.id} (chunks: {known})")
    state, _ = decide(spec, state, ChunksEdited(action, value))
    await store.commit(
        task.id,
        status=state.status.value,
        state=state.core(),
        error=state.error,
        expected_version=task.version,
    )
    return state


def param_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
