"""create_app(settings): the FastAPI app of `aqm serve`.

`POST /webhook` verifies, records, enqueues and answers 202 — no GitHub call, no YAML, no
pipeline work on the request path. `GET /healthz` answers 200 only when the database and the
queue can take work. `/api/...` (bearer token) lists and shows tasks for the dashboard.
Without GitHub settings the app serves the API only and `/webhook` answers 503 saying what to
configure; with them it refuses to start without a webhook secret.
"""

from __future__ import annotations

import functools
import gc
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.errors import TaskError
from app.github.handler import Services, launcher_for
from app.github.webhook import BadDelivery, DeliveryHeaders, action_of, delivery_key, verify_signature
from app.queue import ArqQueue, InProcessQueue, JobQueue
from app.settings import Settings

log = logging.getLogger("aqm.server")


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
    settings.require_github()
    launcher = launcher_for(settings) if settings.github_configured else None  # refuse to start without
    api_token = settings.api_token.get_secret_value() if settings.api_token else secrets.token_urlsafe(24)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
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
        app.state.services, app.state.queue, app.state.api_token = services, queue, api_token
        if settings.api_token is None:
            log.warning("AQM_API_TOKEN is not set; this run's API token: %s", api_token)
        freeze_startup_objects()
        try:
            yield
        finally:
            await queue.stop()
            await services.close()

    app = FastAPI(title="aqm for GitHub", lifespan=lifespan)
    app.add_exception_handler(BadDelivery, _bad_delivery)
    app.add_exception_handler(TaskError, _unknown_task)
    _routes(app, settings)
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
    expected = f"Bearer {request.app.state.api_token}"
    if authorization is None or not secrets.compare_digest(authorization, expected):
        raise HTTPException(401, "a bearer token (AQM_API_TOKEN) is required", {"WWW-Authenticate": "Bearer"})


ServicesDep = Annotated[Services, Depends(get_services)]
QueueDep = Annotated[JobQueue, Depends(get_queue)]
TokenDep = Annotated[None, Depends(check_token)]


def _routes(app: FastAPI, settings: Settings) -> None:
    @app.post("/webhook", status_code=202)
    async def receive_webhook(request: Request, services: ServicesDep, queue: QueueDep) -> Any:
        if not settings.github_configured or settings.github_webhook_secret is None:
            return JSONResponse(
                {
                    "error": "GitHub is not configured: set AQM_GITHUB_TOKEN (or AQM_GITHUB_APP_ID "
                    "and AQM_GITHUB_PRIVATE_KEY_PATH) and AQM_GITHUB_WEBHOOK_SECRET"
                },
                status_code=503,
            )
        body = await request.body()
        headers = DeliveryHeaders.of(request.headers)
        verify_signature(body, headers.signature, settings.github_webhook_secret.get_secret_value())
        new = await services.github_store.record_delivery(
            headers.delivery_id,
            event=headers.event,
            action=action_of(body),
            body=body.decode("utf-8", "replace"),
            dedup_key=delivery_key(headers.event, body),
        )
        if new:
            await queue.enqueue(headers.delivery_id, job_id=f"{headers.delivery_id}:1")
        return Accepted(delivery_id=headers.delivery_id, duplicate=not new)

    @app.get("/healthz")
    async def healthz(services: ServicesDep, queue: QueueDep) -> JSONResponse:
        database = await services.database_ok()
        queued = await queue.healthy()
        health = Health(
            ok=database and queued, database=database, queue=queued, github=settings.github_configured
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
