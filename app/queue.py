"""Where deliveries and task resumptions wait to be handled: in the server's process, or arq on Redis.

Both have the same interface. The in-process queue runs jobs in background tasks of the
server (never on the request path); with AQM_REDIS_URL set, the server only enqueues and
`aqm worker` processes (any number, on any machine) run the jobs.

A job is a delivery to handle, or a task to resume (its worker died: its lease expired) or
whose thread queue is idle. The in-process queue has its own reconciler for `aqm serve` (at
start and every AQM_RECONCILE_INTERVAL_S): deliveries a previous process left pending and tasks
whose lease expired; workers run theirs (app/worker.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

log = logging.getLogger("aqm.queue")
Handler = Callable[[str], Awaitable[None]]


class Stuck(Protocol):
    """What a reconciler finds (app.github.services.Services.stuck)."""

    def __call__(self) -> Awaitable[tuple[Sequence[HasId], Sequence[HasTaskId]]]: ...


class HasId(Protocol):
    @property
    def id(self) -> str: ...


class HasTaskId(Protocol):
    @property
    def task_id(self) -> str: ...


class JobQueue(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def enqueue(self, delivery_id: str, *, job_id: str) -> None: ...

    async def healthy(self) -> bool: ...


class InProcessQueue:
    """Background tasks of the server handle deliveries and resume tasks, `concurrency` at a time."""

    def __init__(
        self,
        handle: Handler,
        *,
        resume: Handler | None = None,
        stuck: Stuck | None = None,
        reconcile_interval_s: float = 30.0,
        concurrency: int = 2,
    ) -> None:
        self.handle = handle
        self.resume = resume
        self.stuck = stuck
        self.reconcile_interval_s = reconcile_interval_s
        self.concurrency = concurrency
        self.pending: asyncio.Queue[tuple[str, str]] = asyncio.Queue()  # (kind, id)
        self.inflight: set[tuple[str, str]] = set()  # enqueued and not finished: never twice
        self.workers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.workers = [asyncio.create_task(self._work()) for _ in range(self.concurrency)]
        if self.stuck is not None:
            self.workers.append(asyncio.create_task(self._reconcile_forever()))

    async def stop(self) -> None:
        for worker in self.workers:
            worker.cancel()
        for worker in self.workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self.workers = []

    async def enqueue(self, delivery_id: str, *, job_id: str) -> None:
        self._put(("delivery", delivery_id))

    async def enqueue_resume(self, task_id: str) -> None:
        self._put(("task", task_id))

    async def healthy(self) -> bool:
        return bool(self.workers) and all(not w.done() for w in self.workers)

    async def join(self) -> None:
        """Wait until every enqueued job has been handled (tests, the playground)."""
        await self.pending.join()

    async def reconcile(self) -> int:
        """Enqueue what a dead process left: deliveries never finished, tasks whose lease expired."""
        if self.stuck is None:
            return 0
        deliveries, tasks = await self.stuck()
        for delivery in deliveries:
            self._put(("delivery", delivery.id))
        for link in tasks:
            self._put(("task", link.task_id))
        return len(deliveries) + len(tasks)

    def _put(self, job: tuple[str, str]) -> None:
        if job not in self.inflight:
            self.inflight.add(job)
            self.pending.put_nowait(job)

    async def _work(self) -> None:
        while True:
            job = await self.pending.get()
            kind, key = job
            try:
                if kind == "delivery":
                    await self.handle(key)
                elif self.resume is not None:
                    await self.resume(key)
            except Exception:  # a job's failure is recorded by the handler; the worker goes on
                log.exception("%s %s failed", kind, key)
            finally:
                self.inflight.discard(job)
                self.pending.task_done()

    async def _reconcile_forever(self) -> None:
        while True:
            try:
                if found := await self.reconcile():
                    log.info("reconciler enqueued %d jobs", found)
            except Exception:
                log.exception("reconciling failed")
            await asyncio.sleep(self.reconcile_interval_s)


class ArqQueue:
    """Deliveries go to arq on Redis; `aqm worker` processes run them (app/worker.py)."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.pool: object | None = None

    async def start(self) -> None:
        from arq import create_pool
        from arq.connections import RedisSettings

        self.pool = await create_pool(RedisSettings.from_dsn(self.redis_url))

    async def stop(self) -> None:
        if self.pool is not None:
            await self.pool.aclose()  # type: ignore[attr-defined]

    async def enqueue(self, delivery_id: str, *, job_id: str) -> None:
        assert self.pool is not None
        await self.pool.enqueue_job("handle_delivery", delivery_id, _job_id=job_id)  # type: ignore[attr-defined]

    async def healthy(self) -> bool:
        from redis.exceptions import RedisError

        if self.pool is None:
            return False
        try:
            return bool(await self.pool.ping())  # type: ignore[attr-defined]
        except (OSError, RedisError):  # redis's ConnectionError and TimeoutError are not OSErrors
            return False
