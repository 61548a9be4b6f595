"""`runtime: local` in the stage sandbox: its warm child starts through the launcher like a stage's
process (a GGUF file from a workspace is untrusted input to native code)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.runtimes.base import Finished, RunRequest
from app.runtimes.local import LocalRuntime, WorkerPool
from app.runtimes.sandbox import Sandbox
from tests.conftest import needs_bwrap
from tests.integration.local.conftest import TEST_MODE
from tests.integration.runtimes.procs import pids_running

pytestmark = needs_bwrap


@pytest.fixture
def sandboxed_pool(tmp_path: Path) -> Iterator[WorkerPool]:
    pool = WorkerPool(launcher=Sandbox.build(hidden=[tmp_path / "data"]))
    yield pool
    pool.close()


async def test_the_local_models_child_runs_in_its_own_sandbox(
    sandboxed_pool: WorkerPool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TEST_MODE, "stub")
    workspace = tmp_path / "data" / "workspaces" / "T-1"
    workspace.mkdir(parents=True)
    request = RunRequest(prompt="Plan.\nAnswer now.", workdir=workspace, timeout_s=30)
    events = [event async for event in LocalRuntime(sandboxed_pool).run(request)]
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.output == "stub answer to:\nAnswer now."
    [child] = pids_running(sys.executable, "-P", "/run/aqm/local_worker.py")  # warm, in the pool
    nspids = next(
        line for line in Path(f"/proc/{child}/status").read_text().splitlines() if line.startswith("NSpid")
    )
    assert len(nspids.split()) == 3, nspids  # "NSpid: <pid here> <pid in its own namespace>"
