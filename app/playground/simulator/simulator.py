"""`GitHubSimulator`: the state, the FastAPI app that serves it, githubkit clients pointed at it,
webhook deliverers, the thread view, and a real socket when a test or the demo needs one.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from githubkit import AppInstallationAuthStrategy, GitHub
from githubkit.cache import MemCacheStrategy

from app.playground.simulator.apps import AppKey
from app.playground.simulator.deliverer import Deliverer
from app.playground.simulator.examples import Urls
from app.playground.simulator.git import FileContent
from app.playground.simulator.manifests import SimManifests
from app.playground.simulator.routes import create_http_app
from app.playground.simulator.state import GitHubApp, Installation, Permission, Repo
from app.playground.simulator.thread import render_thread

DEMO_AGENTS_YAML = """\
apiVersion: aqm/v0.1
agents:
  - id: planner
    runtime: command
    command: ["echo", "plan: add a greet(name) function"]
    handoffs:
      - to: developer
  - id: developer
    runtime: command
    command: ["echo", "implemented greet(name)"]
    gate:
      type: human
"""


@dataclass(frozen=True, slots=True)
class Seeded:
    """What `seed_standard()` made: the App, its key, the installation and the repository."""

    app: GitHubApp
    key: AppKey
    installation: Installation
    repo: Repo


class GitHubSimulator(SimManifests):
    """A stateful stand-in for api.github.com whose answers githubkit's models parse.

    `sim.app` is the ASGI app (mount it with `httpx.ASGITransport(app=sim.app)`), `sim.base_url`
    the URL clients use (`http://github.test/` in process; `serve()` switches it to a real port).
    """

    def __init__(self, data_dir: Path | None = None, *, base_url: str = "http://github.test/") -> None:
        self._owns_data = data_dir is None
        root = Path(tempfile.mkdtemp(prefix="github-sim-")) if data_dir is None else data_dir
        root.mkdir(parents=True, exist_ok=True)
        super().__init__(root, Urls(base_url, base_url))
        self.app = create_http_app(self)
        self.seeded: Seeded | None = None

    @property
    def base_url(self) -> str:
        return self.urls.api

    @base_url.setter
    def base_url(self, value: str) -> None:
        value = value if value.endswith("/") else value + "/"
        self.urls = Urls(value, value)

    def close(self) -> None:
        if self._owns_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    # ---- set-up -----------------------------------------------------------------------------

    def seed_standard(
        self,
        repo: str = "octo/demo",
        files: Mapping[str, FileContent] | None = None,
        *,
        app_slug: str = "aqm",
        collaborators: Mapping[str, Permission] | None = None,
    ) -> Seeded:
        """One App (`aqm`), installed on the repository's owner; the repository with `.aqm/agents.yaml`;
        collaborators `maintainer` (write) and `outsider` (read)."""
        owner = repo.split("/", 1)[0]
        app, key = self.register_app(app_slug, owner=owner)
        installation = self.install(app, owner)
        contents = (
            dict(files)
            if files is not None
            else {"README.md": "# demo\n", ".aqm/agents.yaml": DEMO_AGENTS_YAML}
        )
        created = self.create_repo(repo, contents)
        for login, permission in (collaborators or {"maintainer": "write", "outsider": "read"}).items():
            self.add_collaborator(repo, login, permission)
        self.seeded = Seeded(app, key, installation, created)
        return self.seeded

    # ---- clients ----------------------------------------------------------------------------

    def transport(self) -> httpx.ASGITransport:
        return httpx.ASGITransport(app=self.app)

    def github(self, auth: Any = None, **options: Any) -> GitHub[Any]:
        """A githubkit client talking to this simulator in process (async calls only).

        `auth` defaults to the seeded App's installation; pass a token string for a PAT."""
        if auth is None:
            assert self.seeded is not None, "seed_standard() first, or pass auth"
            seeded = self.seeded
            auth = AppInstallationAuthStrategy(seeded.app.id, seeded.key.private_pem, seeded.installation.id)
        settings: dict[str, Any] = {
            "http_cache": False,
            "auto_retry": False,
            "cache_strategy": MemCacheStrategy(),
        }
        settings |= options
        return GitHub(auth, base_url=self.base_url, async_transport=self.transport(), **settings)

    def deliverer(
        self,
        url: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        client: httpx.AsyncClient | None = None,
        app: GitHubApp | None = None,
        api_events: bool = False,
        secret: str | None = None,
    ) -> Deliverer:
        """Deliveries for `app` (default: the seeded one) to `url` (None: build and record only),
        through `transport` (e.g. `httpx.ASGITransport(app=aqm_app)`) or an open `client`;
        `api_events` also sends the events caused by REST calls, such as the App's own comments."""
        chosen = app or (self.seeded.app if self.seeded else None)
        deliverer = Deliverer(self, chosen, url=url, transport=transport, client=client, secret=secret)
        if api_events:
            self.listeners.append(deliverer.on_api_event)
        return deliverer

    def thread(self, repo: str, number: int) -> str:
        return render_thread(self, repo, number)

    # ---- a real socket ----------------------------------------------------------------------

    @contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve on a real port (uvicorn in a thread); `base_url` follows it. Yields the URL."""
        config = uvicorn.Config(self.app, host=host, port=port, log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the GitHub simulator did not start")
            time.sleep(0.01)
        bound = server.servers[0].sockets[0].getsockname()[1]
        previous, self.base_url = self.base_url, f"http://{host}:{bound}/"
        try:
            yield self.base_url
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            self.base_url = previous
