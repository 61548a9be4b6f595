"""A project for the `aqm` task-command tests: `aqm init --yes` in a temporary folder, the fake
CLIs first on PATH (`fake_clis`), and helpers that run the real `aqm` executable in it.

Every helper starts a real process with the fixture's environment (PATH, HOME, FAKE_CLI_* and
the dummy credentials, set with monkeypatch so they are in os.environ at call time) and no
terminal on stdin, so nothing is ever asked interactively.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FakeClis

# planner (claude) -> coder (gemini) -> reviewer (codex): one stage on each LLM CLI
LINEAR = """
    agents:
      - id: planner
        runtime: claude
        system_prompt: "Plan: {{ input }}"
        handoffs: [{to: coder}]
      - id: coder
        runtime: gemini
        system_prompt: "Code: {{ input }}"
        handoffs: [{to: reviewer}]
      - id: reviewer
        runtime: codex
        system_prompt: "Review: {{ input }}"
"""

AQM = Path(sys.executable).parent / "aqm"
COMMAND_TIMEOUT_S = 60.0
TASK_ID = re.compile(r"\bT-[0-9A-F]{6,}\b")


@dataclass(frozen=True)
class Ran:
    """What one `aqm` process did."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def task_id(self) -> str:
        """The id of the task this command started (`Task T-XXXXXX (pipeline …)`)."""
        found = re.search(r"^Task (T-[0-9A-F]{6,}) ", self.stdout, re.MULTILINE)
        assert found, f"no task started by aqm {' '.join(self.args)}:\n{self.output}"
        return found.group(1)

    def ok(self) -> Ran:
        assert self.returncode == 0, f"aqm {' '.join(self.args)} exited {self.returncode}:\n{self.output}"
        return self


@dataclass
class Project:
    root: Path
    fakes: FakeClis

    # ---- files ----------------------------------------------------------------------------------

    def pipeline(self, yaml_text: str, name: str = "default") -> None:
        (self.root / ".aqm" / "pipelines" / f"{name}.yaml").write_text(textwrap.dedent(yaml_text))

    def config(self, yaml_text: str) -> None:
        (self.root / ".aqm" / "config.yaml").write_text(textwrap.dedent(yaml_text))

    # ---- processes ------------------------------------------------------------------------------

    def aqm(self, *args: str, timeout_s: float = COMMAND_TIMEOUT_S) -> Ran:
        done = subprocess.run(
            [str(AQM), *args],
            cwd=self.root,
            env=os.environ.copy(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        return Ran(tuple(args), done.returncode, done.stdout, done.stderr)

    def start(self, *args: str) -> subprocess.Popen[str]:
        """`aqm ARGS` in the background (stdout and stderr piped)."""
        return subprocess.Popen(
            [str(AQM), *args],
            cwd=self.root,
            env=os.environ.copy(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, description: str, *options: str) -> Ran:
        return self.aqm("run", description, *options)

    def status(self, task_id: str) -> str:
        """`aqm status T-…`'s whole text."""
        return self.aqm("status", task_id).ok().stdout

    def task_status(self, task_id: str) -> str:
        """The task's status name, from the first line of `aqm status T-…` (`Task T-…  <status>`)."""
        first = self.status(task_id).splitlines()[0].split()
        assert first[:2] == ["Task", task_id], first
        return first[2]

    def listed_status(self, task_id: str) -> str | None:
        """The task's status in `aqm list` (None when it is not listed)."""
        for line in self.aqm("list").ok().stdout.splitlines():
            cells = line.split()
            if cells and cells[0] == task_id:
                return cells[1]
        return None

    # ---- the fakes' call log --------------------------------------------------------------------

    def calls(self, cli: str | None = None) -> list[dict[str, Any]]:
        return self.fakes.calls(cli)

    def clis(self) -> list[str]:
        """The CLIs called, in the order they logged their calls."""
        return [call["cli"] for call in self.calls()]

    def wait_for_call(self, cli: str, *, count: int = 1, within_s: float = 15.0) -> dict[str, Any]:
        """The `count`-th logged call of `cli`, once it is logged (polls the log)."""
        found = wait_until(lambda: len(self.calls(cli)) >= count, within_s=within_s, what=f"{cli} call")
        assert found
        return self.calls(cli)[count - 1]


def stage_rows(status: str) -> list[dict[str, str]]:
    """The stage table of `aqm status T-…` as rows keyed by its header (#, AGENT, STATUS, GATE, …).

    Columns are padded to the header's positions, so a cell is the text under its header word."""
    lines = status.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#  "))
    header = lines[start]
    names = header.split()
    offsets = [header.index(f" {name}") + 1 if name != "#" else 0 for name in names]
    rows = []
    for line in lines[start + 1 :]:
        if not line[:1].isdigit():
            break
        bounds = [*offsets[1:], None]
        rows.append({name: line[a:b].strip() for name, a, b in zip(names, offsets, bounds, strict=True)})
    return rows


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def wait_until(condition: Callable[[], bool], *, within_s: float, what: str, every_s: float = 0.05) -> bool:
    """Poll `condition` until it holds; fail the test naming `what` past the deadline."""
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {within_s} s waiting for {what}"
        time.sleep(every_s)
    return True


def script_rule(cli: str | None = None, *, match: str | None = None, **answer: Any) -> dict[str, Any]:
    """One rule of the fakes' script (tests/fakes/fakecli.py): `cli` and `match` select, the rest answers."""
    return {"cli": cli, "match": match, **answer}


@pytest.fixture(scope="session")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder made by `aqm init --yes` whose task store `aqm list` created, once per session.

    Each test gets a copy: that saves each test a process and the migration of a fresh database
    (tests/integration/store covers those)."""
    root = tmp_path_factory.mktemp("initialised")
    for command in (["init", "--yes"], ["list"]):
        done = subprocess.run(
            [str(AQM), *command], cwd=root, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
    assert (root / ".aqm/pipelines/default.yaml").is_file() and (root / ".aqm/aqm.db").is_file()
    return root


@pytest.fixture
def project(
    tmp_path: Path, initialised: Path, fake_clis: FakeClis, monkeypatch: pytest.MonkeyPatch
) -> Project:
    for name in [n for n in os.environ if n.startswith("AQM_")]:
        monkeypatch.delenv(name)  # the developer's settings (a PostgreSQL URL…) stay out of the test
    root = tmp_path / "project"
    shutil.copytree(initialised, root)
    return Project(root, fake_clis)
