"""The database tables as SQLAlchemy 2 declarative classes. A row never leaves app/store.

Types are the portable ones (JSON, Text, DateTime(timezone=True)) so that one schema and one
migration serve SQLite and PostgreSQL. Texts are `Text`: a stage's output can be megabytes.
Timestamps are timezone-aware UTC on the way in and on the way out, on both databases.
PostgreSQL's text cannot hold U+0000 (a CLI may print one): strings are stored with it replaced
by U+FFFD on both databases alike, rather than failing the commit and with it the task.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from app.store.records import NUL, REPLACEMENT_CHARACTER

# Stable constraint and index names, so that later migrations can refer to them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime; SQLite, which stores no offset, gets UTC and gives it back."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()}: the store takes timezone-aware ones")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class NulFreeString(TypeDecorator[str]):
    """A short string, stored with U+0000 replaced by U+FFFD."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else value.replace(NUL, REPLACEMENT_CHARACTER)


class NulFreeText(NulFreeString):
    """A text of any length (outputs can be megabytes), stored with U+0000 replaced by U+FFFD."""

    impl = Text
    cache_ok = True


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TaskRow(Base):
    """One task: its identity, status and the engine's state (opaque JSON). Stages live apart."""

    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(NulFreeString, primary_key=True)
    pipeline: Mapped[str] = mapped_column(NulFreeString)
    description: Mapped[str] = mapped_column(NulFreeText)
    status: Mapped[str] = mapped_column(NulFreeString, index=True)
    priority: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(NulFreeString)
    parent_task_id: Mapped[str | None] = mapped_column(NulFreeString)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(NulFreeText)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class StageRow(Base):
    """One stage of a task, one row each: a commit writes only the stages it names."""

    __tablename__ = "stages"

    task_id: Mapped[str] = mapped_column(
        NulFreeString, ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    agent_id: Mapped[str] = mapped_column(NulFreeString)
    branch: Mapped[str] = mapped_column(NulFreeString)
    kind: Mapped[str] = mapped_column(NulFreeString)
    task_name: Mapped[str] = mapped_column(NulFreeText)
    status: Mapped[str] = mapped_column(NulFreeString)
    input_text: Mapped[str] = mapped_column(NulFreeText)
    output_text: Mapped[str] = mapped_column(NulFreeText)
    gate_result: Mapped[str | None] = mapped_column(NulFreeString)
    reject_reason: Mapped[str | None] = mapped_column(NulFreeText)
    retry_count: Mapped[int] = mapped_column(Integer)
    retry_reason: Mapped[str | None] = mapped_column(NulFreeText)
    runtime: Mapped[str | None] = mapped_column(NulFreeString)
    model: Mapped[str | None] = mapped_column(NulFreeString)
    input_tokens: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column(Double)
    error: Mapped[str | None] = mapped_column(NulFreeText)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    state_before: Mapped[dict[str, Any]] = mapped_column(JSON)


class DeliveryRow(Base):
    """One webhook delivery, recorded once by its X-GitHub-Delivery GUID (a redelivery is a no-op)."""

    __tablename__ = "deliveries"

    id: Mapped[str] = mapped_column(NulFreeString, primary_key=True)
    event: Mapped[str] = mapped_column(NulFreeString)
    action: Mapped[str | None] = mapped_column(NulFreeString)
    body: Mapped[str] = mapped_column(NulFreeText)
    # pending, done, ignored, failed, duplicate
    status: Mapped[str] = mapped_column(NulFreeString, index=True)
    attempts: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # the last attempt's start
    error: Mapped[str | None] = mapped_column(NulFreeText)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # when a pending delivery may be handed out again (a lost job, or a retry after backoff)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    # what it is about: the same event under another GUID is a duplicate (app/github/webhook.py)
    dedup_key: Mapped[str | None] = mapped_column(NulFreeString, unique=True)


class DeliveryStepRow(Base):
    """A side effect a delivery performed (a command, its reply): a retry skips it."""

    __tablename__ = "delivery_steps"

    delivery_id: Mapped[str] = mapped_column(
        NulFreeString, ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True
    )
    step: Mapped[str] = mapped_column(NulFreeString, primary_key=True)
    result: Mapped[str | None] = mapped_column(NulFreeText)  # e.g. the reply text the step produced
    done_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TaskLinkRow(Base):
    """Where a task lives on GitHub: its thread, run card, check run, branch and PR."""

    __tablename__ = "task_links"

    task_id: Mapped[str] = mapped_column(
        NulFreeString, ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    repo: Mapped[str] = mapped_column(NulFreeString, index=True)  # owner/name
    number: Mapped[int] = mapped_column(Integer, index=True)  # the issue or PR the task runs for
    is_pull: Mapped[int] = mapped_column(Integer)
    installation_id: Mapped[int | None] = mapped_column(BigInteger)  # GitHub ids are past 2**31
    head_sha: Mapped[str | None] = mapped_column(NulFreeString)
    base_sha: Mapped[str | None] = mapped_column(NulFreeString)
    card_comment_id: Mapped[int | None] = mapped_column(BigInteger)  # GitHub ids are past 2**31
    check_run_id: Mapped[int | None] = mapped_column(BigInteger)  # GitHub ids are past 2**31
    branch: Mapped[str | None] = mapped_column(NulFreeString)
    pr_number: Mapped[int | None] = mapped_column(Integer)
    gate_sha: Mapped[str | None] = mapped_column(NulFreeString)  # the PR head SHA when a gate paused
    actor: Mapped[str] = mapped_column(NulFreeString)
    posted_stages: Mapped[dict[str, Any]] = mapped_column(JSON)  # stage number -> comment ids
    # Running one task per thread at a time (app/store/github.py, "queue and leases"):
    source: Mapped[str | None] = mapped_column(NulFreeString, unique=True)  # delivery#n that asked
    requested_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # order of the thread's queue
    queued: Mapped[int] = mapped_column(Integer, server_default="0")  # 1 until it takes the slot
    lease_owner: Mapped[str | None] = mapped_column(NulFreeString)  # the worker running it
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
