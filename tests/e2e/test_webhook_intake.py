"""Webhook intake: verify, record once, enqueue, 202 — and nothing for a bad signature."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from githubkit.webhooks import sign

from app.errors import ConfigError, TaskError
from app.github.webhook import MAX_BODY_BYTES, MAX_JSON_DEPTH
from app.playground.simulator import GitHubSimulator, Seeded
from app.server.app import create_app
from app.settings import Settings
from tests.e2e.helpers import SECRET, deliverer, settle


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


# ---- what an attacker can send: malformed signatures, huge and deep bodies ---------------------


def signed(body: bytes, *, delivery: str = "d-1", event: str = "ping") -> dict[str, str]:
    """GitHub's headers for `body`, signed with the app's secret."""
    return {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": sign(SECRET, body)}


async def assert_not_stored(app: FastAPI, *delivery_ids: str) -> None:
    for delivery_id in delivery_ids:
        with pytest.raises(Exception, match="No delivery"):
            await app.state.services.github_store.get_delivery(delivery_id)


PING = b'{"zen": "Keep it logically awesome.", "hook_id": 1}'
VALID = sign(SECRET, PING).encode()
SIGNATURE = b"X-Hub-Signature-256"
MALFORMED_SIGNATURES: dict[str, list[tuple[bytes, bytes]]] = {
    "a non-ASCII byte": [(SIGNATURE, b"sha256=" + b"\xff" * 64)],
    "a non-ASCII byte after a valid signature": [(SIGNATURE, VALID + b"\xe9")],
    "the sha1 prefix": [(SIGNATURE, b"sha1=" + VALID[7:])],
    "no prefix": [(SIGNATURE, VALID[7:])],
    "too short": [(SIGNATURE, VALID[:-2])],
    "too long": [(SIGNATURE, VALID + b"00")],
    "not hex": [(SIGNATURE, VALID[:-1] + b"g")],
    "upper-case hex": [(SIGNATURE, VALID.upper().replace(b"SHA256", b"sha256"))],
    "duplicated (the first one valid)": [(SIGNATURE, VALID), (SIGNATURE, b"sha256=0")],
    "duplicated (both valid)": [(SIGNATURE, VALID), (SIGNATURE, VALID)],
    "empty": [(SIGNATURE, b"")],
}


@pytest.mark.parametrize("signature", list(MALFORMED_SIGNATURES.values()), ids=list(MALFORMED_SIGNATURES))
async def test_a_malformed_signature_header_is_401_and_nothing_is_stored(
    app: FastAPI, signature: list[tuple[bytes, bytes]]
) -> None:
    headers = [(b"X-GitHub-Event", b"ping"), (b"X-GitHub-Delivery", b"d-bad"), *signature]
    async with client(app) as http:
        response = await http.post("/webhook", content=PING, headers=headers)
    assert response.status_code == 401, response.text
    assert "X-Hub-Signature-256" in response.json()["error"]
    await assert_not_stored(app, "d-bad")


async def test_the_same_body_with_its_valid_signature_is_accepted(app: FastAPI) -> None:
    """The control of the test above: only the signature header differs."""
    async with client(app) as http:
        response = await http.post("/webhook", content=PING, headers=signed(PING, delivery="d-good"))
    assert response.status_code == 202, response.text
    assert (await app.state.services.github_store.get_delivery("d-good")).event == "ping"


class CountingBody:
    """A request body streamed in `chunk_bytes` pieces (chunked: no Content-Length), counting
    how much of it the server pulled."""

    def __init__(self, total_bytes: int, chunk_bytes: int = 1024 * 1024) -> None:
        self.total_bytes, self.chunk_bytes, self.pulled = total_bytes, chunk_bytes, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < self.total_bytes:
            piece = min(self.chunk_bytes, self.total_bytes - self.pulled)
            self.pulled += piece
            yield b" " * piece


async def test_a_chunked_body_over_githubs_cap_is_413_and_not_read_whole(app: FastAPI) -> None:
    body = CountingBody(3 * MAX_BODY_BYTES)
    async with client(app) as http:
        response = await http.post("/webhook", content=body, headers=signed(b"", delivery="d-big"))
    assert response.status_code == 413, response.text
    assert str(MAX_BODY_BYTES) in response.json()["error"]
    assert body.pulled <= MAX_BODY_BYTES + body.chunk_bytes  # stopped at the cap, never 3x it
    await assert_not_stored(app, "d-big")


async def test_a_declared_length_over_the_cap_is_413_before_a_byte_is_read(app: FastAPI) -> None:
    body = CountingBody(1024, chunk_bytes=1024)
    headers = signed(b"", delivery="d-declared") | {"Content-Length": str(MAX_BODY_BYTES + 1)}
    async with client(app) as http:
        response = await http.post("/webhook", content=body, headers=headers)
    assert response.status_code == 413, response.text
    assert body.pulled == 0
    await assert_not_stored(app, "d-declared")


async def test_an_unsigned_body_is_401_before_a_byte_is_read(app: FastAPI) -> None:
    body = CountingBody(MAX_BODY_BYTES)
    async with client(app) as http:
        response = await http.post(
            "/webhook", content=body, headers={"X-GitHub-Event": "ping", "X-GitHub-Delivery": "d-unsigned"}
        )
    assert (response.status_code, body.pulled) == (401, 0)


def nested(depth: int) -> bytes:
    """A ping payload whose `hook` holds lists `depth` levels deep (the object itself is level 1)."""
    inner = depth - 1
    return b'{"zen": "deep", "hook": ' + b"[" * inner + b"]" * inner + b"}"


BAD_BODIES = {
    "nested 10,000 deep": (nested(10_000), f"nested deeper than {MAX_JSON_DEPTH}"),
    "nested one level too deep": (nested(MAX_JSON_DEPTH + 1), f"nested deeper than {MAX_JSON_DEPTH}"),
    "not UTF-8": (b'{"zen": "\xff"}', "not UTF-8"),
    "form-encoded": (b"payload=%7B%7D", "application/json"),
    "not an object": (b"[1, 2]", "not a JSON object"),
    "truncated": (b'{"zen": "Keep it', "not JSON"),
    "a 5,000-digit number": (b'{"n": ' + b"9" * 5000 + b"}", "not JSON"),
}


@pytest.mark.parametrize(("body", "message"), list(BAD_BODIES.values()), ids=list(BAD_BODIES))
async def test_a_signed_body_that_is_not_a_json_object_is_400_saying_why(
    app: FastAPI, body: bytes, message: str
) -> None:
    async with client(app) as http:
        response = await http.post("/webhook", content=body, headers=signed(body, delivery="d-json"))
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
    await assert_not_stored(app, "d-json")


async def test_a_signed_body_nested_to_the_limit_is_accepted(app: FastAPI) -> None:
    body = nested(MAX_JSON_DEPTH)
    async with client(app) as http:
        response = await http.post("/webhook", content=body, headers=signed(body, delivery="d-deep"))
    await settle(app)
    assert response.status_code == 202, response.text
    assert (await app.state.services.github_store.get_delivery("d-deep")).body == body.decode()


async def test_brackets_inside_strings_do_not_count_as_depth(app: FastAPI) -> None:
    text = "[{" * 1000 + '\\"' + "]}" * 1000
    body = json.dumps({"zen": text, "hook": {"config": {"url": "x"}}}).encode()
    async with client(app) as http:
        response = await http.post("/webhook", content=body, headers=signed(body, delivery="d-str"))
    assert response.status_code == 202, response.text
