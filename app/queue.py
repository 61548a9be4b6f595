"""Where deliveries wait to be handled: in the server's own process, or arq on Redis.

Both have the same interface. The in-process queue runs jobs in background tasks of the
server (never on the request path); with AQM_REDIS_URL set, the server only enqueues and
`aqm worker` processes (any number, on any machine) run the jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

log = logging.getLogger("aqm.queue")
Handler = Callable[[str], Awaitable[None]]


class JobQueue(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def enqueue(self, delivery_id: str, *, job_id: str) -> None: ...

    async def healthy(self) -> bool: ...


class InProcessQueue:
    """Background tasks of the server handle deliveries, `concurrency` at a time."""

    def __init__(self, handle: Handler, *, concurrency: int = 2) -> None:
        self.handle = handle
        self.concurrency = concurrency
        self.pending: asyncio.Queue[str] = asyncio.Queue()
        self.workers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.workers = [asyncio.create_task(self._work()) for _ in range(self.concurrency)]

    async def stop(self) -> None:
        for worker in self.workers:
            worker.cancel()
        for worker in self.workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self.workers = []

    async def enqueue(self, delivery_id: str, *, job_id: str) -> None:
        self.pending.put_nowait(delivery_id)

    async def healthy(self) -> bool:
        return bool(self.workers) and all(not w.done() for w in self.workers)

    async def join(self) -> None:
        """Wait until every enqueued delivery has been handled (tests, the playground)."""
        await self.pending.join()

    async def _work(self) -> None:
        while True:
            delivery_id = await self.pending.get()
            try:
                await self.handle(delivery_id)
            except Exception:  # a job's failure is recorded by the handler; the worker goes on
                log.exception("delivery %s failed", delivery_id)
            finally:
                self.pending.task_done()


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
        if self.pool is None:
            return False
        try:
            return bool(await self.pool.ping())  # type: ignore[attr-defined]
        except OSError:
            return False
