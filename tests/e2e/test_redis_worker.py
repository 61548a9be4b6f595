"""With AQM_REDIS_URL the server only enqueues; `aqm worker` processes (arq) run the deliveries."""

from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path

import httpx
import pytest
from arq.connections import RedisSettings, create_pool
from arq.worker import Worker

from app.playground.simulator import GitHubSimulator
from app.server.app import create_app
from app.settings import Settings
from app.worker import WorkerSettings, reconcile, shutdown, startup

REDIS_URL = "redis://127.0.0.1:6379/15"
SECRET = "s3cret"
PIPELINE = """\
agents:
  - {id: one, runtime: command, command: ["echo", "stage one ran"], handoffs: [{to: two}]}
  - {id: two, runtime: command, command: ["echo", "stage two ran"]}
"""


def redis_up() -> bool:
    if os.environ.get("CI") == "true":
        return True  # in CI a missing Redis fails the test instead of skipping it
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not redis_up(), reason="no Redis on 127.0.0.1:6379")


async def test_the_server_enqueues_and_a_worker_process_runs_the_pipeline(tmp_path: Path) -> None:
    pool = await create_pool(RedisSettings.from_dsn(REDIS_URL))
    await pool.flushdb()
    sim = GitHubSimulator(tmp_path / "github")
    seeded = sim.seed_standard(files={".aqm/agents.yaml": PIPELINE})
    with sim.serve() as base_url:
        settings = Settings(
            data_dir=tmp_path / "aqm-data",
            github_api_url=base_url,
            github_app_id=str(seeded.app.id),
            github_private_key=seeded.key.private_pem,
            github_webhook_secret=SECRET,
            redis_url=REDIS_URL,
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            issue = sim.open_issue("octo/demo", "Do it", "", user="maintainer")
            hooks = sim.deliverer(
                "http://aqm.test/webhook", transport=httpx.ASGITransport(app=app), secret=SECRET
            )
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
