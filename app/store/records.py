"""What the store hands out: plain frozen records, never ORM rows (a row never leaves app/store)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from app.errors import AqmError, TaskError, VersionConflict
from app.store.ids import normalise_task_id

# PostgreSQL's text cannot hold U+0000: both stores store strings with it replaced
NUL, REPLACEMENT_CHARACTER = "\x00", "\ufffd"


@dataclass(frozen=True, slots=True)
class TaskRecord:
    id: str  # "T-" + at least six upper-case hex digits, unique
    pipeline: str
    description: str
    status: str  # aqm's names: pending, in_progress, awaiting_gate, awaiting_human_input, completed, ...
    state: dict[str, Any]  # the engine's core state (JSON), opaque to the store
    kind: str = "run"  # run | fix
    parent_task_id: str | None = None
    priority: int = 2  # critical 0, high 1, normal 2, low 3 (aqm)
    error: str | None = None
    version: int = 1  # incremented by every commit (optimistic concurrency)
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StageRecord:
    task_id: str
    number: int  # 1-based, unique in the task, in the order stages started
    agent_id: str
    branch: str = "1"  # fan-out branch id ("1", "1.2", ...)
    kind: str = "agent"  # agent | turn (a session turn) | summary | session
    task_name: str = ""
    status: str = "running"  # running, completed, failed, approved, rejected, asked, cancelled
    input_text: str = ""
    output_text: str = ""
    gate_result: str | None = None  # approved | rejected
    reject_reason: str | None = None
    retry_count: int = 0
    retry_reason: str | None = None
    runtime: str | None = None
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    state_before: dict[str, Any] = field(default_factory=dict)  # engine core state when the stage started


def running_seconds(stages: list[StageRecord], now: datetime) -> float:
    """How long the task has run: the time during which at least one of its stages ran.

    Time spent paused (waiting for a human) does not count; parallel stages count once. A stage
    still running counts until `now`. This is what `github.budget.max_minutes` limits.
    """
    spans = sorted((s.started_at, s.finished_at or now) for s in stages if s.started_at is not None)
    total = 0.0
    start: datetime | None = None
    end: datetime | None = None
    for begin, finish in spans:
        if end is None or begin > end:
            if start is not None and end is not None:
                total += (end - start).total_seconds()
            start, end = begin, finish
        elif finish > end:
            end = finish
    if start is not None and end is not None:
        total += (end - start).total_seconds()
    return total


# ---- what both stores (app/store/store.py, app/store/lite.py) check and refuse alike --------------


def check_stages_belong(task_id: str, stages: Sequence[StageRecord]) -> None:
    strangers = sorted({stage.task_id for stage in stages if normalise_task_id(stage.task_id) != task_id})
    if strangers:
        raise ValueError(f"commit of task '{task_id}' was given stages of {', '.join(strangers)}")


def no_task(task_id: str) -> TaskError:
    return TaskError(f"No task '{task_id}'")


def refused_bump(task_id: str, stored_version: int | None, expected_version: int | None) -> AqmError:
    """Why a commit's update of the task row changed nothing: no such task, or another writer."""
    if stored_version is None:
        return no_task(task_id)
    return VersionConflict(
        f"Task '{task_id}' is at version {stored_version}, not {expected_version}: "
        "another writer committed first"
    )


class ClosedOnExit:
    """`async with store:` closes the store on the way out (both stores)."""

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
