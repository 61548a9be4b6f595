"""The GitHub side of the store: webhook deliveries (recorded once) and each task's thread link.

A delivery is recorded by its `X-GitHub-Delivery` GUID under the primary key, so a redelivery
(GitHub re-sends the same GUID) inserts nothing and enqueues nothing; and by its `dedup_key` (what
it is about: app/github/webhook.py), unique too, so the same event under a new GUID is recorded
as `duplicate` and never handled. Its status moves pending -> done | ignored | refused (a payload
without a field aqm uses; `error` says which) | failed; a pending
one carries `next_attempt_at`, when a reconciler may hand it out again (a lost job, or a retry
after backoff), and the reconciler takes the most overdue first. `delivery_steps` logs the side
effects a delivery performed, so that a retry skips them.

Queue and leases: a thread (issue or PR) runs one task at a time. A task is linked `queued`;
`claim_next` gives the thread's slot to its earliest-asked queued task, atomically (under a
per-thread PostgreSQL advisory lock; SQLite runs the one conditional UPDATE under its write
lock), and with it a lease (owner, expiry) that the running worker renews and releases when the
task pauses or ends. A queued task is pending (new) or in progress (restarted: rewound, it runs
again from its running stages when it gets the slot). A slot is held by a started task that is
pending or in progress: a task waiting for a human holds none. A lease that expires while its
task runs means its worker died: `expired_leases` finds those for the reconciler, and
`take_lease` lets one worker resume it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, bindparam, exists, func, or_, select, text, update

from app.errors import TaskError
from app.store.store import TaskStore
from app.store.tables import Base

DELIVERIES: Table = Base.metadata.tables["deliveries"]
STEPS: Table = Base.metadata.tables["delivery_steps"]
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
    attempted_at: datetime | None = None  # when the last attempt began
    error: str | None = None
    received_at: datetime | None = None
    finished_at: datetime | None = None
    next_attempt_at: datetime | None = None  # a pending one: not handed out again before
    dedup_key: str | None = None


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
    source: str | None = None  # "<delivery GUID>#<n>": the n-th run that delivery asked for
    requested_at: datetime | None = None  # when it was asked for: the thread queue's order
    queued: bool = False  # waiting for the thread's slot
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None


ACTIVE = ("pending", "in_progress")  # a started task in these statuses holds its thread's slot
LINK_FIELDS = tuple(f.name for f in fields(TaskLink))
DELIVERY_FIELDS = tuple(f.name for f in fields(DeliveryRecord))


class GitHubStore:
    """Deliveries and task links, on the same database (and connection pool) as the TaskStore."""

    def __init__(self, store: TaskStore) -> None:
        self.store = store
        # the statements of every delivery, built once (SQLAlchemy then reuses their compiled form)
        self._claim = (
            update(DELIVERIES)
            .where(DELIVERIES.c.id == bindparam("key_id"), DELIVERIES.c.status == "pending")
            .values(attempts=DELIVERIES.c.attempts + 1, attempted_at=bindparam("now"))
            .returning(*(DELIVERIES.c[name] for name in DELIVERY_FIELDS))
        )
        self._finish = update(DELIVERIES).where(DELIVERIES.c.id == bindparam("key_id"))

    @functools.cached_property
    def _record(self) -> Any:
        """Built on first use: the dialect is the store's (a store for the CLI may have none)."""
        return self._insert_ignore(DELIVERIES).returning(DELIVERIES.c.id)

    # ---- deliveries ------------------------------------------------------------------------

    async def record_delivery(
        self, delivery_id: str, *, event: str, action: str | None, body: str, dedup_key: str | None = None
    ) -> bool:
        """True when the delivery is new; False for a redelivery (nothing written) or a duplicate
        (another GUID had the same `dedup_key`: recorded as `duplicate`, naming that GUID)."""
        now = datetime.now(UTC)
        values = {
            "id": delivery_id,
            "event": event,
            "action": action,
            "body": body,
            "status": "pending",
            "attempts": 0,
            "attempted_at": None,
            "error": None,
            "received_at": now,
            "finished_at": None,
            "next_attempt_at": now,
            "dedup_key": dedup_key,
        }
        async with self.store.transaction(urgent=True) as connection:  # a webhook waits for its 202
            if (await connection.execute(self._record, values)).first() is not None:
                return True
            if dedup_key is not None:
                first = select(DELIVERIES.c.id).where(DELIVERIES.c.dedup_key == dedup_key)
                original = (await connection.execute(first)).scalar_one_or_none()
                duplicate = {"dedup_key": None, "status": "duplicate", "finished_at": now}
                duplicate |= {"next_attempt_at": None, "error": f"the same event as delivery {original}"}
                await connection.execute(self._record, values | duplicate)  # nothing for a redelivery
        return False

    async def get_delivery(self, delivery_id: str) -> DeliveryRecord:
        async with self.store.transaction() as connection:
            row = (
                await connection.execute(select(DELIVERIES).where(DELIVERIES.c.id == delivery_id))
            ).mappings()
            found = row.first()
        if found is None:
            raise TaskError(f"No delivery '{delivery_id}'")
        return DeliveryRecord(**{name: found[name] for name in DELIVERY_FIELDS})

    async def claim_delivery(self, delivery_id: str) -> DeliveryRecord | None:
        """Count an attempt at a pending delivery and return it; None when it is not pending
        (finished, or unknown). One statement: a get and an update would be two transactions."""
        async with self.store.transaction() as connection:
            claim = {"key_id": delivery_id, "now": datetime.now(UTC)}
            found = (await connection.execute(self._claim, claim)).mappings().first()
        return None if found is None else DeliveryRecord(**{name: found[name] for name in DELIVERY_FIELDS})

    async def finish_delivery(self, delivery_id: str, status: str, error: str | None = None) -> None:
        values = {
            "key_id": delivery_id,
            "status": status,
            "error": error,
            "finished_at": datetime.now(UTC),
            "next_attempt_at": None,
        }
        async with self.store.transaction() as connection:
            await connection.execute(self._finish, values)

    async def retry_delivery(self, delivery_id: str, *, at: datetime, error: str) -> None:
        """Leave the delivery pending, for the reconciler to hand out again from `at`."""
        values = {"key_id": delivery_id, "next_attempt_at": at, "error": error}
        async with self.store.transaction() as connection:
            await connection.execute(self._finish, values)

    async def unfinished_deliveries(
        self, *, older_than_s: float = 0.0, limit: int = 100
    ) -> list[DeliveryRecord]:
        """Pending deliveries that are due (a worker died, the queue lost them, a retry's backoff
        is over), the most overdue first: a row that keeps failing waits out its backoff behind
        the others, so a batch is never all retries of the same poison.

        `older_than_s` counts from the last attempt's start (else from receipt): one still being
        handled is not handed out again meanwhile.
        """
        now = datetime.now(UTC)
        cutoff = now - timedelta(seconds=older_than_s)
        last_try = func.coalesce(DELIVERIES.c.attempted_at, DELIVERIES.c.received_at)
        due = func.coalesce(DELIVERIES.c.next_attempt_at, DELIVERIES.c.received_at)
        statement = (
            select(DELIVERIES)
            .where(DELIVERIES.c.status == "pending", last_try <= cutoff, due <= now)
            .order_by(due, DELIVERIES.c.received_at)
            .limit(limit)
        )
        async with self.store.transaction() as connection:
            rows = (await connection.execute(statement)).mappings().all()
        return [DeliveryRecord(**{name: row[name] for name in DELIVERY_FIELDS}) for row in rows]

    async def delivery_steps(self, delivery_id: str) -> dict[str, str | None]:
        """The steps the delivery performed so far, with what each one recorded."""
        statement = select(STEPS.c.step, STEPS.c.result).where(STEPS.c.delivery_id == delivery_id)
        async with self.store.transaction() as connection:
            rows = (await connection.execute(statement)).all()
        return {str(step): result for step, result in rows}

    async def record_step(self, delivery_id: str, step: str, result: str | None = None) -> None:
        """Remember that the delivery performed `step` (once: a second record changes nothing)."""
        values = {"delivery_id": delivery_id, "step": step, "result": result, "done_at": datetime.now(UTC)}
        async with self.store.transaction() as connection:
            await connection.execute(self._insert_ignore(STEPS), values)

    # ---- task links ------------------------------------------------------------------------

    async def link_task(self, link: TaskLink) -> None:
        values = asdict(link) | {"is_pull": int(link.is_pull), "queued": int(link.queued)}
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
        for flag in ("is_pull", "queued"):
            if flag in changes:
                changes[flag] = int(changes[flag])
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

    async def link_of_source(self, source: str) -> TaskLink | None:
        """The task a delivery's run command created, if it did (a replay must not create another)."""
        async with self.store.transaction() as connection:
            row = (await connection.execute(select(LINKS).where(LINKS.c.source == source))).mappings().first()
        return None if row is None else _link(row)

    async def unrecorded_runs_before(self, delivery: DeliveryRecord, repo: str, number: int) -> int:
        """Earlier deliveries on this thread still pending that ask for a run but created no task yet.

        Two workers can handle two comments of one thread at once; the later one waits for these
        so that the thread's queue keeps the order the runs were asked in.
        """
        statement = (
            select(DELIVERIES.c.id, DELIVERIES.c.body)
            .where(
                DELIVERIES.c.status == "pending",
                DELIVERIES.c.event == "issue_comment",
                DELIVERIES.c.received_at < delivery.received_at,
                DELIVERIES.c.id != delivery.id,
                ~exists().where(LINKS.c.source.like(DELIVERIES.c.id + "#%")),
            )
            .limit(50)
        )
        async with self.store.transaction() as connection:
            rows = (await connection.execute(statement)).all()
        return sum(1 for _, body in rows if _asks_run_on(body, repo, number))

    # ---- the thread's queue and task leases ------------------------------------------------

    async def claim_next(self, repo: str, number: int, *, owner: str, lease_s: float) -> str | None:
        """Give the thread's slot (and a lease) to its earliest-asked queued task when no task holds it."""
        links, tasks = LINKS.alias("holder"), TASKS.alias("holder_task")
        held = exists().where(
            links.c.repo == repo,
            links.c.number == number,
            links.c.queued == 0,
            tasks.c.id == links.c.task_id,
            tasks.c.status.in_(ACTIVE),
        )
        queue, queued_task = LINKS.alias("queue"), TASKS.alias("queued_task")  # not the updated row
        head = (
            select(queue.c.task_id)
            .join(queued_task, queued_task.c.id == queue.c.task_id)
            .where(queue.c.repo == repo, queue.c.number == number, queue.c.queued == 1)
            # pending, or in progress for a restarted one; a queued task cancelled meanwhile never starts
            .where(queued_task.c.status.in_(ACTIVE))
            .order_by(queue.c.requested_at, queue.c.source, queue.c.task_id)
            .limit(1)
            .scalar_subquery()
        )
        statement = (
            update(LINKS)
            .where(LINKS.c.task_id == head, LINKS.c.queued == 1, ~held)
            .values(queued=0, lease_owner=owner, lease_expires_at=_after(lease_s))
            .returning(LINKS.c.task_id)
        )
        async with self.store.transaction() as connection:
            if self.store.dialect == "postgresql":  # one claim per thread at a time, across processes
                key = f"aqm:thread:{repo}#{number}"
                await connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
            claimed: str | None = (await connection.execute(statement)).scalar_one_or_none()
        return claimed

    async def slot_holder(self, repo: str, number: int) -> str | None:
        """The task holding the thread's slot, if any."""
        statement = (
            select(LINKS.c.task_id)
            .join(TASKS, TASKS.c.id == LINKS.c.task_id)
            .where(LINKS.c.repo == repo, LINKS.c.number == number, LINKS.c.queued == 0)
            .where(TASKS.c.status.in_(ACTIVE))
            .order_by(LINKS.c.requested_at)
            .limit(1)
        )
        async with self.store.transaction() as connection:
            return (await connection.execute(statement)).scalar_one_or_none()

    async def take_lease(
        self, task_id: str, *, owner: str, lease_s: float, expired_only: bool = False
    ) -> bool:
        """Lease a started task to `owner` unless another owner's lease is still valid.

        `expired_only`: not when `owner` holds it either (a resume must not run what runs here).
        """
        now = datetime.now(UTC)
        mine = LINKS.c.lease_owner == owner
        free = or_(
            LINKS.c.lease_owner.is_(None), LINKS.c.lease_expires_at < now, *([] if expired_only else [mine])
        )
        return await self._lease_update(
            and_(LINKS.c.task_id == task_id, LINKS.c.queued == 0, free),
            lease_owner=owner,
            lease_expires_at=_after(lease_s),
        )

    async def renew_lease(self, task_id: str, *, owner: str, lease_s: float) -> bool:
        """Extend the lease; False when it is no longer ours (it expired and another worker took it)."""
        where = and_(LINKS.c.task_id == task_id, LINKS.c.lease_owner == owner)
        return await self._lease_update(where, lease_expires_at=_after(lease_s))

    async def release_lease(self, task_id: str, *, owner: str) -> None:
        where = and_(LINKS.c.task_id == task_id, LINKS.c.lease_owner == owner)
        await self._lease_update(where, lease_owner=None, lease_expires_at=None)

    async def expired_leases(self, *, limit: int = 100) -> list[TaskLink]:
        """Started tasks, pending or in progress, whose lease ran out (or was never taken): dead workers."""
        now = datetime.now(UTC)
        statement = (
            select(LINKS)
            .join(TASKS, TASKS.c.id == LINKS.c.task_id)
            .where(LINKS.c.queued == 0, TASKS.c.status.in_(ACTIVE))
            .where(or_(LINKS.c.lease_expires_at.is_(None), LINKS.c.lease_expires_at < now))
            .order_by(LINKS.c.lease_expires_at)
            .limit(limit)
        )
        async with self.store.transaction() as connection:
            rows = (await connection.execute(statement)).mappings().all()
        return [_link(row) for row in rows]

    async def idle_queues(self, *, older_than_s: float = 0.0, limit: int = 100) -> list[TaskLink]:
        """The head of each thread queue whose thread holds no slot (the job that should start it died).

        Only runs asked `older_than_s` ago or earlier: a newer one's own job is about to claim it.
        """
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
        links, tasks = LINKS.alias("holder"), TASKS.alias("holder_task")
        held = exists().where(
            links.c.repo == LINKS.c.repo,
            links.c.number == LINKS.c.number,
            links.c.queued == 0,
            tasks.c.id == links.c.task_id,
            tasks.c.status.in_(ACTIVE),
        )
        statement = (
            select(LINKS)
            .join(TASKS, TASKS.c.id == LINKS.c.task_id)
            .where(LINKS.c.queued == 1, TASKS.c.status.in_(ACTIVE), LINKS.c.requested_at <= cutoff, ~held)
            .order_by(LINKS.c.requested_at)
            .limit(limit)
        )
        async with self.store.transaction() as connection:
            rows = (await connection.execute(statement)).mappings().all()
        heads: dict[tuple[str, int], TaskLink] = {}
        for row in rows:
            heads.setdefault((row["repo"], row["number"]), _link(row))
        return list(heads.values())

    async def _lease_update(self, where: Any, **values: Any) -> bool:
        statement = update(LINKS).where(where).values(**values).returning(LINKS.c.task_id)
        async with self.store.transaction() as connection:
            return (await connection.execute(statement)).first() is not None

    async def task_of_check_run(self, repo: str, check_run_id: int) -> TaskLink | None:
        """The task whose check run this is (a restart opens a new one: only the newest counts)."""
        statement = select(LINKS).where(LINKS.c.repo == repo, LINKS.c.check_run_id == check_run_id)
        async with self.store.transaction() as connection:
            row = (await connection.execute(statement)).mappings().first()
        return None if row is None else _link(row)

    def _insert_ignore(self, table: Table) -> Any:
        """An INSERT that does nothing when the row conflicts with any unique key."""
        if self.store.dialect == "postgresql":
            from sqlalchemy.dialects import postgresql

            return postgresql.insert(table).on_conflict_do_nothing()
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table).on_conflict_do_nothing()


def _after(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def _asks_run_on(body: str, repo: str, number: int) -> bool:
    """Whether a comment delivery's payload is on this thread and asks for a new task (`/aqm run`,
    `/aqm fix`)."""
    try:
        payload = json.loads(body)
        on_thread = payload["repository"]["full_name"] == repo and payload["issue"]["number"] == number
        body = str(payload["comment"]["body"] or "")
        return bool(on_thread) and ("/aqm run" in body or "/aqm fix" in body)
    except (ValueError, KeyError, TypeError):
        return False


def _link(row: Any) -> TaskLink:
    values = {name: row[name] for name in LINK_FIELDS}
    values["is_pull"] = bool(values["is_pull"])
    values["queued"] = bool(values["queued"])
    values["posted_stages"] = dict(values["posted_stages"] or {})
    return TaskLink(**values)


def newest(links: Sequence[tuple[TaskLink, str]]) -> tuple[TaskLink, str] | None:
    return links[0] if links else None
