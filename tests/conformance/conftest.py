"""The real claude, gemini and codex (pinned, installed by scripts/install_clis.sh) against our stub
provider, through our adapters and their launchers. Missing CLIs skip on a laptop and fail in CI.

At the end of the session the matrix (CLI x case x launcher -> result and seconds) is printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.runtimes.process import UNSANDBOXED, Launcher
from app.runtimes.sandbox import Sandbox
from tests.conformance import stub_provider
from tests.conftest import FAKE_CREDENTIALS, OTHER_CREDENTIALS, bwrap_present

ROOT = Path(__file__).resolve().parents[2]
INSTALLER = ROOT / "scripts" / "install_clis.sh"
CLIS = ("claude", "gemini", "codex")
LAUNCHERS = ("unsandboxed", "sandboxed")
CASE_TIMEOUT_S = 60.0  # per case: generous, a CLI retrying for minutes is what it catches
MCP_SERVER = Path(__file__).parent / "mcp_server.py"
MCP_SECRET = "the-word-only-the-mcp-server-knows"
GEMINI_USER_SETTINGS = {  # what a user of a Gemini gateway writes (llm-clis.md 2.4 and section 8)
    "security": {"auth": {"selectedType": "gemini-api-key"}},
    "privacy": {"usageStatisticsEnabled": False},
}


def clis_prefix() -> Path:
    """The cached npm prefix of the pinned versions (the installer names it)."""
    done = subprocess.run([str(INSTALLER), "--prefix"], capture_output=True, text=True, check=True)
    return Path(done.stdout.strip())


@pytest.fixture(scope="session")
def clis_bin() -> Path:
    """The folder of the real CLIs, or a failure in CI (skip elsewhere) when they are not installed."""
    prefix = clis_prefix()
    if not (prefix / ".installed").is_file():
        message = f"the real CLIs are not installed in {prefix}: run scripts/install_clis.sh (make does)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return prefix / "node_modules" / ".bin"


@pytest.fixture(scope="session")
def stub() -> Iterator[stub_provider.StubProvider]:
    running = stub_provider.start()
    yield running.stub
    running.stop()


@dataclass
class Provider:
    """How one test reaches the stub: the stage's env (the pipeline's `env:`) and cli_flags."""

    stub: stub_provider.StubProvider
    cli: str
    user_dir: Path  # where the user's own config lives (gemini's settings)

    def env(self, *, key: str | None = "stub-key") -> dict[str, str]:
        url = self.stub.url
        if self.cli == "claude":
            return {"ANTHROPIC_BASE_URL": url, **({"ANTHROPIC_API_KEY": key} if key else {})}
        if self.cli == "gemini":
            settings = self.user_dir / ".gemini" / "settings.json"
            settings.parent.mkdir(parents=True, exist_ok=True)
            settings.write_text(json.dumps(GEMINI_USER_SETTINGS))
            env = {"GOOGLE_GEMINI_BASE_URL": url, "GEMINI_CLI_HOME": str(self.user_dir)}
            return {**env, **({"GEMINI_API_KEY": key} if key else {})}
        return {"CODEX_API_KEY": key} if key else {}

    def flags(self) -> tuple[str, ...]:
        """codex ignores OPENAI_BASE_URL: a provider of its own, as a pipeline's cli_flags say it."""
        if self.cli != "codex":
            return ()
        provider = (
            f'{{name = "stub", base_url = "{self.stub.url}/v1", env_key = "CODEX_API_KEY", '
            'wire_api = "responses", supports_websockets = false}'
        )
        return ("-c", 'model_provider="stub"', "-c", f"model_providers.stub={provider}")


@pytest.fixture(params=CLIS)
def cli(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=LAUNCHERS)
def launcher(request: pytest.FixtureRequest, tmp_path: Path) -> Launcher:
    if request.param == "unsandboxed":
        return UNSANDBOXED
    if not bwrap_present():
        pytest.skip("no bwrap (bubblewrap): `make` installs it")
    return Sandbox.build(hidden=[tmp_path / "data"])


@pytest.fixture
def provider(
    cli: str,
    clis_bin: Path,
    stub: stub_provider.StubProvider,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Provider:
    """The real CLIs first on PATH, an empty HOME, no credentials of this machine, a fresh stub."""
    monkeypatch.setenv("PATH", f"{clis_bin}{os.pathsep}{os.environ.get('PATH', '')}")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # no login of the developer's own CLIs takes part
    for name in (*OTHER_CREDENTIALS, *FAKE_CREDENTIALS):
        monkeypatch.delenv(name, raising=False)
    stub.reset("ok")
    return Provider(stub, cli, tmp_path / "user-config")


# ---- the matrix: each case records its result and seconds; printed at the end ---------------------


@dataclass
class Cell:
    result: str
    seconds: float


MATRIX: dict[tuple[str, str, str], Cell] = {}


@dataclass
class Timer:
    """Times one case; `result` is what the matrix shows for it (the test sets it)."""

    key: tuple[str, str, str]
    started: float = 0.0
    result: str = "FAILED"

    def __enter__(self) -> Timer:
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        seconds = time.monotonic() - self.started
        MATRIX[self.key] = Cell(self.result if exc[0] is None else "FAILED", seconds)
        print(f"{' / '.join(self.key)}: {self.result} in {seconds:.1f} s")


@pytest.fixture
def timer(request: pytest.FixtureRequest, cli: str, launcher: Launcher) -> Timer:
    case = request.node.originalname.removeprefix("test_")
    mode = "unsandboxed" if launcher is UNSANDBOXED else "sandboxed"
    return Timer((cli, case, mode))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not MATRIX:
        return
    cases = list(dict.fromkeys(case for _, case, _ in MATRIX))
    write = terminalreporter.write_line
    terminalreporter.section("conformance matrix: the real CLIs through our adapters (seconds)")
    header = f"{'case':<34}" + "".join(f"{cli + ' ' + mode[:5]:>22}" for cli in CLIS for mode in LAUNCHERS)
    write(header)
    for case in cases:
        cells = [MATRIX.get((cli, case, mode)) for cli in CLIS for mode in LAUNCHERS]
        row = "".join(f"{(f'{c.result} {c.seconds:.1f}' if c else '-'):>22}" for c in cells)
        write(f"{case:<34}{row}")
    write(f"total: {sum(cell.seconds for cell in MATRIX.values()):.1f} s over {len(MATRIX)} runs")
