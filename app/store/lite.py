"""The task store on the standard library's sqlite3: what the local CLI runs on.

The same tables, rows and records as the SQLAlchemy store (app/store/store.py), without
SQLAlchemy: importing it and aiosqlite costs a CLI command about 0.2 s and 25 MiB, more than the
rest of `aqm run` together, and every query through aiosqlite crosses a thread. This store
reads and writes the file in the calling thread; each call is a millisecond or less (WAL,
synchronous=NORMAL), so it only blocks the event loop as long as another process holds the
write lock (busy timeout) — fine for one CLI command, which is why the server and the workers
keep the SQLAlchemy store.

What it shares with the SQLAlchemy store, so that either can open a file the other wrote (a test
writes with one and reads with the other): the schema, defined by alembic's migrations — a new
file gets their result from app/store/sqlite_head.py (checked equal by a test) without importing
SQLAlchemy, and a file at an older revision is handed to app/store/migrate.py, the only time
SQLAlchemy is imported; the stored forms — JSON as `json.dumps` text, timestamps as UTC
`YYYY-MM-DD HH:MM:SS.ffffff`, U+0000 replaced by U+FFFD in strings; the records and errors
(StoreError, TaskError, VersionConflict); and the semantics of every method (see TaskStore).
"""

# Statements are built from the record classes' field names (constants, never input); every
# value travels as a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.errors import StoreError, TaskError
from app.store.ids import DIGITS_PER_ATTEMPT, IdFactory, normalise_task_id, random_task_id
from app.store.records import (
    NUL,
    REPLACEMENT_CHARACTER,
    ClosedOnExit,
    StageRecord,
    TaskRecord,
    check_stages_belong,
    no_task,
    refused_bump,
)
from app.store.schema import HEAD_REVISION, SQLITE_BUSY_TIMEOUT_MS, set_pragmas
from app.store.sqlite_head import SQLITE_HEAD_DDL, SQLITE_HEAD_REVISION

TASK_FIELDS = tuple(f.name for f in fields(TaskRecord))
STAGE_FIELDS = tuple(f.name for f in fields(StageRecord))
STAGE_TEXT_FIELDS = ("input_text", "output_text", "state_before")
STAGE_KEY = ("task_id", "number")
JSON_FIELDS = frozenset({"state", "state_before"})
TIME_FIELDS = frozenset({"created_at", "updated_at", "started_at", "finished_at"})
# SQLite's page cache (default 2 MiB) fills as the file grows; the CLI reads back only the last
# few outputs, so a small cache keeps a 1,000-stage run as small as a 100-stage one
CACHE_KIB = 256
# sqlite:///relative.db, sqlite:////absolute.db, sqlite+aiosqlite:///...: a plain file, no options
FILE_URL = re.compile(r"^sqlite(?:\+(?:aiosqlite|pysqlite))?:///(?P<path>[^?]+)$")


def sqlite_file(url: str | None) -> Path | None:
    """The file of a plain SQLite URL; None for anything else (PostgreSQL, memory, URI options)."""
    match = FILE_URL.match(url or "")
    if match is None or match["path"] in ("", ":memory:") or match["path"].startswith("file:"):
        return None
    return Path(match["path"])


def _columns(names: Iterable[str]) -> str:
    return ", ".join(names)


INSERT_TASK = (
    f"INSERT INTO tasks ({_columns(TASK_FIELDS)}) VALUES ({', '.join('?' * len(TASK_FIELDS))}) "
    "ON CONFLICT (id) DO NOTHING RETURNING id"
)
UPSERT_STAGE = (
    f"INSERT INTO stages ({_columns(STAGE_FIELDS)}) VALUES ({', '.join('?' * len(STAGE_FIELDS))}) "
    f"ON CONFLICT (task_id, number) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in STAGE_FIELDS if name not in STAGE_KEY)
)
SELECT_TASK = f"SELECT {_columns(TASK_FIELDS)} FROM tasks WHERE id = ?"
SELECT_TASKS = f"SELECT {_columns(TASK_FIELDS)} FROM tasks{{where}} ORDER BY created_at DESC, id DESC LIMIT ?"
BUMP = "UPDATE tasks SET status = ?, state = ?, error = ?, updated_at = ?, version = version + 1 WHERE id = ?"
# one statement for any number of stages (an IN list would be a new statement for every length,
# each kept in sqlite3's statement cache)
SELECT_OUTPUTS = (
    "SELECT number, output_text FROM stages WHERE task_id = ? AND number IN (SELECT value FROM json_each(?))"
)
SHORT_STAGE_FIELDS = tuple(name for name in STAGE_FIELDS if name not in STAGE_TEXT_FIELDS)


