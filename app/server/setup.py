"""One-click App registration: GitHub's App manifest flow, served by `aqm serve` until an App exists.

`aqm serve` started without GitHub credentials (and none stored) serves `/setup`, as Probot does:

1. `GET /setup?token=T` (T: made at start, printed once with the address) answers a page whose form
   posts the App manifest (`manifest()`: the permissions and events docs/deploy.md lists, the webhook
   at AQM_PUBLIC_URL/webhook) to GitHub, with a one-time `state`;
2. GitHub registers the App and sends the browser to `GET /setup/callback?code=…&state=…`;
3. the server exchanges the code (`POST /app-manifests/{code}/conversions`, githubkit, no
   authentication), writes the App id, private key and webhook secret to
   `<data>/credentials/github-app.json` (mode 0600, in a folder of mode 0700), and switches to
   them at once (`Activate`): no restart.

Who can use it: only whoever holds T (so a proxy that makes every request come from 127.0.0.1 opens
nothing), and a callback only with a `state` the page made, once. Once an App exists, both routes
answer 404 for good, and a later start reads the stored file instead. The secrets never appear in a
response, a page or a log: the page shows the App's name and its installation link.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import HTMLResponse
from githubkit import GitHub, UnauthAuthStrategy
from githubkit.exception import GitHubException
from pydantic import SecretStr

from app.errors import ConfigError
from app.settings import DEFAULT_API_URL, Settings

log = logging.getLogger("aqm.server")
CREDENTIALS_DIR = "credentials"  # in the data folder, mode 0700 whatever the data folder's own mode
CREDENTIALS_FILE = "github-app.json"
# what the App does on GitHub (docs/deploy.md, "Register the App", gives the reasons)
PERMISSIONS = {
    "checks": "write",
    "contents": "write",
    "issues": "write",
    "metadata": "read",
    "pull_requests": "write",
    "statuses": "write",
}
EVENTS = ["check_run", "issue_comment", "issues", "pull_request", "pull_request_review", "push"]
Activate = Callable[[Settings], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class StoredApp:
    """The App the manifest flow made, as `<data>/credentials/github-app.json` holds it."""

    app_id: int
    slug: str
    html_url: str
    pem: str
    webhook_secret: str

    def settings(self, settings: Settings) -> Settings:
        """`settings` using this App."""
        return settings.model_copy(
            update={
                "github_app_id": str(self.app_id),
                "github_private_key": SecretStr(self.pem),
                "github_private_key_path": None,
                "github_webhook_secret": SecretStr(self.webhook_secret),
            }
        )


def credentials_path(settings: Settings) -> Path:
    return settings.data_dir / CREDENTIALS_DIR / CREDENTIALS_FILE


def with_stored_app(settings: Settings) -> Settings:
    """`settings` as given when they name GitHub credentials, else with the App the setup page
    stored (if any): the environment always wins over the file."""
    path = credentials_path(settings)
    if settings.github_configured or not path.is_file():
        return settings
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        stored = StoredApp(**{name: data[name] for name in StoredApp.__slots__})
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{path}: not the App the setup page stored ({type(exc).__name__}); move it away to register "
            "again, or set AQM_GITHUB_APP_ID",
            variable="AQM_DATA_DIR",
        ) from None
    return stored.settings(settings)


def store_app(settings: Settings, stored: StoredApp) -> Path:
    """Write the App's credentials, readable by this user only, replacing the file whole."""
    path = credentials_path(settings)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)  # an existing folder too: the file alone being 0600 is not enough for a rename
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump({name: getattr(stored, name) for name in StoredApp.__slots__}, file)
    partial.replace(path)
    return path


def web_url(api_url: str) -> str:
    """GitHub's web address for its REST address: github.com, a GitHub Enterprise host (`/api/v3`),
    or the simulator (which serves both on one address)."""
    api = api_url.rstrip("/")
    if api == DEFAULT_API_URL:
        return "https://github.com"
    return api.removesuffix("/api/v3")


def manifest(settings: Settings) -> dict[str, Any]:
    """The App manifest for this server (https://docs.github.com/apps/sharing-github-apps/registering-a-github-app-from-a-manifest)."""
    public = settings.effective_public_url.rstrip("/")
    return {
        "name": f"aqm ({urlsplit(public).hostname})",
        "url": public,
        "description": "aqm pipelines on GitHub events",
        "hook_attributes": {"url": f"{public}/webhook", "active": True},
        "redirect_url": f"{public}/setup/callback",
        "public": False,
        "default_permissions": dict(PERMISSIONS),
        "default_events": list(EVENTS),
    }


