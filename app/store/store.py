"""TaskStore: tasks and their stages, durable in SQLite or PostgreSQL.

Unlike aqm, which rewrote a task's whole JSON (every stage's input and output) twice per
stage and could overwrite a task on an id collision, a task is one row and each stage is
another: `commit` writes the task row and only the stages it is given, in one transaction,
so its cost does not grow with the task. Readers ask for what they need: `list_stages(texts=False)`
for a status display, `stage_texts` for the outputs the engine puts into a prompt.

The engine's state is opaque JSON here. Every method hands out records (app.store.records),
never rows, and turns a database failure into StoreError and an unknown id into TaskError.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Any, NoReturn

from sqlalchemy import Executable, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.errors import StoreError, TaskError
from app.store import statements as sql
from app.store.database import open_engine
from app.store.ids import DIGITS_PER_ATTEMPT, IdFactory, normalise_task_id, random_task_id
from app.store.migrate import migrate
from app.store.records import (
    ClosedOnExit,
    StageRecord,
    TaskRecord,
    check_stages_belong,
    no_task,
    refused_bump,
)
from app.store.turns import Turns

STAGE_TEXTS_BATCH = 500  # numbers per IN (...) list, well under SQLite's bound-parameter limit


class TaskStore(ClosedOnExit):
    """The durable task store. Build it with `await TaskStore.connect(url)`; close it when done."""

    def __init__(self, engine: AsyncEngine, *, make_id: IdFactory = random_task_id) -> None:
        self._engine = engine
        self._make_id = make_id
        self._turns = Turns() if engine.dialect.name == "sqlite" else None
        self._insert_task = sql.insert_task(engine.dialect.name)  # built once, compiled once
        self._upsert_stage = sql.upsert_stage(engine.dialect.name)
        self._bump = sql.bump_task(checked=False)
        self._bump_checked = sql.bump_task(checked=True)

    @classmethod
    async def connect(
        cls, url: str, *, schema: str | None = None, make_id: IdFactory = random_task_id
    ) -> TaskStore:
        """Open the database at `url`, creating the SQLite file and migrating as needed.

        `schema` (PostgreSQL only) keeps the tables in that existing schema; `make_id` draws
        task ids (tests inject one to force collisions).
        """
        engine = open_engine(url, schema=schema)
        try:
            await migrate(engine)
        except (SQLAlchemyError, OSError) as exc:
            await engine.dispose()
            where = make_url(url).render_as_string(hide_password=True)
            raise StoreError(f"Cannot open the task store at {where}: {reason(exc)}") from exc
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine, make_id=make_id)

    async def close(self) -> None:
        await self._engine.dispose()

    # -- tasks -------------------------------------------------------------------------------

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
    ) -> TaskRecord:
        """Insert a new task under a fresh id (never overwriting one) at version 1."""
        now = datetime.now(UTC)
        parent = None if parent_task_id is None else normalise_task_id(parent_task_id)
        values: dict[str, Any] = {
            "pipeline": pipeline,
            "description": description,
            "status": status,
            "state": state,
            "kind": kind,
            "parent_task_id": parent,
            "priority": priority,
            "error": None,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        async with self._transaction() as connection:
            task_id = await self._insert_under_new_id(connection, values)
        return TaskRecord(id=task_id, **values)

    async def get_task(self, task_id: str) -> TaskRecord:
        """The task with this id, in any letter case; TaskError when there is none."""
        task_id = normalise_task_id(task_id)
        async with self._transaction() as connection:
            row = (await connection.execute(sql.select_task(task_id))).mappings().first()
        if row is None:
            raise no_task(task_id)
        return sql.task_record(row)

    async def list_tasks(self, *, status: str | None = None, limit: int = 50) -> list[TaskRecord]:
        """The newest `limit` tasks (of that status, when given), newest first."""
        async with self._transaction() as connection:
            rows = (await connection.execute(sql.select_tasks(status, limit))).mappings().all()
        return [sql.task_record(row) for row in rows]

    async def delete_task(self, task_id: str) -> None:
        """Delete the task and (by cascade) its stages; TaskError when there is none."""
        task_id = normalise_task_id(task_id)
        async with self._transaction() as connection:
            deleted = (await connection.execute(sql.delete_task(task_id))).first()
        if deleted is None:
            raise no_task(task_id)

    # -- the engine's step -------------------------------------------------------------------

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
    ) -> int:
        """Persist one step of the engine in one transaction; return the task's new version.

        In order: the task row gets `status`, `state`, `error` and version + 1 (refused with
        StoreError, nothing written, when `expected_version` is given and is not the stored
        one); stages numbered `truncate_from` and above are deleted (a restart); `stages` are
        inserted or overwritten by (task_id, number). Earlier stages are not read or rewritten.
        """
        task_id = normalise_task_id(task_id)
        check_stages_belong(task_id, stages)
        changes = {"status": status, "state": state, "error": error, "updated_at": datetime.now(UTC)}
        statement, parameters = self._bump_for(task_id, expected_version, changes)
        rows = [sql.stage_values(stage, task_id=task_id) for stage in stages]
        async with self._transaction() as connection:
            # The task row first: its write lock serialises commits of one task from the start.
            version = await bump(connection, statement, parameters)
            if truncate_from is not None:
                await connection.execute(sql.delete_stages_from(task_id, truncate_from))
            if rows:
                await connection.execute(self._upsert_stage, rows)  # one statement, a row per stage
        return version

    # -- stages ------------------------------------------------------------------------------

    async def get_stage(self, task_id: str, number: int) -> StageRecord:
        """One stage with its texts; TaskError when the task has no such stage."""
        task_id = normalise_task_id(task_id)
        async with self._transaction() as connection:
            row = (await connection.execute(sql.select_stage(task_id, number))).mappings().first()
        if row is None:
            raise TaskError(f"No stage {number} in task '{task_id}'")
        return sql.stage_record(row)

    async def list_stages(self, task_id: str, *, texts: bool = True) -> list[StageRecord]:
        """The task's stages by number. texts=False leaves input, output and state_before empty."""
        task_id = normalise_task_id(task_id)
        async with self._transaction() as connection:
            rows = (await connection.execute(sql.select_stages(task_id, texts=texts))).mappings().all()
        return [sql.stage_record(row) for row in rows]

    async def stage_texts(self, task_id: str, numbers: Iterable[int]) -> dict[int, str]:
        """The output_text of those stages (the ones that exist), loading nothing else."""
        task_id = normalise_task_id(task_id)
        wanted = sorted(set(numbers))
        texts: dict[int, str] = {}
        async with self._transaction() as connection:
            for start in range(0, len(wanted), STAGE_TEXTS_BATCH):
                batch = wanted[start : start + STAGE_TEXTS_BATCH]
                rows = await connection.execute(sql.select_outputs(task_id, batch))
                texts.update((number, text) for number, text in rows)
        return texts

    async def last_stage_number(self, task_id: str) -> int:
        """The highest stage number of the task; 0 when it has none."""
        statement = sql.select_last_stage_number(normalise_task_id(task_id))
        async with self._transaction() as connection:
            return int((await connection.execute(statement)).scalar_one())

    # -- for the other record stores on this database (app/store/github.py) -------------------

    def transaction(self, *, urgent: bool = False) -> AbstractAsyncContextManager[AsyncConnection]:
        """One connection in one transaction (StoreError on failure), for sibling stores;
        `urgent`: on the request path (on SQLite it goes before waiting background work)."""
        return self._transaction(urgent=urgent)

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    # -- internals ---------------------------------------------------------------------------

    @asynccontextmanager
    async def _transaction(self, *, urgent: bool = False) -> AsyncIterator[AsyncConnection]:
        """One connection in one transaction: committed at the end, rolled back on any error.

        On SQLite the process's transactions take turns (app/store/turns.py; `urgent` ones
        first); PostgreSQL runs them side by side.
        """
        turn = self._turns.turn(urgent=urgent) if self._turns is not None else contextlib.nullcontext()
        try:
            async with turn, self._engine.begin() as connection:
                yield connection
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError(f"The database refused: {reason(exc)}") from exc

    def _bump_for(
        self, task_id: str, expected_version: int | None, changes: dict[str, Any]
    ) -> tuple[Executable, dict[str, Any]]:
        """The UPDATE of the task row, checked against `expected_version` when given."""
        if expected_version is None:
            return self._bump, {"key_id": task_id, **changes}
        return self._bump_checked, {"key_id": task_id, "key_version": expected_version, **changes}

    async def _insert_under_new_id(self, connection: AsyncConnection, values: dict[str, Any]) -> str:
        for digits in DIGITS_PER_ATTEMPT:
            task_id = normalise_task_id(self._make_id(digits))
            inserted = await connection.execute(self._insert_task, {"id": task_id, **values})
            if inserted.first() is not None:
                return task_id
        raise StoreError(f"No free task id after {len(DIGITS_PER_ATTEMPT)} draws")


async def bump(connection: AsyncConnection, statement: Executable, parameters: dict[str, Any]) -> int:
    """Update the task row and return its new version; raise when it is missing or elsewhere."""
    version = (await connection.execute(statement, parameters)).scalar_one_or_none()
    if version is None:
        await explain_refused_bump(connection, parameters["key_id"], parameters.get("key_version"))
    return int(version)


async def explain_refused_bump(
    connection: AsyncConnection, task_id: str, expected_version: int | None
) -> NoReturn:
    stored = (await connection.execute(sql.select_version(task_id))).scalar_one_or_none()
    raise refused_bump(task_id, stored, expected_version)


def reason(exc: BaseException) -> str:
    """The database's own words, without SQLAlchemy's statement dump."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__
