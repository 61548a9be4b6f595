"""One-click App registration: the whole manifest flow against the simulator, as an operator's
browser walks it (app/server/setup.py), and what an attacker without the start-up token gets."""

from __future__ import annotations

import html
import json
import logging
import re
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from app.errors import ConfigError
from app.playground.simulator import DEMO_AGENTS_YAML, GitHubSimulator
from app.playground.simulator.apps import DEFAULT_EVENTS, DEFAULT_PERMISSIONS
from app.server.app import create_app
from app.settings import Settings
from tests.conftest import needs_bwrap
from tests.e2e.helpers import running, settle

pytestmark = needs_bwrap
PUBLIC = "http://aqm.test"
FORM = re.compile(
    r'<form method="post" action="([^"]+)"><input type="hidden" name="manifest" value="([^"]+)">'
)


@pytest.fixture
def sim(tmp_path: Path) -> GitHubSimulator:
    return GitHubSimulator(tmp_path / "github")


def fresh_settings(sim: GitHubSimulator, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "aqm-data", github_api_url=sim.base_url, public_url=PUBLIC)


@pytest.fixture
async def server(
    sim: GitHubSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> AsyncIterator[FastAPI]:
    """The server without GitHub settings; what it prints at start stays in `capsys`."""
    async with running(fresh_settings(sim, tmp_path), sim.transport()) as application:
        yield application


def client_of(application: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url=PUBLIC)


def printed_setup_url(out: str) -> str:
    """The one place the token appears: the line `aqm serve` prints at start."""
    (line,) = [line for line in out.splitlines() if "register one at" in line]
    return line.rsplit(" ", 1)[1]


async def github_confirms(sim: GitHubSimulator, page: str, *, name: str | None = None) -> str:
    """What the operator's browser does on GitHub: post the page's form (the App renamed there, if
    `name`), get the redirect back."""
    action, manifest_text = FORM.search(page).groups()  # type: ignore[union-attr]
    manifest = json.loads(html.unescape(manifest_text))
    if name is not None:
        manifest["name"] = name
    async with httpx.AsyncClient(transport=sim.transport()) as github:
        response = await github.post(html.unescape(action), data={"manifest": json.dumps(manifest)})
    assert response.status_code == 302, response.text
    return response.headers["location"]


async def test_the_operator_registers_the_app_in_one_click_and_it_serves_webhooks_without_a_restart(
    sim: GitHubSimulator,
    server: FastAPI,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = printed_setup_url(capsys.readouterr().out)
    assert url.startswith(f"{PUBLIC}/setup?token=")
    async with client_of(server) as client:
        assert (await client.post("/webhook", content=b"{}")).status_code == 503  # no App yet
        page = (await client.get(url)).text
        action, manifest_text = FORM.search(page).groups()  # type: ignore[union-attr]
        manifest = json.loads(html.unescape(manifest_text))
        assert manifest["default_permissions"] == DEFAULT_PERMISSIONS  # what the whole e2e suite runs with
        assert manifest["default_events"] == DEFAULT_EVENTS
        assert manifest["hook_attributes"]["url"] == f"{PUBLIC}/webhook"
        assert manifest["redirect_url"] == f"{PUBLIC}/setup/callback"
        assert html.unescape(action).startswith(f"{sim.base_url}settings/apps/new?state=")

        back = await github_confirms(sim, page)
        assert back.startswith(f"{PUBLIC}/setup/callback?")
        done = await client.get(back)
        assert done.status_code == 200, done.text
        (made,) = sim.world.apps.values()
        assert "/installations/new" in done.text and made.slug in done.text

        stored_file = tmp_path / "aqm-data" / "credentials" / "github-app.json"
        stored = json.loads(stored_file.read_text())
        assert stored["app_id"] == made.id and stored["webhook_secret"] == made.webhook_secret
        assert stat.S_IMODE(stored_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(stored_file.parent.stat().st_mode) == 0o700
        secrets_of_the_app = [made.webhook_secret, *stored["pem"].splitlines()[1:3]]
        shown = done.text + page + caplog.text + capsys.readouterr().out
        assert not [s for s in secrets_of_the_app if s in shown]

        # the App now serves webhooks, without a restart
        sim.create_repo("octo/demo", {"README.md": "# demo\n", ".aqm/agents.yaml": DEMO_AGENTS_YAML})
        sim.add_collaborator("octo/demo", "maintainer", "write")
        sim.install(made, "octo")
        issue = sim.open_issue("octo/demo", "Greet", "", user="maintainer")
        hooks = sim.deliverer(f"{PUBLIC}/webhook", transport=httpx.ASGITransport(app=server), app=made)
        delivery = await hooks.comment_created("octo/demo", issue.number, "maintainer", "/aqm run")
        assert delivery.response_status == 202, delivery.response_body
        await settle(server)
        assert "plan: add a greet(name) function" in sim.thread("octo/demo", issue.number)
        assert (await client.get("/healthz")).json()["github"] is True

        # and the setup page is closed for good: the token and the callback open nothing now
        assert (await client.get(url)).status_code == 404
        assert (await client.get(back)).status_code == 404


async def test_without_the_token_or_with_a_forged_state_nothing_is_registered_or_stored(
    sim: GitHubSimulator, server: FastAPI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = printed_setup_url(capsys.readouterr().out)
    async with client_of(server) as client:
        for probe in ("/setup", "/setup?token=", "/setup?token=guess", f"{url}x"):
            response = await client.get(probe)
            assert response.status_code == 404 and "<form" not in response.text, probe
        back = await github_confirms(sim, (await client.get(url)).text)
        code = parse_qs(urlsplit(back).query)["code"][0]
        for forged in (f"/setup/callback?code={code}", f"/setup/callback?code={code}&state=forged"):
            assert (await client.get(forged)).status_code == 404
        assert not (tmp_path / "aqm-data" / "credentials" / "github-app.json").exists()
        assert code in sim.world.manifest_codes  # the operator's own callback still works: nothing lost
        assert (await client.get(back)).status_code == 200


async def test_a_code_github_refuses_says_so_and_stores_nothing(
    sim: GitHubSimulator, server: FastAPI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = printed_setup_url(capsys.readouterr().out)
    async with client_of(server) as client:
        back = await github_confirms(sim, (await client.get(url)).text)
        sim.convert_manifest(parse_qs(urlsplit(back).query)["code"][0])  # used (or expired) already
        refused = await client.get(back)
        assert refused.status_code == 502 and "open the setup link again" in refused.text
        assert not (tmp_path / "aqm-data" / "credentials" / "github-app.json").exists()
        # the page is still open; GitHub kept the first App, so the operator names the second one
        retry = await github_confirms(sim, (await client.get(url)).text, name="aqm second try")
        assert (await client.get(retry)).status_code == 200


async def test_a_restart_uses_the_stored_app_and_serves_no_setup_page(
    sim: GitHubSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = fresh_settings(sim, tmp_path)
    async with running(settings, sim.transport()) as first, client_of(first) as client:
        back = await github_confirms(sim, (await client.get(printed_setup_url(capsys.readouterr().out))).text)
        assert (await client.get(back)).status_code == 200
    async with running(settings, sim.transport()) as second, client_of(second) as client:
        assert "register one at" not in capsys.readouterr().out
        assert (await client.get("/setup")).status_code == 404
        assert (await client.get("/healthz")).json()["github"] is True


def test_a_damaged_credentials_file_stops_the_start_naming_it(sim: GitHubSimulator, tmp_path: Path) -> None:
    settings = fresh_settings(sim, tmp_path)
    (settings.data_dir / "credentials").mkdir(parents=True)
    (settings.data_dir / "credentials" / "github-app.json").write_text('{"app_id": 1}')
    with pytest.raises(ConfigError, match=r"github-app\.json"):
        create_app(settings)
