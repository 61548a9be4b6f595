"""What `aqm serve` shows besides /webhook: /healthz when Redis goes away, no API docs to anyone,
and the API token — never an empty one, never in a log line but the one the operator needs."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.errors import ConfigError
from app.playground.simulator import GitHubSimulator, Seeded
from app.server.app import create_app
from app.settings import Settings
from tests.e2e.helpers import app_settings, eventually, running


@pytest.fixture
def seeded(sim: GitHubSimulator) -> Seeded:
    return sim.seed_standard()


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aqm.test")


# ---- /healthz: 503 naming what is down, never 500 ------------------------------------------------

needs_redis_server = pytest.mark.skipif(
    shutil.which("redis-server") is None and os.environ.get("CI") != "true",
    reason="no redis-server executable",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def own_redis(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A redis-server of the test's own, to stop (the shared one must stay up), and its port."""
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    try:
        yield process, port
    finally:
        process.send_signal(signal.SIGCONT)  # in case the test stopped it
        process.terminate()
        process.wait(timeout=30)


async def answering(port: int) -> None:
    async def up() -> bool | None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return None

    await eventually(up, timeout_s=30, what="redis-server to answer")


@asynccontextmanager
async def app_on_own_redis(
    sim: GitHubSimulator, seeded: Seeded, tmp_path: Path
) -> AsyncIterator[tuple[FastAPI, subprocess.Popen[bytes]]]:
    with own_redis(tmp_path) as (redis, port):
        await answering(port)
        settings = app_settings(seeded, tmp_path, sim.base_url, redis_url=f"redis://127.0.0.1:{port}/0")
        async with running(settings, sim.transport()) as application:
            yield application, redis


@needs_redis_server
async def test_healthz_is_503_naming_the_queue_when_redis_is_gone(
    sim: GitHubSimulator, seeded: Seeded, tmp_path: Path
) -> None:
    async with app_on_own_redis(sim, seeded, tmp_path) as (application, redis), client(application) as http:
        before = await http.get("/healthz")
        redis.terminate()
        redis.wait(timeout=30)
        after = await http.get("/healthz")
    assert before.status_code == 200, before.text
    assert after.status_code == 503, after.text
    assert after.json() == {"ok": False, "database": True, "queue": False, "github": True}


@needs_redis_server
async def test_healthz_is_503_when_redis_stops_answering(
    sim: GitHubSimulator, seeded: Seeded, tmp_path: Path
) -> None:
    """A Redis that accepts but never answers (stopped, a network black hole): the probe gives up."""
    async with app_on_own_redis(sim, seeded, tmp_path) as (application, redis), client(application) as http:
        redis.send_signal(signal.SIGSTOP)
        response = await http.get("/healthz")
    assert response.status_code == 503, response.text
    assert response.json()["queue"] is False


# ---- the API token and the API docs ------------------------------------------------------------


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"])
async def test_the_api_docs_are_not_served_with_or_without_the_token(app: FastAPI, path: str) -> None:
    async with client(app) as http:
        anonymous = await http.get(path)
        with_token = await http.get(path, headers={"Authorization": f"Bearer {app.state.api_token}"})
    assert (anonymous.status_code, with_token.status_code) == (404, 404)


@pytest.mark.parametrize("authorization", [b"Bearer \xff\xfe", "Bearer é".encode(), b"\xc3\xa9"])
async def test_a_non_ascii_authorization_header_is_401(app: FastAPI, authorization: bytes) -> None:
    async with client(app) as http:
        response = await http.get("/api/tasks", headers=[(b"Authorization", authorization)])
    assert response.status_code == 401, response.text


@pytest.mark.parametrize("token", ["", "   ", "\n"])
def test_an_empty_api_token_refuses_to_start(tmp_path: Path, token: str) -> None:
    with pytest.raises(ConfigError, match="AQM_API_TOKEN is set but empty"):
        create_app(Settings(data_dir=tmp_path, api_token=token))


def test_a_token_with_white_space_around_it_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="AQM_API_TOKEN has white space around it"):
        create_app(Settings(data_dir=tmp_path, api_token="secret-token\n"))


def test_aqm_serve_with_an_empty_api_token_says_so_and_exits(tmp_path: Path) -> None:
    env = {**os.environ, "AQM_API_TOKEN": "", "AQM_DATA_DIR": str(tmp_path), "AQM_PORT": str(free_port())}
    aqm = str(Path(sys.executable).parent / "aqm")
    result = subprocess.run([aqm, "serve"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1, result.stderr
    assert "AQM_API_TOKEN is set but empty" in result.stderr


async def test_a_generated_token_is_logged_once_at_start_and_a_given_one_never(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    given = "operator-chosen-token-0123456789"
    async with running(Settings(data_dir=tmp_path / "made")) as made, client(made) as http:
        await http.get("/api/tasks", headers={"Authorization": "Bearer wrong"})
        await http.get("/api/tasks", headers={"Authorization": f"Bearer {made.state.api_token}"})
    generated = made.state.api_token
    async with (
        running(Settings(data_dir=tmp_path / "given", api_token=given)) as chosen,
        client(chosen) as http,
    ):
        assert (await http.get("/api/tasks", headers={"Authorization": f"Bearer {given}"})).status_code == 200
    lines = [record.getMessage() for record in caplog.records]
    assert [line for line in lines if generated in line] == [
        f"AQM_API_TOKEN is not set; this run's API token: {generated}"
    ]
    assert not [line for line in lines if given in line]
