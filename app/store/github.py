"""The GitHub side of the store: webhook deliveries (recorded once) and each task's thread link.

A delivery is recorded by its `X-GitHub-Delivery` GUID under the primary key, so a redelivery
(GitHub re-sends the same GUID) inserts nothing and enqueues nothing. Its status moves
pending -> done | ignored | failed; a reconciler replays deliveries left pending.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, select, update

from app.errors import TaskError
from app.store.store import TaskStore
from app.store.tables import Base

DELIVERIES: Table = Base.metadata.tables["deliveries"]
LINKS: Table = Base.metadata.tables["task_links"]
TASKS: Table = Base.metadata.tables["tasks"]


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    id: str
    event: str
    action: str | None
    body: str
    status: str = "pending"
    attempts: int = 0
    error: str | None = None
    received_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TaskLink:
    task_id: str
    repo: str  # owner/name
    number: int  # the issue or pull request
    is_pull: bool
    actor: str  # who started it
    installation_id: int | None = None
    head_sha: str | None = None
    base_sha: str | None = None
    card_comment_id: int | None = None
    check_run_id: int | None = None
    branch: str | None = None
    pr_number: int | None = None
    gate_sha: str | None = None
    posted_stages: dict[str, Any] = field(default_factory=dict)


LINK_FIELDS = tuple(f.name for f in fields(TaskLink))
DELIVERY_FIELDS = tuple(f.name for f in fields(DeliveryRecord))


class GitHubStore:
    """Deliveries and task links, on the same database (and connection pool) as the TaskStore."""

    def __init__(self, store: TaskStore) -> None:
        self.store = store

    # ---- deliveries ------------------------------------------------------------------------

    async def record_delivery(self, delivery_id: str, *, event: str, action: str | None, body: str) -> bool:
        """True when the delivery is new; False for a redelivery (nothing written)."""
        values = {
            "id": delivery_id,
            "event": event,
            "action": action,
            "body": body,
            "status": "pending",
            "attempts": 0,
            "error": None,
            "received_at": datetime.now(UTC),
            "finished_at": None,
        }
        statement = self._insert_ignore(DELIVERIES, "id").values(**values).returning(DELIVERIES.c.id)
        async with self.store.transaction() as connection:
            inserted = (await connection.execute(statement)).first()
        return inserted is not None

    async def get_delivery(self, delivery_id: str) -> DeliveryRecord:
        async with self.store.transaction() as connection:
            row = (
                await connection.execute(select(DELIVERIES).where(DELIVERIES.c.id == delivery_id))
            ).mappings()
            found = row.first()
        if found is None:
            raise TaskError(f"No delivery '{delivery_id}'")
        return DeliveryRecord(**{name: found[name] for name in DELIVERY_FIELDS})

    async def start_delivery(self, delivery_id: str) -> int:
        """Count an attempt at handling the delivery; returns the attempt number."""
        statement = (
            update(DELIVERIES)
            .where(DELIVERIES.c.id == delivery_id)
            .values(attempts=DELIVERIES.c.attempts + 1)
            .returning(DELIVERIES.c.attempts)
        )
        async with self.store.transaction() as connection:
            return int((await connection.execute(statement)).scalar_one())

    async def finish_delivery(self, delivery_id: str, status: str, error: str | None = None) -> None:
        statement = (
            update(DELIVERIES)
            .where(DELIVERIES.c.id == delivery_id)
            .values(status=status, error=error, finished_at=datetime.now(UTC))
        )
        async with self.store.transaction() as connection:
            await connection.execute(statement)

    async def unfinished_deliveries(
        self, *, older_than_s: float = 0.0, limit: int = 100
    ) -> list[DeliveryRecord]:
        """Deliveries recorded but never finished (a worker died, the queue lost them)."""
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
        statement = (
            select(DELIVERIES)
            .where(DELIVERIES.c.status == "pending", DELIVERIES.c.received_at <= cutoff)
            .order_by(DELIVERIES.c.received_at)
            .limit(limit)
        )
        async with self.store.transaction() as connection:
            rows = (await connection.execute(statement)).mappings().all()
        return [DeliveryRecord(**{name: row[name] for name in DELIVERY_FIELDS}) for row in rows]

    # ---- task links ------------------------------------------------------------------------

    async def link_task(self, link: TaskLink) -> None:
        values = asdict(link) | {"is_pull": int(link.is_pull)}
        async with self.store.transaction() as connection:
            await connection.execute(LINKS.insert().values(**values))

    async def get_link(self, task_id: str) -> TaskLink:
        async with self.store.transaction() as connection:
            row = (
                (await connection.execute(select(LINKS).where(LINKS.c.task_id == task_id))).mappings().first()
            )
        if row is None:
            raise TaskError(f"Task '{task_id}' is not linked to a GitHub thread")
        return _link(row)

    async def update_link(self, task_id: str, **changes: Any) -> None:
        unknown = set(changes) - set(LINK_FIELDS)
        if unknown:
            raise ValueError(f"not link fields: {sorted(unknown)}")
        if "is_pull" in changes:
            changes["is_pull"] = int(changes["is_pull"])
        async with self.store.transaction() as connection:
            await connection.execute(update(LINKS).where(LINKS.c.task_id == task_id).values(**changes))

    async def thread_tasks(self, repo: str, number: int) -> list[tuple[TaskLink, str]]:
        """The thread's tasks, newest first, each with its status."""
        statement = (
            select(LINKS, TASKS.c.status)
            .join(TASKS, TASKS.c.id == LINKS.c.task_id)
            .where(LINKS.c.repo == repo, LINKS.c.number == number)
            .order_by(TASKS.c.created_at.desc())
        )
        async with self.store.transaction() as connection:
            rows = (await connection.execute(statement)).mappings().all()
        return [(_link(row), str(row["status"])) for row in rows]

    async def tasks_of_pull(self, repo: str, pr_number: int) -> list[tuple[TaskLink, str]]:
        """Tasks whose thread is this PR or whose own PR it is."""
        statement = (
            select(LINKS, TASKS.c.status)
            .join(TASKS, TASKS.c.id == LINKS.c.task_id)
            .where(LINKS.c.repo == repo)
            .where((LINKS.c.number == pr_number) | (LINKS.c.pr_number == pr_number))
            .order_by(TASKS.c.created_at.desc())
        )
        async with self.store.transaction() as connection:
            rows = (await connection.execute(statement)).mappings().all()
        return [(_link(row), str(row["status"])) for row in rows]

    def _insert_ignore(self, table: Table, key: str) -> Any:
        if self.store.dialect == "postgresql":
            from sqlalchemy.dialects import postgresql

            return postgresql.insert(table).on_conflict_do_nothing(index_elements=[key])
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table).on_conflict_do_nothing(index_elements=[key])


def _link(row: Any) -> TaskLink:
    values = {name: row[name] for name in LINK_FIELDS}
    values["is_pull"] = bool(values["is_pull"])
    values["posted_stages"] = dict(values["posted_stages"] or {})
    return TaskLink(**values)


def newest(links: Sequence[tuple[TaskLink, str]]) -> tuple[TaskLink, str] | None:
    return links[0] if links else None
