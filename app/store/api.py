"""What the driver and the CLI need of a task store, and how the CLI opens one.

Two stores keep these promises on the same tables: `TaskStore` (SQLAlchemy; PostgreSQL and
SQLite, the server and the workers) and `LiteTaskStore` (the standard library's sqlite3; the
local CLI on its SQLite file). Importing this module imports neither SQLAlchemy nor the stores.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from app.store.records import StageRecord, TaskRecord


class Store(Protocol):
    async def close(self) -> None: ...

    async def create_task(
        self,
        *,
        pipeline: str,
        description: str,
        state: dict[str, Any],
        status: str = "pending",
        kind: str = "run",
        parent_task_id: str | None = None,
        priority: int = 2,
    ) -> TaskRecord: ...

    async def get_task(self, task_id: str) -> TaskRecord: ...

    async def list_tasks(self, *, status: str | None = None, limit: int = 50) -> list[TaskRecord]: ...

    async def delete_task(self, task_id: str) -> None: ...

    async def commit(
        self,
        task_id: str,
        *,
        status: str,
        state: dict[str, Any],
        error: str | None = None,
        stages: Sequence[StageRecord] = (),
        truncate_from: int | None = None,
        expected_version: int | None = None,
    ) -> int: ...

    async def get_stage(self, task_id: str, number: int) -> StageRecord: ...

    async def list_stages(self, task_id: str, *, texts: bool = True) -> list[StageRecord]: ...

    async def stage_texts(self, task_id: str, numbers: Iterable[int]) -> dict[int, str]: ...

    async def last_stage_number(self, task_id: str) -> int: ...


async def open_store(url: str | None, *, default_file: Path) -> Store:
    """The CLI's store: sqlite3 on a plain SQLite file (`default_file` when `url` is None), else
    the SQLAlchemy store (PostgreSQL, in-memory or URI-style SQLite URLs)."""
    from app.store.lite import LiteTaskStore, sqlite_file

    path = default_file if url is None else sqlite_file(url)
    if path is not None:
        return await LiteTaskStore.connect(path)
    from app.store.store import TaskStore

    return await TaskStore.connect(url or "")
