"""Real `aqm worker` processes on Redis (a worker SIGKILLed mid-stage; two workers keeping order),
and `aqm serve` with its in-process queue SIGKILLed mid-stage and started again.

With Redis, the app (FastAPI, arq queue) records and enqueues deliveries from the simulator, which serves
GitHub on a real port; the workers are `python -m app.cli worker` subprocesses with their own
process groups, configured through AQM_* variables (short leases: 3 s, a reconciler every 1 s).
A missing Redis or PostgreSQL skips these tests on a laptop and fails them in CI (CI=true).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import IO

import httpx
from sqlalchemy.ext.asyncio import create_async_engine

from app.playground.simulator import GitHubSimulator, Seeded
from app.settings import Settings
from app.store.github import GitHubStore
from app.store.store import TaskStore
from tests.e2e.helpers import (
    SECRET,
    app_settings,
    deliverer,
    eventually,
    needs_postgres,
    needs_redis,
    redis_db,
    running,
    seed_pipeline,
)

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"

KILLED_MID_STAGE = """\
agents:
  - {id: one, runtime: command, command: ["echo", "first stage output"], handoffs: [{to: two}]}
  - id: two
    runtime: command
    command: ["sh", "-c", "sleep 3; echo second stage output"]
    handoffs: [{to: three}]
  - {id: three, runtime: command, command: ["echo", "third stage output"]}
"""
ONE_SLOW_STAGE = """\
agents:
  - {id: work, runtime: command, command: ["sh", "-c", "sleep 3; echo pr stage output"]}
