"""`aqm worker`: arq WorkerSettings that run deliveries from Redis (AQM_REDIS_URL).

Any number of workers on any machine share one database and one Redis. Each builds the same
`Services` as the server once (on_startup) and handles a delivery exactly as the in-process
queue does. A reconciler (every AQM_RECONCILE_INTERVAL_S in every worker) re-enqueues what died
with a worker, and what waits for a retry: deliveries recorded but never finished (a worker
killed before it recorded the task, a job lost with Redis, a failed attempt whose backoff is over:
app/github/retries.py), and tasks whose lease expired while they ran (a worker SIGKILLed
mid-stage: arq itself would retry that job only after its timeout). Both go under a new job id:
arq keeps a finished job's id for an hour, and enqueueing a kept id returns None.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, ClassVar

from arq.connections import RedisSettings

from app.github.services import Services, launcher_for
from app.settings import Settings, build_settings

log = logging.getLogger("aqm.worker")
JOB_TIMEOUT_S = 6 * 3600


async def handle_delivery(ctx: dict[str, Any], delivery_id: str) -> None:
    services: Services = ctx["services"]
    await services.handle(delivery_id)


async def resume_task(ctx: dict[str, Any], task_id: str) -> None:
    services: Services = ctx["services"]
    await services.resume(task_id)


async def reconcile(ctx: dict[str, Any]) -> int:
    """Re-enqueue deliveries left pending and tasks whose worker died; returns how many."""
    services: Services = ctx["services"]
    deliveries, tasks = await services.stuck()
    for delivery in deliveries:
        await ctx["redis"].enqueue_job(
            "handle_delivery", delivery.id, _job_id=f"{delivery.id}:{delivery.attempts + 1}"
        )
    # one job id per task and reconcile period: every worker's reconciler agrees on it, and a
    # resume that did not take (the lease was taken meanwhile) can be asked again later
    period = int(time.time() // max(2 * services.settings.reconcile_interval_s, 1.0))
    for link in tasks:
        await ctx["redis"].enqueue_job("resume_task", link.task_id, _job_id=f"resume:{link.task_id}:{period}")
    if deliveries or tasks:
        log.info("reconciler re-enqueued %d deliveries and %d tasks", len(deliveries), len(tasks))
    return len(deliveries) + len(tasks)


async def reconcile_forever(ctx: dict[str, Any], interval_s: float) -> None:
    while True:
        try:
            await reconcile(ctx)
        except Exception:
            log.exception("reconciling failed")
        await asyncio.sleep(interval_s)


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx.get("settings") or build_settings()
    ctx["services"] = await Services.start(settings, launcher=ctx.get("launcher"))
    if ctx.get("reconciler", True):
        ctx["reconciler_task"] = asyncio.create_task(reconcile_forever(ctx, settings.reconcile_interval_s))


async def shutdown(ctx: dict[str, Any]) -> None:
    reconciler: asyncio.Task[None] | None = ctx.pop("reconciler_task", None)
    if reconciler is not None:
        reconciler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reconciler
    services: Services | None = ctx.get("services")
    if services is not None:
        await services.close()


class WorkerSettings:
    """arq reads these; `redis_settings` is set from AQM_REDIS_URL by `worker_settings()`."""

    functions: ClassVar[list[Any]] = [handle_delivery, resume_task]
    on_startup = startup
    on_shutdown = shutdown
    job_timeout = JOB_TIMEOUT_S
    max_tries = 5
    redis_settings = RedisSettings()


def run(settings: Settings, *, burst: bool = False) -> None:
    """Run a worker until stopped (or, with `burst`, until the queue is empty)."""
    from arq import run_worker

    if settings.redis_url is None:
        raise SystemExit(
            "aqm worker needs AQM_REDIS_URL (without it, `aqm serve` runs jobs in its own process)"
        )
    launcher = launcher_for(settings)  # before connecting: no sandbox is a start-up error
    run_worker(
        WorkerSettings,  # type: ignore[arg-type]  # arq types settings as a TypedDict-like base class
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        burst=burst,
        ctx={"settings": settings, "reconciler": not burst, "launcher": launcher},
    )
