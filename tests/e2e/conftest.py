"""Fixtures of the e2e tests that talk to the simulator in process. A test module defines `seeded`
(what its repository holds); `app` runs the app on it and `hooks` delivers webhooks into it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from app.playground.simulator import Deliverer, GitHubSimulator, Seeded
from tests.e2e.helpers import app_on_simulator, deliverer


@pytest.fixture
def sim(tmp_path: Path) -> GitHubSimulator:
    return GitHubSimulator(tmp_path / "github")


@pytest.fixture
async def app(sim: GitHubSimulator, seeded: Seeded, tmp_path: Path) -> AsyncIterator[FastAPI]:
    async with app_on_simulator(sim, seeded, tmp_path) as application:
        yield application


@pytest.fixture
def hooks(sim: GitHubSimulator, app: FastAPI) -> Deliverer:
    return deliverer(sim, app)