class LiteTaskStore(ClosedOnExit):
    """The task store on one SQLite file. Build it with `await LiteTaskStore.connect(path)`."""

    def __init__(self, connection: sqlite3.Connection, *, make_id: IdFactory = random_task_id) -> None:
        self._connection = connection
        self._make_id = make_id

    @classmethod
    async def connect(cls, path: Path, *, make_id: IdFactory = random_task_id) -> LiteTaskStore:
        """Open the file (creating its folder and, in a new file, the schema), migrating it first
        when it is not at HEAD_REVISION."""
        try:
            path.expanduser().parent.mkdir(parents=True, exist_ok=True)
            connection = open_file(path.expanduser())
            if revision(connection) is None:
                create_schema(connection)
            if revision(connection) != HEAD_REVISION:
                connection.close()
                await migrate_file(path.expanduser())
                connection = open_file(path.expanduser())
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"Cannot open the task store at {path}: {exc}") from exc
        return cls(connection, make_id=make_id)

    async def close(self) -> None:
        self._connection.close()

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
        with self._transaction(write=True) as db:
            for digits in DIGITS_PER_ATTEMPT:
                task = TaskRecord(
                    id=normalise_task_id(self._make_id(digits)),
                    pipeline=pipeline,
                    description=description,
                    status=status,
                    state=state,
                    kind=kind,
                    parent_task_id=parent,
                    priority=priority,
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                with refused_values():
                    row = _row(task, TASK_FIELDS)
                if db.execute(INSERT_TASK, row).fetchall():
                    return task
        raise StoreError(f"No free task id after {len(DIGITS_PER_ATTEMPT)} draws")

    async def get_task(self, task_id: str) -> TaskRecord:
        """The task with this id, in any letter case; TaskError when there is none."""
        task_id = normalise_task_id(task_id)
        with self._transaction() as db:
            row = db.execute(SELECT_TASK, (task_id,)).fetchone()
        if row is None:
            raise no_task(task_id)
        return _task(row)

    async def list_tasks(self, *, status: str | None = None, limit: int = 50) -> list[TaskRecord]:
        """The newest `limit` tasks (of that status, when given), newest first."""
        with self._transaction() as db:
            if status is None:
                rows = db.execute(SELECT_TASKS.format(where=""), (limit,)).fetchall()
            else:
                rows = db.execute(SELECT_TASKS.format(where=" WHERE status = ?"), (status, limit)).fetchall()
        return [_task(row) for row in rows]

    async def delete_task(self, task_id: str) -> None:
        """Delete the task and (by cascade) its stages; TaskError when there is none."""
        task_id = normalise_task_id(task_id)
        with self._transaction(write=True) as db:
            deleted = db.execute("DELETE FROM tasks WHERE id = ? RETURNING id", (task_id,)).fetchall()
        if not deleted:
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

        As TaskStore.commit: the task row first (refused with VersionConflict, nothing written,
        when `expected_version` is not the stored one), then the truncation, then the stages.
        """
        task_id = normalise_task_id(task_id)
        check_stages_belong(task_id, stages)
        with refused_values():
            values = (_text(status), json.dumps(state), _text(error), _time(datetime.now(UTC)), task_id)
            rows = [_row(stage, STAGE_FIELDS, task_id=task_id) for stage in stages]
        with self._transaction(write=True) as db:
            if expected_version is None:
                found = db.execute(BUMP + " RETURNING version", values).fetchall()
            else:
                found = db.execute(
                    BUMP + " AND version = ? RETURNING version", (*values, expected_version)
                ).fetchall()
            if not found:
                stored = db.execute("SELECT version FROM tasks WHERE id = ?", (task_id,)).fetchone()
                raise refused_bump(task_id, None if stored is None else stored[0], expected_version)
            if truncate_from is not None:
                db.execute("DELETE FROM stages WHERE task_id = ? AND number >= ?", (task_id, truncate_from))
            if rows:
                db.executemany(UPSERT_STAGE, rows)
        return int(found[0][0])

    # -- stages ------------------------------------------------------------------------------

    async def get_stage(self, task_id: str, number: int) -> StageRecord:
        """One stage with its texts; TaskError when the task has no such stage."""
        task_id = normalise_task_id(task_id)
        query = f"SELECT {_columns(STAGE_FIELDS)} FROM stages WHERE task_id = ? AND number = ?"
        with self._transaction() as db:
            row = db.execute(query, (task_id, number)).fetchone()
        if row is None:
            raise TaskError(f"No stage {number} in task '{task_id}'")
        return _stage(row, STAGE_FIELDS)

    async def list_stages(self, task_id: str, *, texts: bool = True) -> list[StageRecord]:
        """The task's stages by number. texts=False leaves input, output and state_before empty."""
        task_id = normalise_task_id(task_id)
        names = STAGE_FIELDS if texts else SHORT_STAGE_FIELDS
        query = f"SELECT {_columns(names)} FROM stages WHERE task_id = ? ORDER BY number"
        with self._transaction() as db:
            rows = db.execute(query, (task_id,)).fetchall()
        return [_stage(row, names) for row in rows]

    async def stage_texts(self, task_id: str, numbers: Iterable[int]) -> dict[int, str]:
        """The output_text of those stages (the ones that exist), loading nothing else."""
        task_id = normalise_task_id(task_id)
        wanted = sorted(set(numbers))
        with self._transaction() as db:
            return dict(db.execute(SELECT_OUTPUTS, (task_id, json.dumps(wanted))).fetchall())

    async def last_stage_number(self, task_id: str) -> int:
        """The highest stage number of the task; 0 when it has none."""
        query = "SELECT coalesce(max(number), 0) FROM stages WHERE task_id = ?"
        with self._transaction() as db:
            return int(db.execute(query, (normalise_task_id(task_id),)).fetchone()[0])

    # -- internals ---------------------------------------------------------------------------

    @contextmanager
    def _transaction(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction: a writer takes the write lock first (BEGIN IMMEDIATE), so two
        commits of one task queue up instead of one failing half-way; rolled back on any error."""
        db = self._connection
        try:
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield db
            except BaseException:
                db.rollback()
                raise
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.rollback()
            raise StoreError(f"The database refused: {exc}") from exc


@contextmanager
def refused_values() -> Iterator[None]:
    """A value the database cannot take (a naive timestamp, JSON that is not) is a StoreError,
    raised before anything is written, as the SQLAlchemy store raises it."""
    try:
        yield
    except (TypeError, ValueError) as exc:
        raise StoreError(f"The database refused: {exc}") from exc


def open_file(path: Path) -> sqlite3.Connection:
    # isolation_level=None: no implicit transactions; _transaction says BEGIN and COMMIT itself
    connection = sqlite3.connect(
        path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    set_pragmas(connection, wal=True)
    connection.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    return connection


def revision(connection: sqlite3.Connection) -> str | None:
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None  # a new file: no alembic_version table yet
    return None if row is None else str(row[0])


def create_schema(connection: sqlite3.Connection) -> None:
    """Give an empty file the schema alembic's migrations make, stamped with their revision.

    Under the write lock, checked again inside it: of two processes opening a new file at once,
    the second finds the tables made. A file that has tables but no alembic_version (not ours,
    or from before migrations) is left alone: alembic's upgrade then says what is wrong."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        if connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
            for statement in SQLITE_HEAD_DDL:
                connection.execute(statement)
            connection.execute(
                "INSERT INTO alembic_version (version_num) VALUES (?)", (SQLITE_HEAD_REVISION,)
            )
    except BaseException:
        connection.rollback()
        raise
    connection.execute("COMMIT")


async def migrate_file(path: Path) -> None:
    """Bring the file to HEAD_REVISION with alembic (the only time this store loads SQLAlchemy)."""
    from app.store.store import TaskStore

    store = await TaskStore.connect(f"sqlite+aiosqlite:///{path}")
    await store.close()


# ---- values in and out, in the forms the SQLAlchemy store reads and writes -------------------


def _text(value: str | None) -> str | None:
    return None if value is None else value.replace(NUL, REPLACEMENT_CHARACTER)


def _time(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()}: the store takes timezone-aware ones")
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _row(record: TaskRecord | StageRecord, names: Sequence[str], **override: Any) -> tuple[Any, ...]:
    values = {name: getattr(record, name) for name in names} | override
    return tuple(_stored(name, values[name]) for name in names)


def _stored(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in JSON_FIELDS:
        return json.dumps(value)
    if name in TIME_FIELDS:
        return _time(value)
    if isinstance(value, str):
        return _text(value)
    return value


def _loaded(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in JSON_FIELDS:
        return json.loads(value)
    if name in TIME_FIELDS:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value


def _task(row: Sequence[Any]) -> TaskRecord:
    return TaskRecord(**{name: _loaded(name, value) for name, value in zip(TASK_FIELDS, row, strict=True)})


def _stage(row: Sequence[Any], names: Sequence[str]) -> StageRecord:
    return StageRecord(**{name: _loaded(name, value) for name, value in zip(names, row, strict=True)})
