"""This worker's task leases: taken atomically, renewed while a task runs, released at a pause or the end.

The records and their atomic updates live in app/store/github.py ("queue and leases"). Here is
the worker's side: `claim_next` (the thread's slot and the lease at once), `take` (a started
task, e.g. one a human continues, or a resume after a dead worker's lease expired), and `held`,
which renews the lease every third of its length while its body runs and releases it after.
When a renewal finds the lease gone — this worker stalled past its expiry and another resumed
the task — the body is cancelled and the task left to the other worker, nothing written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from app.driver import TaskRunner
from app.store.github import GitHubStore

log = logging.getLogger("aqm.github")


class Leases:
    def __init__(self, github_store: GitHubStore, *, owner: str, lease_s: float) -> None:
        self.github_store = github_store
        self.owner = owner  # this worker
        self.lease_s = lease_s
        self.holding: set[str] = set()  # tasks whose lease is renewed here now
        self.runners: dict[str, TaskRunner] = {}  # the driver running each of them, if any

    async def claim_next(self, repo: str, number: int) -> str | None:
        return await self.github_store.claim_next(repo, number, owner=self.owner, lease_s=self.lease_s)

    async def take(self, task_id: str, *, expired_only: bool = False) -> bool:
        return await self.github_store.take_lease(
            task_id, owner=self.owner, lease_s=self.lease_s, expired_only=expired_only
        )

    async def release(self, task_id: str) -> None:
        await self.github_store.release_lease(task_id, owner=self.owner)

    @contextlib.asynccontextmanager
    async def held(self, task_id: str) -> AsyncIterator[None]:
        """Renew the lease while the body runs; release it after. Re-entrant: the outermost holds."""
        if task_id in self.holding:
            yield
            return
        self.holding.add(task_id)
        body = asyncio.current_task()
        lost = asyncio.Event()
        beat = asyncio.create_task(self._heartbeat(task_id, lost, body))
        try:
            yield
        except asyncio.CancelledError:
            if not lost.is_set() or body is None:
                raise
            body.uncancel()
            log.warning("stopped running %s here: its lease passed to another worker", task_id)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            self.holding.discard(task_id)
            self.runners.pop(task_id, None)
            if not lost.is_set():
                await self.release(task_id)

    async def _heartbeat(self, task_id: str, lost: asyncio.Event, body: asyncio.Task[Any] | None) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                renewed = await self.github_store.renew_lease(task_id, owner=self.owner, lease_s=self.lease_s)
            except Exception:  # a database blip: the next beat tries again
                log.exception("renewing the lease of %s failed", task_id)
                continue
            if not renewed:
                lost.set()
                if (runner := self.runners.get(task_id)) is not None:
                    runner.superseded = True  # its interrupt must not mark the task stalled
                if body is not None:
                    body.cancel()
                return