@dataclass
class SetupGate:
    """The setup page's keys: the operator's token, the states its pages handed out, and whether
    the App exists (the page is then closed for good)."""

    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    states: set[str] = field(default_factory=set)
    done: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def admits(self, token: str) -> bool:
        return not self.done and secrets.compare_digest(token.encode(), self.token.encode())

    def new_state(self) -> str:
        state = secrets.token_urlsafe(24)
        self.states.add(state)
        return state

    def take_state(self, state: str) -> bool:
        """True once for a state a page handed out (compared in constant time)."""
        match = next((s for s in self.states if secrets.compare_digest(s.encode(), state.encode())), None)
        if match is None or self.done:
            return False
        self.states.discard(match)
        return True


def install(
    app: FastAPI,
    settings: Settings,
    activate: Activate,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> SetupGate:
    """Serve `/setup` on `app` until an App exists; `activate` switches the server to it
    (`transport`: githubkit's, pointed at a simulator in tests)."""
    gate = SetupGate()
    app.include_router(_router(gate, settings, activate, transport))
    return gate


def announce(gate: SetupGate, settings: Settings) -> None:
    """Print where the operator registers the App: the one place the token is shown."""
    url = f"{settings.effective_public_url.rstrip('/')}/setup?token={gate.token}"
    print(f"No GitHub App is configured: register one at {url}", flush=True)


def _router(
    gate: SetupGate, settings: Settings, activate: Activate, transport: httpx.AsyncBaseTransport | None
) -> APIRouter:
    router = APIRouter()

    @router.get("/setup", response_class=HTMLResponse)
    async def setup_page(
        token: Annotated[str, Query()] = "", org: Annotated[str, Query()] = ""
    ) -> HTMLResponse:
        if not gate.admits(token):
            return _closed()
        if org and not _is_login(org):
            return _page(
                "Not an organisation name", "<p>Use the organisation's login, as in its URL.</p>", 400
            )
        target = web_url(settings.github_api_url)
        action = f"{target}/organizations/{org}/settings/apps/new" if org else f"{target}/settings/apps/new"
        form = (
            f'<form method="post" action="{html.escape(action)}?state={html.escape(gate.new_state())}">'
            f'<input type="hidden" name="manifest" value="{html.escape(json.dumps(manifest(settings)))}">'
            '<button type="submit">Register the GitHub App</button></form>'
        )
        body = (
            f"<p>GitHub will ask you to name the App{' for ' + html.escape(org) if org else ''}; it then "
            f"sends webhooks to {html.escape(settings.effective_public_url)}/webhook.</p>{form}"
        )
        return _page("Register aqm as a GitHub App", body)

    @router.get("/setup/callback", response_class=HTMLResponse)
    async def callback(
        code: Annotated[str, Query()] = "", state: Annotated[str, Query()] = ""
    ) -> HTMLResponse:
        async with gate.lock:
            if not code or not gate.take_state(state):
                return _closed()
            try:
                stored = await convert(settings, code, transport)
            except GitHubException as exc:
                log.warning("the App manifest code was refused: %s", type(exc).__name__)
                return _page(
                    "GitHub refused the code", "<p>It is used or expired: open the setup link again.</p>", 502
                )
            path = store_app(settings, stored)
            gate.done = True
        log.info("GitHub App %s registered; its credentials are in %s", stored.slug, path)
        await activate(stored.settings(settings))
        install_url = f"{stored.html_url.rstrip('/')}/installations/new"
        body = (
            f"<p>The App <strong>{html.escape(stored.slug)}</strong> exists and this server now serves its "
            f'webhooks. Install it on your repositories: <a href="{html.escape(install_url)}">'
            f"{html.escape(install_url)}</a>.</p>"
        )
        return _page("GitHub App registered", body)

    return router


async def convert(settings: Settings, code: str, transport: httpx.AsyncBaseTransport | None) -> StoredApp:
    """Exchange the manifest flow's code for the App and its secrets (once: GitHub forgets the code)."""
    github: GitHub[Any] = GitHub(
        UnauthAuthStrategy(), base_url=settings.github_api_url, async_transport=transport, auto_retry=False
    )
    async with github:
        response = await github.rest.apps.async_create_from_manifest(code)
    made = response.parsed_data
    return StoredApp(made.id, str(made.slug or made.name), made.html_url, made.pem, made.webhook_secret or "")


def _is_login(name: str) -> bool:
    return 0 < len(name) <= 39 and all(c.isalnum() or c == "-" for c in name) and name.isascii()


def _closed() -> HTMLResponse:
    return _page("Not found", "<p>Not found.</p>", 404)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    """A page of ours: `body` is built from escaped text only."""
    text = f"<!doctype html><title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>{body}"
    return HTMLResponse(text, status, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
