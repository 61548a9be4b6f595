"""Fixtures shared by every test folder. Each group of fixtures sits under its own header."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from githubkit import GitHub

from app.playground.simulator import GitHubSimulator

# ---- services on 127.0.0.1 (Redis, PostgreSQL): a missing one skips on a laptop, fails in CI -----


def service_up(port: int, host: str = "127.0.0.1") -> bool:
    """True when something answers on the port, and always in CI: there a missing service fails."""
    if os.environ.get("CI") == "true":
        return True
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def bwrap_present() -> bool:
    """True when bubblewrap is installed (`make` installs it), and always in CI: there a missing
    bwrap fails the sandbox tests instead of skipping them."""
    return os.environ.get("CI") == "true" or shutil.which("bwrap") is not None


needs_bwrap = pytest.mark.skipif(not bwrap_present(), reason="no bwrap (bubblewrap): `make` installs it")


# ---- fake LLM CLIs: tests/fakes/{claude,gemini,codex} first on PATH ------------------------------

FAKES_DIR = Path(__file__).parent / "fakes"
FAKE_CREDENTIALS = {
    "ANTHROPIC_API_KEY": "sk-ant-fake",
    "GEMINI_API_KEY": "fake-gemini-key",
    "CODEX_API_KEY": "sk-fake",
}
OTHER_CREDENTIALS = (
    *("CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX"),
    *(
        "CLAUDE_CONFIG_DIR",
        "GOOGLE_API_KEY",
        "GOOGLE_GENAI_USE_VERTEXAI",
        "GOOGLE_GENAI_USE_GCA",
        "GEMINI_CLI_HOME",
    ),
    *(
        "GOOGLE_GEMINI_BASE_URL",
        "GEMINI_CLI_TRUST_WORKSPACE",
        "OPENAI_API_KEY",
        "CODEX_HOME",
        "FAKE_CLI_MODE",
    ),
)


@dataclass
class FakeClis:
    """Scripts the fake CLIs and reads their call log (format: tests/fakes/fakecli.py)."""

    bin_dir: Path  # the fakes' folder, first on PATH
    script_path: Path
    log_path: Path
    monkeypatch: pytest.MonkeyPatch

    def script(self, *rules: dict[str, Any], default: dict[str, Any] | None = None) -> None:
        self.script_path.write_text(json.dumps({"rules": list(rules), "default": default or {}}))

    def mode(self, mode: str) -> None:
        """Every call answers in this mode (FAKE_CLI_MODE)."""
        self.monkeypatch.setenv("FAKE_CLI_MODE", mode)

    def log_out(self, *names: str) -> None:
        """Remove credentials (default: the three fakes' own): the CLIs are then not authenticated."""
        for name in names or tuple(FAKE_CREDENTIALS):
            self.monkeypatch.delenv(name, raising=False)

    def calls(self, cli: str | None = None) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        entries = [json.loads(line) for line in self.log_path.read_text().splitlines()]
        return [entry for entry in entries if cli is None or entry["cli"] == cli]


@pytest.fixture
def fake_clis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeClis:
    """The fake claude, gemini and codex first on PATH, with dummy credentials and an empty HOME."""
    python_dir = tmp_path / "fake-cli-python"
    python_dir.mkdir()
    (python_dir / "python3").symlink_to(sys.executable)  # a fast interpreter (no pyenv shim per call)
    monkeypatch.setenv("PATH", os.pathsep.join([str(FAKES_DIR), str(python_dir), os.environ.get("PATH", "")]))
    home = tmp_path / "fake-cli-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # no real login of the developer's CLIs leaks into a test
    for name in OTHER_CREDENTIALS:
        monkeypatch.delenv(name, raising=False)
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    hooks = tmp_path / "fake-cli"  # a folder of its own: a sandboxed stage gets it (and not tmp_path)
    hooks.mkdir()
    fakes = FakeClis(FAKES_DIR, hooks / "script.json", hooks / "log.jsonl", monkeypatch)
    monkeypatch.setenv("FAKE_CLI_SCRIPT", str(fakes.script_path))
    monkeypatch.setenv("FAKE_CLI_LOG", str(fakes.log_path))
    fakes.script()
    return fakes


# ---- GitHub simulator: app/playground/simulator, in process (ASGI), real git in tmp_path ---------
# `github_sim`: a fresh simulator with App `aqm` installed on `octo`, repo `octo/demo` (README.md and
# `.aqm/agents.yaml` on `main`), collaborators `maintainer` (write) and `outsider` (read).
# `github_api`: a githubkit client authenticated as that installation, talking to it in process.


@pytest.fixture
def github_sim(tmp_path: Path) -> Iterator[GitHubSimulator]:
    sim = GitHubSimulator(tmp_path / "github-sim")
    sim.seed_standard()
    yield sim
    sim.close()


@pytest.fixture
def github_api(github_sim: GitHubSimulator) -> GitHub[Any]:
    return github_sim.github()
