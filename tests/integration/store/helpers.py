"""Small builders shared by the store tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.store.records import StageRecord, TaskRecord
from app.store.store import TaskStore

T0 = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def stage(task_id: str, number: int, **fields: Any) -> StageRecord:
    """A finished stage with every field set, so that a round trip checks them all."""
    values: dict[str, Any] = {
        "agent_id": f"agent{number}",
        "branch": "1",
        "kind": "agent",
        "task_name": f"step {number}",
        "status": "completed",
        "input_text": f"input of stage {number}",
        "output_text": f"output of stage {number}",
        "gate_result": "approved",
        "reject_reason": None,
        "retry_count": 1,
        "retry_reason": "timeout",
        "runtime": "claude",
        "model": "sonnet",
        "input_tokens": 1200 + number,
        "output_tokens": 300 + number,
        "cost_usd": 0.0123,
        "error": None,
        "started_at": T0 + timedelta(minutes=number),
        "finished_at": T0 + timedelta(minutes=number, seconds=30),
        "state_before": {"stage": number, "agents": ["a", "b"]},
    }
    values.update(fields)
    return StageRecord(task_id=task_id, number=number, **values)


async def new_task(store: TaskStore, description: str = "add rate limiting", **fields: Any) -> TaskRecord:
    return await store.create_task(pipeline="default", description=description, state={"step": 0}, **fields)


async def task_with_stages(store: TaskStore, count: int) -> TaskRecord:
    """A task at version 2 whose stages 1..count are committed."""
    task = await new_task(store)
    stages = [stage(task.id, n) for n in range(1, count + 1)]
    await store.commit(task.id, status="in_progress", state={"step": count}, stages=stages)
    return await store.get_task(task.id)
