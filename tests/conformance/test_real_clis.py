"""Each real CLI, through our adapter and launcher, against the stub provider: the answers we rely on
and the failures a stage must report at once and plainly (README.md here has the matrix).

No timed assertions: every case runs under a generous asyncio timeout, and the seconds it took are
printed in the matrix at the end of the session. What bounds the retries is asserted on the
requests the stub received.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from app.engine.gates import VERDICT_SCHEMA, parse_verdict
from app.errors import NotAuthenticated, RateLimited
from app.runtimes.base import Finished, RunRequest, RuntimeEvent
from app.runtimes.process import Launcher
from app.runtimes.registry import get_runtime
from app.spec.models import McpServer
from tests.conformance import stub_provider
from tests.conformance.conftest import CASE_TIMEOUT_S, MCP_SECRET, MCP_SERVER, Provider, Timer

KEY_VARIABLE = {"claude": "ANTHROPIC_API_KEY", "gemini": "GEMINI_API_KEY", "codex": "CODEX_API_KEY"}
# requests one stage may send for a bad key or a 429 (the stub counts them): claude and gemini make
# none again (gemini's router call, answered 429, is its only one); codex retries a 401 five times
# at once (its default stream retries: its provider is the pipeline's, not ours to configure)
MAX_REQUESTS = {
    ("claude", "401"): 1,
    ("gemini", "401"): 2,  # the router's call (an invalid key does not stop the routing), the main one
    ("codex", "401"): 6,
    ("claude", "429"): 1,
    ("gemini", "429"): 1,
    ("codex", "429"): 1,
}


def stage(provider: Provider, workdir: Path, *, key: str | None = "stub-key", **fields: object) -> RunRequest:
    return RunRequest(
        prompt="Say hello.",
        workdir=workdir,
        timeout_s=CASE_TIMEOUT_S,
        env=provider.env(key=key),
        flags=provider.flags(),
        **fields,  # type: ignore[arg-type]
    )


async def run(cli: str, launcher: Launcher, request: RunRequest) -> Finished:
    """The run's Finished event, within the case's timeout."""
    events: list[RuntimeEvent] = []
    async with asyncio.timeout(CASE_TIMEOUT_S):
        async for event in get_runtime(cli, launcher=launcher).run(request):
            events.append(event)
    finished = events[-1]
    assert isinstance(finished, Finished)
    return finished


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path


async def test_a_plain_answer(
    cli: str, launcher: Launcher, provider: Provider, workdir: Path, timer: Timer
) -> None:
    with timer:
        finished = await run(cli, launcher, stage(provider, workdir))
        timer.result = "ok"
    assert finished.output == stub_provider.ANSWER
    assert finished.usage.input_tokens >= stub_provider.IN_TOKENS  # gemini adds its router's call
    assert finished.usage.output_tokens >= stub_provider.OUT_TOKENS


async def test_a_200_kb_answer(
    cli: str, launcher: Launcher, provider: Provider, workdir: Path, timer: Timer
) -> None:
    provider.stub.reset("big")
    with timer:
        finished = await run(cli, launcher, stage(provider, workdir))
        timer.result = f"{len(finished.output) // 1024} KiB"
    assert finished.output == stub_provider.big_answer()


async def test_an_llm_gate_verdict(
    cli: str, launcher: Launcher, provider: Provider, workdir: Path, timer: Timer
) -> None:
    """Through each CLI's structured-output path: claude's StructuredOutput tool, codex's
    --output-schema, gemini's JSON-only answer."""
    provider.stub.reset("verdict")
    with timer:
        finished = await run(cli, launcher, stage(provider, workdir, schema=VERDICT_SCHEMA))
        timer.result = "verdict"
    assert parse_verdict(finished.output, finished.structured) == ("rejected", "the stub rejects it")


async def test_no_key(cli: str, launcher: Launcher, provider: Provider, workdir: Path, timer: Timer) -> None:
    with timer:
        with pytest.raises(NotAuthenticated) as failed:
            await run(cli, launcher, stage(provider, workdir, key=None))
        timer.result = "auth"
    assert f"{cli}: authentication failed" in str(failed.value)
    assert KEY_VARIABLE[cli] in str(failed.value)
    assert provider.stub.requests == []


async def test_a_bad_key(
    cli: str, launcher: Launcher, provider: Provider, workdir: Path, timer: Timer
) -> None:
    provider.stub.reset("401")
    with timer:
        with pytest.raises(NotAuthenticated) as failed:
            await run(cli, launcher, stage(provider, workdir, key="a-revoked-key"))
        timer.result = "auth"
    assert f"{cli}: authentication failed" in str(failed.value)
    assert KEY_VARIABLE[cli] in str(failed.value)
    assert 1 <= len(provider.stub.requests) <= MAX_REQUESTS[cli, "401"], provider.stub.requests


async def test_a_429(cli: str, launcher: Launcher, provider: Provider, workdir: Path, timer: Timer) -> None:
    provider.stub.reset("429")
    with timer:
        with pytest.raises(RateLimited) as failed:
            await run(cli, launcher, stage(provider, workdir))
        timer.result = "rate_limit"
    assert f"{cli}: rate limited (429)" in str(failed.value)
    assert 1 <= len(provider.stub.requests) <= MAX_REQUESTS[cli, "429"], provider.stub.requests


async def test_an_mcp_tool_call(
    cli: str, launcher: Launcher, provider: Provider, workdir: Path, timer: Timer
) -> None:
    """The pipeline declares a server and nothing else (no cli_flags): its tool is offered and
    called, and its answer (a word only the server knows, from its env) comes back."""
    provider.stub.reset("mcp")
    shutil.copy(MCP_SERVER, workdir / MCP_SERVER.name)  # where a sandboxed stage sees it too
    env = {"STUB_SECRET": MCP_SECRET}
    server = McpServer(server="stub", command=sys.executable, args=[MCP_SERVER.name], env=env)
    request = stage(provider, workdir, mcp=(server,))
    if cli == "claude":  # an agent allowing other tools too: claude adds the lists up
        request = replace(request, flags=("--allowedTools", "Bash(git *)"))
    with timer:
        finished = await run(cli, launcher, request)
        timer.result = "tool called"
    assert stub_provider.MCP_ANSWER_PREFIX in finished.output
    assert MCP_SECRET in finished.output, finished.output


async def test_cancel_mid_stream(
    cli: str, launcher: Launcher, provider: Provider, workdir: Path, timer: Timer
) -> None:
    """Cancelling the stage while the answer streams kills the CLI: its connection closes."""
    provider.stub.reset("hang")
    with timer:
        task = asyncio.create_task(run(cli, launcher, stage(provider, workdir)))
        assert await asyncio.to_thread(provider.stub.streaming.wait, CASE_TIMEOUT_S)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.to_thread(provider.stub.disconnected.wait, CASE_TIMEOUT_S)
        timer.result = "cancelled"