"""


def settings_for(
    tmp_path: Path, seeded: Seeded, base_url: str, redis_url: str | None, database_url: str | None
) -> Settings:
    return app_settings(
        seeded,
        tmp_path,
        base_url,
        database_url=database_url,
        redis_url=redis_url,
        task_lease_s=3,
        reconcile_interval_s=1,
        redeliver_after_s=10,  # longer than handling a delivery takes here: no replays
    )


class Workers:
    """`aqm worker` subprocesses, each in its own process group, logging to files under `logs`."""

    def __init__(self, settings: Settings, logs: Path) -> None:
        assert settings.github_private_key is not None and settings.github_webhook_secret is not None
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "AQM_DATA_DIR": str(settings.data_dir),
            "AQM_GITHUB_API_URL": settings.github_api_url,
            "AQM_GITHUB_APP_ID": str(settings.github_app_id),
            "AQM_GITHUB_PRIVATE_KEY": settings.github_private_key.get_secret_value(),
            "AQM_GITHUB_WEBHOOK_SECRET": settings.github_webhook_secret.get_secret_value(),
            "AQM_TASK_LEASE_S": str(settings.task_lease_s),
            "AQM_RECONCILE_INTERVAL_S": str(settings.reconcile_interval_s),
            "AQM_REDELIVER_AFTER_S": str(settings.redeliver_after_s),
        }
        if settings.database_url:
            self.env["AQM_DATABASE_URL"] = settings.database_url
        if settings.redis_url:
            self.env["AQM_REDIS_URL"] = settings.redis_url
        self.logs = logs
        self.processes: list[subprocess.Popen[bytes]] = []
        self.files: list[IO[bytes]] = []

    def start(
        self, data_dir: Path | None = None, *, command: tuple[str, ...] = ("worker",), **env_vars: str
    ) -> subprocess.Popen[bytes]:
        env = self.env | ({"AQM_DATA_DIR": str(data_dir)} if data_dir else {}) | env_vars
        log = (self.logs / f"worker-{len(self.processes) + 1}.log").open("wb")
        self.files.append(log)
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", *command],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: SIGKILL takes the stage's children too
        )
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill(process)
        for file in self.files:
            file.close()

    def output(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("worker-*.log")))


@contextmanager
def workers_of(settings: Settings, logs: Path) -> Iterator[Workers]:
    logs.mkdir(parents=True, exist_ok=True)
    workers = Workers(settings, logs)
    try:
        yield workers
    finally:
        workers.stop_all()


def stage_two_running(store: TaskStore) -> Callable[[], Awaitable[str | None]]:
    """A check for `eventually`: the id of the task whose stage 2 is running, once one is."""

    async def check() -> str | None:
        for task in await store.list_tasks():
            stages = await store.list_stages(task.id, texts=False)
            if any(s.number == 2 and s.status == "running" for s in stages):
                return task.id
        return None

    return check


@asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[str]:
    name = f"aqm_leases_{secrets.token_hex(6)}"  # [a-z0-9_]: safe to splice into DDL
    admin = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.exec_driver_sql(f"CREATE DATABASE {name}")
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        async with admin.connect() as connection:
            await connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.dispose()


@needs_redis
async def test_a_worker_killed_mid_stage_is_replaced_and_the_task_completes_once(tmp_path: Path) -> None:
    sim = GitHubSimulator(tmp_path / "github")
    seeded = seed_pipeline(sim, KILLED_MID_STAGE)
    async with redis_db(13) as redis_url:
        with sim.serve() as base_url:
            settings = settings_for(tmp_path, seeded, base_url, redis_url, None)
            async with running(settings) as app:
                store = await TaskStore.connect(settings.effective_database_url)
                try:
                    with workers_of(settings, tmp_path / "logs") as workers:
                        issue = sim.open_issue("octo/demo", "Three stages", "", user="maintainer")
                        hooks = deliverer(sim, app)
                        first = workers.start()
                        asked = await hooks.comment_created(
                            "octo/demo", issue.number, "maintainer", "/aqm run"
                        )

                        task_id = await eventually(
                            stage_two_running(store), timeout_s=30, what="stage 2 to run"
                        )
                        workers.kill(first)  # mid-stage: its lease stops being renewed
                        workers.start()

                        async def completed() -> str | None:
                            status = (await store.get_task(task_id)).status
                            return status if status in ("completed", "failed") else None

                        try:
                            status = await eventually(completed, timeout_s=45, what="the task to end")
                        except AssertionError:
                            raise AssertionError(workers.output()) from None
                        assert status == "completed", workers.output()

                        async def reported() -> (
                            bool | None
                        ):  # the last comment and card edit follow the commit
                            thread = sim.thread("octo/demo", issue.number)
                            return True if "third stage output" in thread and "Completed" in thread else None

                        await eventually(reported, timeout_s=10, what="the thread to show the end")
                        # handed over to the task when it was recorded: the lease, not a replay, recovered it
                        delivery = await GitHubStore(store).get_delivery(asked.guid)
                        tasks = await store.list_tasks()
                        stages = await store.list_stages(task_id, texts=False)
                        logs = workers.output()
                finally:
                    await store.close()
        assert [t.id for t in tasks] == [task_id]
        assert (delivery.status, delivery.attempts) == ("done", 1), logs
        assert [(s.number, s.agent_id, s.status) for s in stages] == [
            (1, "one", "approved"),
            (2, "two", "approved"),
            (3, "three", "approved"),
        ]
        thread = sim.thread("octo/demo", issue.number)
        for output in ("first stage output", "second stage output", "third stage output"):
            assert thread.count(output) == 1, thread  # one comment per stage: the killed run posted none
        assert thread.count("Edited in place as the task runs") == 1 and "Completed" in thread, thread


@needs_redis
@needs_postgres
async def test_two_workers_run_ten_tasks_on_five_pulls_one_at_a_time_per_pull(tmp_path: Path) -> None:
    sim = GitHubSimulator(tmp_path / "github")
    seeded = seed_pipeline(sim, ONE_SLOW_STAGE)
    pulls = []
    for n in range(5):
        sim.commit("octo/demo", {f"feature{n}.txt": "x\n"}, branch=f"feature-{n}", message=f"feature {n}")
        pulls.append(sim.open_pull("octo/demo", head=f"feature-{n}", title=f"Feature {n}", user="outsider"))
    async with redis_db(12) as redis_url, fresh_postgres_database() as database_url:
        with sim.serve() as base_url:
            settings = settings_for(tmp_path, seeded, base_url, redis_url, database_url)
            async with running(settings) as app:
                store = await TaskStore.connect(database_url)
                try:
                    with workers_of(settings, tmp_path / "logs") as workers:
                        workers.start(tmp_path / "worker-1")  # two machines: a data dir each
                        workers.start(tmp_path / "worker-2")
                        hooks = deliverer(sim, app)
                        for pull in pulls:
                            for which in ("first", "second"):
                                await hooks.comment_created(
                                    "octo/demo", pull.number, "maintainer", f"/aqm run {which}"
                                )

                        async def all_ended() -> bool | None:
                            tasks = await store.list_tasks(limit=100)
                            ended = [t for t in tasks if t.status in ("completed", "failed", "cancelled")]
                            return True if len(tasks) == 10 and len(ended) == 10 else None

                        try:
                            await eventually(all_ended, timeout_s=50, what="ten tasks to end")
                        except AssertionError:
                            raise AssertionError(workers.output()) from None
                    github = GitHubStore(store)
                    for pull in pulls:
                        newest, oldest = await github.thread_tasks("octo/demo", pull.number)
                        first, second = oldest[0].task_id, newest[0].task_id
                        assert [(await store.get_task(t)).status for t in (first, second)] == [
                            "completed"
                        ] * 2
                        assert (await store.get_task(first)).description == "first"  # the order asked
                        assert (await store.get_task(second)).description == "second"
                        ones = await store.list_stages(first, texts=False)
                        twos = await store.list_stages(second, texts=False)
                        assert len(ones) == len(twos) == 1, (ones, twos, workers.output())
                        [one], [two] = ones, twos
                        assert one.finished_at is not None and two.started_at is not None
                        assert two.started_at >= one.finished_at, (pull.number, one, two)  # never overlapping
                        thread = sim.thread("octo/demo", pull.number)
                        assert f"`{second}` is queued behind `{first}`" in thread, thread
                        assert thread.count("is queued behind") == 1, thread
                finally:
                    await store.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def started_serve(servers: Workers, client: httpx.AsyncClient) -> tuple[subprocess.Popen[bytes], str]:
    """`aqm serve` on a free port, once it answers: the process and its URL."""
    port = free_port()
    process = servers.start(command=("serve",), AQM_PORT=str(port))
    url = f"http://127.0.0.1:{port}"

    async def up() -> bool | None:
        try:
            return True if (await client.get(f"{url}/healthz")).status_code == 200 else None
        except httpx.TransportError:
            return None

    await eventually(up, timeout_s=30, what="aqm serve to answer")
    return process, url


async def test_aqm_serve_killed_mid_stage_resumes_the_task_when_it_starts_again(tmp_path: Path) -> None:
    """Without Redis: the in-process queue's reconciler, at the next start, resumes what a killed server ran."""
    sim = GitHubSimulator(tmp_path / "github")
    seeded = seed_pipeline(sim, KILLED_MID_STAGE)
    with sim.serve() as base_url:
        settings = settings_for(tmp_path, seeded, base_url, None, None)
        store = await TaskStore.connect(settings.effective_database_url)
        try:
            with workers_of(settings, tmp_path / "logs") as servers:
                async with httpx.AsyncClient() as client:
                    first, url = await started_serve(servers, client)
                    issue = sim.open_issue("octo/demo", "Three stages", "", user="maintainer")
                    hooks = sim.deliverer(f"{url}/webhook", client=client, secret=SECRET)
                    await hooks.comment_created("octo/demo", issue.number, "maintainer", "/aqm run")

                    task_id = await eventually(stage_two_running(store), timeout_s=30, what="stage 2 to run")
                servers.kill(first)
                servers.start(command=("serve",), AQM_PORT=str(free_port()))

                async def reported() -> bool | None:
                    thread = sim.thread("octo/demo", issue.number)
                    return True if "third stage output" in thread and "Completed" in thread else None

                try:
                    await eventually(reported, timeout_s=45, what="the resumed task to end")
                except AssertionError:
                    raise AssertionError(servers.output()) from None
            assert [t.id for t in await store.list_tasks()] == [task_id]
            assert [s.number for s in await store.list_stages(task_id, texts=False)] == [1, 2, 3]
        finally:
            await store.close()
    thread = sim.thread("octo/demo", issue.number)
    for output in ("first stage output", "second stage output", "third stage output"):
        assert thread.count(output) == 1, thread
