"""With AQM_REDIS_URL the server only enqueues; `aqm worker` processes (arq) run the deliveries."""

from __future__ import annotations

import warnings
from pathlib import Path

from arq.connections import RedisSettings, create_pool
from arq.worker import Worker

from app.playground.simulator import GitHubSimulator
from app.settings import Settings
from app.worker import WorkerSettings, reconcile, shutdown, startup
from tests.e2e.helpers import app_settings, deliverer, needs_redis, running, seed_pipeline

REDIS_URL = "redis://127.0.0.1:6379/15"
PIPELINE = """\
agents:
  - {id: one, runtime: command, command: ["echo", "stage one ran"], handoffs: [{to: two}]}
  - {id: two, runtime: command, command: ["echo", "stage two ran"]}
"""


pytestmark = needs_redis


async def test_the_server_enqueues_and_a_worker_process_runs_the_pipeline(tmp_path: Path) -> None:
    pool = await create_pool(RedisSettings.from_dsn(REDIS_URL))
    await pool.flushdb()
    sim = GitHubSimulator(tmp_path / "github")
    seeded = seed_pipeline(sim, PIPELINE)
    with sim.serve() as base_url:
        settings = app_settings(seeded, tmp_path, base_url, redis_url=REDIS_URL)
        async with running(settings) as app:
            issue = sim.open_issue("octo/demo", "Do it", "", user="maintainer")
            hooks = deliverer(sim, app)
            delivery = await hooks.comment_created("octo/demo", issue.number, "maintainer", "/aqm run")
            assert delivery.response_status == 202
            assert "stage one ran" not in sim.thread("octo/demo", issue.number)  # the server ran nothing
        worker = Worker(
            functions=WorkerSettings.functions,
            redis_settings=RedisSettings.from_dsn(REDIS_URL),
            burst=True,
            poll_delay=0,
            on_startup=startup,
            on_shutdown=shutdown,
            ctx={"settings": settings},
            handle_signals=False,
        )
        await worker.main()
        with warnings.catch_warnings():  # arq 0.28's close() calls redis's deprecated close()
            warnings.simplefilter("ignore", DeprecationWarning)
            await worker.close()
        assert worker.jobs_complete == 1
        thread = sim.thread("octo/demo", issue.number)
        assert "stage two ran" in thread and "Completed" in thread, thread
    await pool.flushdb()
    await pool.aclose()


async def test_the_reconciler_reenqueues_deliveries_never_finished(tmp_path: Path) -> None:
    pool = await create_pool(RedisSettings.from_dsn(REDIS_URL))
    await pool.flushdb()
    settings = Settings(data_dir=tmp_path / "aqm-data", redis_url=REDIS_URL, redeliver_after_s=0)
    ctx: dict[str, object] = {"settings": settings, "redis": pool, "reconciler": False}
    await startup(ctx)
    services = ctx["services"]
    await services.github_store.record_delivery("lost-1", event="ping", action=None, body="{}")  # type: ignore[attr-defined]
    try:
        assert await reconcile(ctx) == 1
    finally:
        await shutdown(ctx)
    assert await pool.zcard("arq:queue") == 1
    await pool.flushdb()
    await pool.aclose()
