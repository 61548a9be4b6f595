"""Turns at SQLite's one writer, inside one process, the webhook's intake first.

SQLite lets one connection write at a time; a second one waits in SQLite's busy handler, which
sleeps 1, 2, 5 … up to 100 ms between tries, so a webhook's 202 could wait a hundred
milliseconds for a lock held for one. The SQLAlchemy store therefore runs its SQLite
transactions in turns, handed over in order without sleeping, and an `urgent` transaction (the
intake's insert, on the request path) goes before the background jobs' that are waiting.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Turns:
    """A FIFO lock with two queues: urgent waiters are handed the turn before the others."""

    def __init__(self) -> None:
        self._busy = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._others: deque[asyncio.Future[None]] = deque()

    @property
    def busy(self) -> bool:
        return self._busy

    @asynccontextmanager
    async def turn(self, *, urgent: bool = False) -> AsyncIterator[None]:
        await self._take(self._urgent if urgent else self._others)
        try:
            yield
        finally:
            self._pass_on()

    async def _take(self, queue: deque[asyncio.Future[None]]) -> None:
        if not self._busy:
            self._busy = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._pass_on()  # handed the turn just as it was cancelled: hand it on
            elif waiter in queue:
                queue.remove(waiter)
            raise

    def _pass_on(self) -> None:
        """Hand the turn straight to the next waiter (it stays taken), else free it."""
        for queue in (self._urgent, self._others):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._busy = False
