"""`aqm worker`: arq WorkerSettings that run deliveries from Redis (AQM_REDIS_URL).

Any number of workers on any machine share one database and one Redis. Each builds the same
`Services` as the server once (on_startup) and handles a delivery exactly as the in-process
queue does. A reconciler (a cron job of every worker) re-enqueues deliveries recorded but never
finished — a worker killed mid-job, a job lost with Redis — under a new job id (arq keeps a
finished job's id for an hour, and enqueueing a kept id returns None).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from arq import cron
from arq.connections import RedisSettings

from app.github.handler import Services
from app.settings import Settings, build_settings

log = logging.getLogger("aqm.worker")
JOB_TIMEOUT_S = 6 * 3600
RECONCILE_AFTER_S = 120.0


async def handle_delivery(ctx: dict[str, Any], delivery_id: str) -> None:
    services: Services = ctx["services"]
    await services.handle(delivery_id)


async def reconcile(ctx: dict[str, Any]) -> int:
    """Re-enqueue deliveries left pending for a while; returns how many."""
    services: Services = ctx["services"]
    stuck = await services.github_store.unfinished_deliveries(older_than_s=RECONCILE_AFTER_S)
    for delivery in stuck:
        await ctx["redis"].enqueue_job(
            "handle_delivery", delivery.id, _job_id=f"{delivery.id}:{delivery.attempts + 1}"
        )
    if stuck:
        log.info("reconciler re-enqueued %d deliveries", len(stuck))
    return len(stuck)


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx.get("settings") or build_settings()
    ctx["services"] = await Services.start(settings)


async def shutdown(ctx: dict[str, Any]) -> None:
    services: Services | None = ctx.get("services")
    if services is not None:
        await services.close()


class WorkerSettings:
    """arq reads these; `redis_settings` is set from AQM_REDIS_URL by `worker_settings()`."""

    functions: ClassVar[list[Any]] = [handle_delivery]
    cron_jobs: ClassVar[list[Any]] = [cron(reconcile, second=0)]  # once a minute
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
    run_worker(
        WorkerSettings,  # type: ignore[arg-type]  # arq types settings as a TypedDict-like base class
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        burst=burst,
        ctx={"settings": settings},
    )
