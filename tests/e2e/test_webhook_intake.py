"""Webhook intake: verify, record once, enqueue, 202 — and nothing for a bad signature."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.errors import ConfigError, TaskError
from app.playground.simulator import GitHubSimulator, Seeded
from app.server.app import create_app
from app.settings import Settings
from tests.e2e.helpers import deliverer, settle


@pytest.fixture
def seeded(sim: GitHubSimulator) -> Seeded:
    return sim.seed_standard()


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aqm.test")


async def test_a_redelivery_is_recorded_once_and_changes_nothing(sim: GitHubSimulator, app: FastAPI) -> None:
    issue = sim.open_issue("octo/demo", "Hello", "text", user="maintainer")
    hooks = deliverer(sim, app)
    first = await hooks.comment_created("octo/demo", issue.number, "maintainer", "/aqm status")
    await settle(app)
    comments_after_first = sim.traffic.count("issues.create_comment")
    again = await hooks.redeliver(first)
    await settle(app)
    assert (first.response_status, again.response_status) == (202, 202)
    assert json.loads(again.response_body)["duplicate"] is True
    assert sim.traffic.count("issues.create_comment") == comments_after_first == 1


async def test_a_bad_signature_is_401_and_nothing_is_stored(app: FastAPI) -> None:
    async with client(app) as http:
        response = await http.post(
            "/webhook",
            content=b'{"action": "created"}',
            headers={
                "X-GitHub-Event": "issue_comment",
                "X-GitHub-Delivery": "d-1",
                "X-Hub-Signature-256": "sha256=00",
            },
        )
        unsigned = await http.post(
            "/webhook", content=b"{}", headers={"X-GitHub-Event": "ping", "X-GitHub-Delivery": "d-2"}
        )
    assert (response.status_code, unsigned.status_code) == (401, 401)
    store = app.state.services.github_store
    for delivery_id in ("d-1", "d-2"):
        with pytest.raises(TaskError, match="No delivery"):
            await store.get_delivery(delivery_id)


async def test_events_we_do_not_act_on_are_accepted_and_ignored(sim: GitHubSimulator, app: FastAPI) -> None:
    hooks = deliverer(sim, app)
    issue = sim.open_issue("octo/demo", "Hello", "no command here", user="outsider")
    delivery = await hooks.comment_created("octo/demo", issue.number, "outsider", "just a comment")
    await settle(app)
    assert delivery.response_status == 202
    record = await app.state.services.github_store.get_delivery(delivery.guid)
    assert record.status == "ignored"
    assert sim.traffic.count("issues.create_comment") == 0


async def test_healthz_reports_database_and_queue(app: FastAPI) -> None:
    async with client(app) as http:
        response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "database": True, "queue": True, "github": True}


async def test_the_api_needs_the_bearer_token(app: FastAPI) -> None:
    async with client(app) as http:
        refused = await http.get("/api/tasks")
        allowed = await http.get("/api/tasks", headers={"Authorization": f"Bearer {app.state.api_token}"})
    assert (refused.status_code, allowed.status_code, allowed.json()) == (401, 200, [])


async def test_without_github_settings_the_webhook_says_what_to_configure(tmp_path: Path) -> None:
    application = create_app(Settings(data_dir=tmp_path / "d"))
    async with application.router.lifespan_context(application), client(application) as http:
        response = await http.post("/webhook", content=b"{}")
    assert response.status_code == 503 and "AQM_GITHUB_WEBHOOK_SECRET" in response.json()["error"]


def test_github_credentials_without_a_secret_refuse_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="AQM_GITHUB_WEBHOOK_SECRET"):
        create_app(Settings(data_dir=tmp_path, github_token="ghp_x"))
