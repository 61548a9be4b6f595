"""The statements TaskStore runs (SQLAlchemy Core), and conversions between rows and records.

Every statement is built from SQLAlchemy expressions, so every value travels as a bound
parameter. The two inserts are built once per store and executed with parameters, so SQLAlchemy
compiles each once; they use the dialect's own `INSERT ... ON CONFLICT` (SQLite and PostgreSQL
spell it alike). Core rather than the ORM session on this path: a commit costs a handful of
statements whatever the size of the task, with no unit-of-work bookkeeping around them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from sqlalchemy import (
    Delete,
    Executable,
    Select,
    Table,
    bindparam,
    delete,
    func,
    select,
    update,
)

from app.store.records import StageRecord, TaskRecord
from app.store.tables import Base

TASKS: Table = Base.metadata.tables["tasks"]
STAGES: Table = Base.metadata.tables["stages"]
TASK_FIELDS = tuple(f.name for f in fields(TaskRecord))
STAGE_FIELDS = tuple(f.name for f in fields(StageRecord))
STAGE_KEY = ("task_id", "number")
STAGE_TEXT_FIELDS = ("input_text", "output_text", "state_before")  # left out by list_stages(texts=False)


def task_record(row: Mapping[str, Any]) -> TaskRecord:
    return TaskRecord(**{name: row[name] for name in TASK_FIELDS})


def stage_record(row: Mapping[str, Any]) -> StageRecord:
    """A record from a row with all the stage's columns, or all but the texts (left empty)."""
    return StageRecord(**{name: row[name] for name in STAGE_FIELDS if name in row})


def stage_values(stage: StageRecord, *, task_id: str) -> dict[str, Any]:
    """The stage as bound parameters, under the task id as stored (upper-case)."""
    return {name: getattr(stage, name) for name in STAGE_FIELDS} | {"task_id": task_id}


def insert_task(dialect: str) -> Executable:
    """Insert a task unless its id is taken; RETURNING yields the id only when the row went in."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql  # deferred: SQLite users never load it

        return postgresql.insert(TASKS).on_conflict_do_nothing(index_elements=["id"]).returning(TASKS.c.id)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(TASKS).on_conflict_do_nothing(index_elements=["id"]).returning(TASKS.c.id)


def upsert_stage(dialect: str) -> Executable:
    """Insert a stage, or overwrite every field of the one with the same (task_id, number)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        pg = postgresql.insert(STAGES)
        return pg.on_conflict_do_update(index_elements=STAGE_KEY, set_=overwrites(pg.excluded))
    from sqlalchemy.dialects import sqlite

    lite = sqlite.insert(STAGES)
    return lite.on_conflict_do_update(index_elements=STAGE_KEY, set_=overwrites(lite.excluded))


def overwrites(excluded: Any) -> dict[str, Any]:
    return {name: excluded[name] for name in STAGE_FIELDS if name not in STAGE_KEY}


def bump_task(*, checked: bool) -> Executable:
    """Set the columns named in the parameters and version + 1, RETURNING the new version.

    Parameters: `key_id` (the task), `key_version` (when `checked`: the version it must be at),
    and column values by column name, e.g. {"key_id": "T-1A2B3C", "status": "completed", ...}.
    """
    statement = update(TASKS).where(TASKS.c.id == bindparam("key_id"))
    if checked:
        statement = statement.where(TASKS.c.version == bindparam("key_version"))
    return statement.values(version=TASKS.c.version + 1).returning(TASKS.c.version)


def select_task(task_id: str) -> Select[Any]:
    return select(TASKS).where(TASKS.c.id == task_id)


def select_version(task_id: str) -> Select[Any]:
    return select(TASKS.c.version).where(TASKS.c.id == task_id)


def select_tasks(status: str | None, limit: int) -> Select[Any]:
    statement = select(TASKS).order_by(TASKS.c.created_at.desc(), TASKS.c.id.desc()).limit(limit)
    return statement if status is None else statement.where(TASKS.c.status == status)


def delete_task(task_id: str) -> Executable:
    return delete(TASKS).where(TASKS.c.id == task_id).returning(TASKS.c.id)


def select_stage(task_id: str, number: int) -> Select[Any]:
    return select(STAGES).where(STAGES.c.task_id == task_id, STAGES.c.number == number)


def select_stages(task_id: str, *, texts: bool) -> Select[Any]:
    columns = STAGES.c if texts else [c for c in STAGES.c if c.name not in STAGE_TEXT_FIELDS]
    return select(*columns).where(STAGES.c.task_id == task_id).order_by(STAGES.c.number)


def select_outputs(task_id: str, numbers: list[int]) -> Select[Any]:
    return select(STAGES.c.number, STAGES.c.output_text).where(
        STAGES.c.task_id == task_id, STAGES.c.number.in_(numbers)
    )


def delete_stages_from(task_id: str, first: int) -> Delete:
    return delete(STAGES).where(STAGES.c.task_id == task_id, STAGES.c.number >= first)


def select_last_stage_number(task_id: str) -> Select[Any]:
    return select(func.coalesce(func.max(STAGES.c.number), 0)).where(STAGES.c.task_id == task_id)
