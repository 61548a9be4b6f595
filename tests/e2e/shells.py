"""The two shells of the GitHub core, driven alike by the e2e tests: the App (signed webhooks into
the real app, its in-process queue settled) and the Action (`python -m action` as a subprocess per
workflow run, the simulator on a real port). A test builds a delivery with `shell.hooks` and makes
it take effect with `await shell.handle(delivery)`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from fastapi import FastAPI

from app.playground.simulator import Deliverer, GitHubSimulator, Seeded
from app.playground.simulator.auth import mint_installation_token
from app.playground.simulator.deliverer import Delivery
from tests.e2e.helpers import REPO, app_on_simulator, deliverer, settle

ROOT = Path(__file__).resolve().parents[2]
DAY_S = 24 * 3600
SHELLS = ("app", "action")


@dataclass
class Runner:
    """Runs `python -m action` the way a workflow's step does, one fresh runner per call."""

    sim: GitHubSimulator
    url: str
    token: str
    base: Path
    runs: int = 0

    def run(
        self, delivery: Delivery, *, token: str | None = None, **inputs: str
    ) -> subprocess.CompletedProcess[str]:
        self.runs += 1
        here = self.base / f"run-{self.runs}"
        for folder in ("workspace", "home", "temp"):
            (here / folder).mkdir(parents=True)
        payload = json.loads(delivery.body)
        payload.pop("installation", None)  # a workflow's event names no installation
        event = here / "event.json"
        event.write_text(json.dumps(payload))
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(here / "home"),
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_EVENT_NAME": delivery.event,
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_API_URL": self.url.rstrip("/"),
            "GITHUB_SERVER_URL": "https://github.test",
            "GITHUB_WORKSPACE": str(here / "workspace"),
            "GITHUB_RUN_ID": str(1000 + self.runs),
            "GITHUB_RUN_ATTEMPT": "1",
            "RUNNER_TEMP": str(here / "temp"),
            "GITHUB_OUTPUT": str(here / "output"),
            "AQM_GITHUB_TOKEN": self.token if token is None else token,
            **inputs,
        }
        return subprocess.run(
            [sys.executable, "-m", "action"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def outputs(self) -> dict[str, str]:
        text = (self.base / f"run-{self.runs}" / "output").read_text()
        return dict(line.split("=", 1) for line in text.splitlines())


def action_token(sim: GitHubSimulator, seeded: Seeded) -> str:
    """An installation token of the App, as Actions' GITHUB_TOKEN is one of the github-actions App."""
    return mint_installation_token(sim.world, seeded.installation, lifetime_s=DAY_S).value


class Shell(Protocol):
    name: str
    hooks: Deliverer

    async def handle(self, delivery: Delivery) -> None: ...


@dataclass
class AppShell:
    hooks: Deliverer
    app: FastAPI
    name: str = "app"

    async def handle(self, delivery: Delivery) -> None:
        assert delivery.response_status == 202
        await settle(self.app)


@dataclass
class ActionShell:
    hooks: Deliverer
    runner: Runner
    name: str = "action"

    async def handle(self, delivery: Delivery) -> None:
        result = await asyncio.to_thread(self.runner.run, delivery)
        assert result.returncode in (0, 1), result.stderr  # 1: the task failed, said on the thread


@asynccontextmanager
async def shell_on(name: str, sim: GitHubSimulator, seeded: Seeded, tmp_path: Path) -> AsyncIterator[Shell]:
    """The App in process, or the Action against the simulator on a real port."""
    if name == "app":
        async with app_on_simulator(sim, seeded, tmp_path) as application:
            yield AppShell(deliverer(sim, application), application)
        return
    with sim.serve() as url:
        yield ActionShell(sim.deliverer(), Runner(sim, url, action_token(sim, seeded), tmp_path / "runner"))
