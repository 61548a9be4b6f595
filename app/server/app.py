"""create_app(settings): the FastAPI app of `aqm serve`.

`POST /webhook` verifies, records, enqueues and answers 202 — no GitHub call, no YAML, no
pipeline work on the request path; what it refuses, and with which status, is listed in
app/github/webhook.py (401 signature, 413 size, 400 body). `GET /healthz` answers 200 only when
the database and the queue can take work, else 503 naming what is down. `/api/...` (bearer
token) lists and shows tasks for the dashboard; no /docs or /openapi.json are served. Without
GitHub settings the app serves the API only and `/webhook` answers 503 saying what to
configure; with them it refuses to start without a webhook secret.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.errors import TaskError
from app.github.services import Services, launcher_for
from app.github.webhook import (
    MAX_BODY_BYTES,
    BadDelivery,
    DeliveryHeaders,
    Payload,
    check_declared_length,
    delivery_key,
    read_payload,
    too_large,
    verify_signature,
)
from app.queue import ArqQueue, InProcessQueue, JobQueue
from app.runtimes.process import Launcher
from app.server import setup
from app.settings import Settings

log = logging.getLogger("aqm.server")
HEALTH_PROBE_TIMEOUT_S = 2.0
INLINE_PARSE_BYTES = 256 * 1024  # up to this size a body is checked and parsed on the event loop (~1 ms)


class Accepted(BaseModel):
    delivery_id: str
    duplicate: bool


class Health(BaseModel):
    ok: bool
    database: bool
    queue: bool
    github: bool


class TaskPublic(BaseModel):
    id: str
    pipeline: str
    status: str
    description: str
    error: str | None
    created_at: str | None
    updated_at: str | None


def create_app(settings: Settings, *, github_transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """The app for these settings; `github_transport` points githubkit at a simulator."""
    settings = setup.with_stored_app(settings)  # the App the setup page registered, unless the env names one
    settings.require_github()
    launcher = launcher_for(settings) if settings.github_configured else None  # refuse to start without
    api_token = settings.given_api_token() or secrets.token_urlsafe(24)

    async def start(settings: Settings, launcher: Launcher | None) -> tuple[Services, JobQueue]:
        services = await Services.start(settings, github_transport=github_transport, launcher=launcher)
        queue: JobQueue = (
            ArqQueue(settings.redis_url)
            if settings.redis_url
            else InProcessQueue(
                services.handle,
                resume=services.resume,
                stuck=services.stuck,
                reconcile_interval_s=settings.reconcile_interval_s,
            )
        )
        await queue.start()
        return services, queue

    async def stop(services: Services, queue: JobQueue) -> None:
        await queue.stop()
        await services.close()

    async def activate(new: Settings) -> None:
        """Serve with `new` settings (the App the setup page just registered): no restart."""
        old = app.state.services, app.state.queue
        app.state.services, app.state.queue = await start(new, launcher_for(new))
        await stop(*old)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services, app.state.queue = await start(settings, launcher)
        app.state.api_token = api_token
        if settings.api_token is None:
            log.warning("AQM_API_TOKEN is not set; this run's API token: %s", api_token)
        if gate is not None:
            setup.announce(gate, settings)
        freeze_startup_objects()
        try:
            yield
        finally:
            await stop(app.state.services, app.state.queue)

    # No /docs, /redoc or /openapi.json: they would describe the API to anyone, token or not, and a
    # browser cannot send the bearer token for them. The routes are documented in the README.
    app = FastAPI(title="aqm for GitHub", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_exception_handler(BadDelivery, _bad_delivery)
    app.add_exception_handler(TaskError, _unknown_task)
    _routes(app)
    gate = (
        None
        if settings.github_configured
        else setup.install(app, settings, activate, transport=github_transport)
    )
    return app


@functools.cache  # once per process: a later freeze would keep earlier apps' garbage for good
def freeze_startup_objects() -> None:
    """Move everything alive after start-up (modules, githubkit's models, the app) out of the
    collector's reach: full collections then walk only what requests create, instead of pausing
    the event loop for tens of milliseconds over objects that live as long as the process."""
    gc.collect()
    gc.freeze()


# Dependencies are async: FastAPI runs sync ones in its thread pool, a thread hop per request.
async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_queue(request: Request) -> JobQueue:
    queue: JobQueue = request.app.state.queue
    return queue


async def check_token(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    expected = f"Bearer {request.app.state.api_token}".encode()
    # compared as bytes: compare_digest raises TypeError (a 500) on a non-ASCII str, and header
    # values arrive as latin-1 text, so this gives back the bytes that were sent
    if authorization is None or not secrets.compare_digest(authorization.encode("latin-1"), expected):
        raise HTTPException(401, "a bearer token (AQM_API_TOKEN) is required", {"WWW-Authenticate": "Bearer"})


ServicesDep = Annotated[Services, Depends(get_services)]
QueueDep = Annotated[JobQueue, Depends(get_queue)]
TokenDep = Annotated[None, Depends(check_token)]


def _routes(app: FastAPI) -> None:
    @app.post("/webhook", status_code=202)
    async def receive_webhook(request: Request, services: ServicesDep, queue: QueueDep) -> Any:
        settings = services.settings  # the setup page may have switched them since start
        if not settings.github_configured or settings.github_webhook_secret is None:
            return JSONResponse(
                {
                    "error": "GitHub is not configured: set AQM_GITHUB_TOKEN (or AQM_GITHUB_APP_ID "
                    "and AQM_GITHUB_PRIVATE_KEY_PATH) and AQM_GITHUB_WEBHOOK_SECRET"
                },
                status_code=503,
            )
        headers = DeliveryHeaders.of(request.headers)  # 401 for a missing or malformed signature: body unread
        body = await read_body(request)
        verify_signature(body, headers.signature, settings.github_webhook_secret.get_secret_value())
        payload = await parse_payload(body)
        new = await services.github_store.record_delivery(
            headers.delivery_id,
            event=headers.event,
            action=payload.action,
            body=payload.text,
            dedup_key=delivery_key(headers.event, payload.data, body),
        )
        if new:
            await queue.enqueue(headers.delivery_id, job_id=f"{headers.delivery_id}:1")
        return Accepted(delivery_id=headers.delivery_id, duplicate=not new)

    @app.get("/healthz")
    async def healthz(services: ServicesDep, queue: QueueDep) -> JSONResponse:
        database, queued = await asyncio.gather(probe(services.database_ok), probe(queue.healthy))
        health = Health(
            ok=database and queued,
            database=database,
            queue=queued,
            github=services.settings.github_configured,
        )
        return JSONResponse(health.model_dump(), status_code=200 if health.ok else 503)

    @app.get("/api/tasks")
    async def list_tasks(
        services: ServicesDep, _: TokenDep, status: str | None = None, limit: int = 50
    ) -> list[TaskPublic]:
        tasks = await services.store.list_tasks(status=status, limit=min(max(limit, 1), 500))
        return [_public(t) for t in tasks]

    @app.get("/api/tasks/{task_id}")
    async def read_task(task_id: str, services: ServicesDep, _: TokenDep) -> TaskPublic:
        return _public(await services.store.get_task(task_id))


async def probe(check: Callable[[], Awaitable[bool]]) -> bool:
    """One dependency's health for /healthz: False when it says so, fails in any way (redis's
    ConnectionError is no OSError) or does not answer in HEALTH_PROBE_TIMEOUT_S — so a load
    balancer gets a 503 naming what is down, never a 500 or a hang."""
    try:
        return await asyncio.wait_for(check(), HEALTH_PROBE_TIMEOUT_S)
    except Exception:
        return False


async def read_body(request: Request) -> bytes:
    """The body, refused (413) as soon as it is known to be over GitHub's payload cap: by its
    Content-Length before a byte is read, else by counting while it streams in (a chunked body
    declares none), so no more than the cap is ever held in memory."""
    check_declared_length(request.headers)
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > MAX_BODY_BYTES:
            raise too_large()
        chunks.append(chunk)
    return b"".join(chunks)


async def parse_payload(body: bytes) -> Payload:
    """`read_payload` of the body; in a thread when it is large, so the event loop (and /healthz)
    never waits the tenths of a second a multi-megabyte body takes."""
    if len(body) <= INLINE_PARSE_BYTES:
        return read_payload(body)
    return await asyncio.to_thread(read_payload, body)


def _public(task: Any) -> TaskPublic:
    return TaskPublic(
        id=task.id,
        pipeline=task.pipeline,
        status=task.status,
        description=task.description,
        error=task.error,
        created_at=task.created_at.isoformat() if task.created_at else None,
        updated_at=task.updated_at.isoformat() if task.updated_at else None,
    )


async def _bad_delivery(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BadDelivery)
    return JSONResponse({"error": str(exc)}, status_code=exc.status)


async def _unknown_task(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=404)
