"""What the e2e tests share: the webhook secret, the app's settings against the simulator, the app
running with its lifespan, the signed deliverer into it, waiting for its in-process queue, and the
services on 127.0.0.1 (a missing one skips on a laptop and fails in CI)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from arq.connections import RedisSettings, create_pool
from fastapi import FastAPI

from app.playground.simulator import Deliverer, GitHubSimulator, Seeded
from app.queue import InProcessQueue
from app.server.app import create_app
from app.settings import Settings
from tests.conftest import service_up

T = TypeVar("T")
SECRET = "it's a secret to everybody"
REPO = "octo/demo"  # the repository `seed_standard` creates
# writer (writes greet.py) → review (a human gate) → done (after /approve)
GATED_PIPELINE = """\
agents:
  - id: writer
    runtime: command
    command: ["sh", "-c", "echo 'def greet(name):' > greet.py; echo wrote greet.py"]
    handoffs: [{to: review}]
  - id: review
    runtime: command
    command: ["echo", "ready for review"]
    gate: {type: human}
    handoffs: [{to: done, condition: on_approve}]
  - id: done
    runtime: command
    command: ["echo", "shipped"]
"""
# asks which database unless its input names postgres (a human-input pipeline)
ASKER = """\
agents:
  - id: asker
    runtime: command
    human_input: true
    command:
      - sh
      - -c
      - >-
        if grep -q postgres; then echo "going with postgres"; else echo "HUMAN_INPUT: which database?"; fi
"""


def seed_pipeline(sim: GitHubSimulator, agents: str, more: Mapping[str, str] | None = None) -> Seeded:
    """The standard app, org and repo, with `agents` as `.aqm/agents.yaml` (and `more` files)."""
    return sim.seed_standard(files={"README.md": "# demo\n", ".aqm/agents.yaml": agents, **(more or {})})


def app_settings(seeded: Seeded, tmp_path: Path, api_url: str, **extra: Any) -> Settings:
    """The app installed as `seeded`, talking to GitHub at `api_url`, its data under `tmp_path`."""
    return Settings(
        data_dir=tmp_path / "aqm-data",
        github_api_url=api_url,
        github_app_id=str(seeded.app.id),
        github_private_key=seeded.key.private_pem,
        github_webhook_secret=SECRET,
        **extra,
    )


@asynccontextmanager
async def running(
    settings: Settings, github: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[FastAPI]:
    """The app for `settings` with its lifespan entered (startup done, shutdown on exit)."""
    application = create_app(settings, github_transport=github)
    async with application.router.lifespan_context(application):
        yield application


@asynccontextmanager
async def app_on_simulator(sim: GitHubSimulator, seeded: Seeded, tmp_path: Path) -> AsyncIterator[FastAPI]:
    """The app on the in-process queue, calling the simulator in process."""
    async with running(app_settings(seeded, tmp_path, sim.base_url), sim.transport()) as application:
        yield application


def deliverer(sim: GitHubSimulator, app: FastAPI) -> Deliverer:
    """Signed webhook deliveries from the simulator into `app`, in process."""
    return sim.deliverer("http://aqm.test/webhook", transport=httpx.ASGITransport(app=app), secret=SECRET)


async def settle(app: FastAPI) -> None:
    """Wait until the app's in-process queue has handled everything delivered so far."""
    queue = app.state.queue
    assert isinstance(queue, InProcessQueue)
    await queue.join()


async def eventually(check: Callable[[], Awaitable[T | None]], *, timeout_s: float, what: str) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (found := await check()) is not None:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


# ---- Redis and PostgreSQL on 127.0.0.1 ----------------------------------------------------------


needs_redis = pytest.mark.skipif(not service_up(6379), reason="no Redis on 127.0.0.1:6379")
needs_postgres = pytest.mark.skipif(not service_up(5432), reason="no PostgreSQL on 127.0.0.1:5432")


@asynccontextmanager
async def redis_db(number: int) -> AsyncIterator[str]:
    """Redis database `number`, empty, and emptied again afterwards (one number per test)."""
    url = f"redis://127.0.0.1:6379/{number}"
    pool = await create_pool(RedisSettings.from_dsn(url))
    await pool.flushdb()
    try:
        yield url
    finally:
        await pool.flushdb()
        await pool.aclose()
