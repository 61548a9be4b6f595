"""claude, gemini and codex adapters against the fake CLIs: real subprocesses, real pipes, real signals."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest

from app.errors import BadAnswer, CliNotFound, ExitedNonZero, NotAuthenticated, RateLimited, TimedOut
from app.runtimes.base import Finished, RunRequest, TextDelta, ToolUse, Usage
from app.runtimes.registry import get_runtime
from app.spec.models import McpServer
from tests.conftest import FakeClis
from tests.integration.runtimes.procs import collect, finish, survivors, wait_for_call

LLM_CLIS = ["claude", "gemini", "codex"]
PACKAGES = {"claude": "@anthropic-ai/claude-code", "gemini": "@google/gemini-cli", "codex": "@openai/codex"}
ONE_MB = 1_000_000
VERDICT = {
    "type": "object",
    "required": ["decision", "reason"],
    "properties": {"decision": {"enum": ["approved", "rejected"]}, "reason": {"type": "string"}},
}


def big_text(size: int) -> str:
    """`size` characters, multi-byte ones and newlines included (UTF-8 must survive the pipes)."""
    line = "Ligne d'entrée n°{:07d}: ünïcödé ✓ — the quick brown fox.\n"
    text = "".join(line.format(n) for n in range(size // len(line.format(0)) + 1))
    return text[:size]


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """The workspace a stage runs in (empty: nothing else of the test's lives there)."""
    workdir = tmp_path / "workspace"
    workdir.mkdir()
    return workdir


def request(workdir: Path, prompt: str = "Say hello.\nMore context.", **fields: Any) -> RunRequest:
    return RunRequest(prompt=prompt, workdir=workdir, timeout_s=fields.pop("timeout_s", 10), **fields)


@pytest.mark.parametrize("cli", LLM_CLIS)
async def test_happy_path_answers_with_text_and_usage(fake_clis: FakeClis, ws: Path, cli: str) -> None:
    fake_clis.script(
        {
            "match": "hello",
            "text": "Hi there.",
            "usage": {"input_tokens": 321, "output_tokens": 12, "cost_usd": 0.0042},
        }
    )
    finished = await finish(get_runtime(cli), request(ws))
    assert finished.output == "Hi there."
    expected_cost = 0.0042 if cli == "claude" else None  # gemini and codex report no cost
    assert finished.usage == Usage(input_tokens=321, output_tokens=12, cost_usd=expected_cost)
    assert finished.exit_code == 0
    [call] = fake_clis.calls(cli)
    assert call["cwd"] == str(ws)


@pytest.mark.parametrize("cli", LLM_CLIS)
async def test_the_unscripted_answer_is_deterministic(fake_clis: FakeClis, ws: Path, cli: str) -> None:
    finished = await finish(get_runtime(cli), request(ws))
    assert finished.output == f"[{cli}] Say hello."


@pytest.mark.parametrize("cli", LLM_CLIS)
async def test_a_1_mb_prompt_reaches_the_cli_byte_for_byte(fake_clis: FakeClis, ws: Path, cli: str) -> None:
    prompt = big_text(ONE_MB)
    await finish(get_runtime(cli), request(ws, prompt))
    [call] = fake_clis.calls(cli)
    assert call["stdin_bytes"] == len(prompt.encode())
    assert call["stdin_sha256"] == hashlib.sha256(prompt.encode()).hexdigest()
    assert all(len(arg) < 1000 for arg in call["argv"])  # the prompt is not on the command line


@pytest.mark.parametrize("cli", LLM_CLIS)
async def test_a_1_mb_answer_comes_back_intact(fake_clis: FakeClis, ws: Path, cli: str) -> None:
    answer = big_text(ONE_MB)
    fake_clis.script({"text": answer})
    events = await collect(get_runtime(cli), request(ws))
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.output == answer
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == answer


@pytest.mark.parametrize("cli", LLM_CLIS)
async def test_tool_calls_are_reported_before_the_answer(fake_clis: FakeClis, ws: Path, cli: str) -> None:
    fake_clis.script({"mode": "tool", "text": "Done."})
    events = await collect(get_runtime(cli), request(ws))
    tools = [e for e in events if isinstance(e, ToolUse)]
    assert len(tools) == 1 and events.index(tools[0]) < len(events) - 1
    assert events[-1] == Finished("Done.", events[-1].usage)  # type: ignore[union-attr]


@pytest.mark.parametrize("cli", LLM_CLIS)
async def test_timeout_kills_the_whole_process_group(fake_clis: FakeClis, ws: Path, cli: str) -> None:
    fake_clis.mode("hang")  # the fake starts a child `sleep` in its group, then never answers
    started = time.monotonic()
    with pytest.raises(TimedOut):
        await collect(get_runtime(cli), request(ws, timeout_s=0.5))
    assert time.monotonic() - started < 5
    [call] = fake_clis.calls(cli)
    assert call["child_pids"], "the fake should have started a child"
    assert survivors([call["pid"], *call["child_pids"]]) == []


@pytest.mark.parametrize("cli", LLM_CLIS)
async def test_cancellation_kills_the_process_group_at_once(fake_clis: FakeClis, ws: Path, cli: str) -> None:
    fake_clis.mode("hang")
    task = asyncio.create_task(collect(get_runtime(cli), request(ws, timeout_s=60)))
    call = await wait_for_call(lambda: fake_clis.calls(cli))
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - cancelled_at < 1.0
    assert survivors([call["pid"], *call["child_pids"]], within_s=1.0) == []


@pytest.mark.parametrize("cli", LLM_CLIS)
async def test_a_flood_on_stderr_does_not_deadlock(fake_clis: FakeClis, ws: Path, cli: str) -> None:
    fake_clis.script({"mode": "big-stderr", "text": "Still fine."})  # 256 KiB on stderr before any stdout
    finished = await finish(get_runtime(cli), request(ws, timeout_s=5))
    assert finished.output == "Still fine."


@pytest.mark.parametrize("cli", LLM_CLIS)
async def test_a_cli_not_on_path_is_cli_not_found_with_an_install_hint(
    fake_clis: FakeClis, ws: Path, monkeypatch: pytest.MonkeyPatch, cli: str
) -> None:
    empty = ws.parent / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(CliNotFound, match=PACKAGES[cli]):
        await collect(get_runtime(cli), request(ws))


@pytest.mark.parametrize("cli", LLM_CLIS)
async def test_without_credentials_the_cli_is_not_authenticated(
    fake_clis: FakeClis, ws: Path, cli: str
) -> None:
    fake_clis.log_out()
    with pytest.raises(NotAuthenticated):
        await collect(get_runtime(cli), request(ws))


@pytest.mark.parametrize("cli", LLM_CLIS)
async def test_a_rejected_key_is_not_authenticated(fake_clis: FakeClis, ws: Path, cli: str) -> None:
    fake_clis.mode("401")
    with pytest.raises(NotAuthenticated):
        await collect(get_runtime(cli), request(ws))


RATE_LIMITED = {  # what each CLI says, quoted in the error
    "claude": "Request rejected (429)",
    "gemini": "failed with status 429",  # its router's first retry, on stderr: the run ends there
    "codex": "429 Too Many Requests",
}


@pytest.mark.parametrize("cli", LLM_CLIS)
async def test_a_rate_limit_fails_saying_so_with_the_clis_message(
    fake_clis: FakeClis, ws: Path, cli: str
) -> None:
    fake_clis.mode("429")
    with pytest.raises(RateLimited) as raised:
        await collect(get_runtime(cli), request(ws))
    assert f"{cli}: rate limited (429)" in str(raised.value) and RATE_LIMITED[cli] in str(raised.value)


CRASHES = {
    "claude": "fake claude crashed",
    "gemini": "An unexpected critical error occurred",
    "codex": "fake codex crashed",
}


@pytest.mark.parametrize("cli", LLM_CLIS)
async def test_exit_1_fails_naming_the_stderr_tail(fake_clis: FakeClis, ws: Path, cli: str) -> None:
    fake_clis.mode("exit1")
    with pytest.raises(ExitedNonZero) as raised:
        await collect(get_runtime(cli), request(ws))
    assert raised.value.exit_code == 1
    assert CRASHES[cli] in raised.value.stderr_tail and CRASHES[cli] in str(raised.value)


@pytest.mark.parametrize("cli", LLM_CLIS)
async def test_a_schema_answer_is_parsed(fake_clis: FakeClis, ws: Path, cli: str) -> None:
    verdict = {"decision": "approved", "reason": "tests pass"}
    fake_clis.script({"json": verdict})
    finished = await finish(get_runtime(cli), request(ws, schema=VERDICT))
    assert finished.structured == verdict


async def test_gemini_answering_prose_to_a_schema_is_a_bad_answer(fake_clis: FakeClis, ws: Path) -> None:
    fake_clis.script({"cli": "gemini", "text": "I approve: the tests pass."})
    with pytest.raises(BadAnswer):
        await collect(get_runtime("gemini"), request(ws, schema=VERDICT))


async def test_gemini_schema_answer_in_a_fenced_block_is_accepted(fake_clis: FakeClis, ws: Path) -> None:
    fake_clis.script({"text": 'Verdict:\n```json\n{"decision": "rejected", "reason": "no tests"}\n```'})
    finished = await finish(get_runtime("gemini"), request(ws, schema=VERDICT))
    assert finished.structured == {"decision": "rejected", "reason": "no tests"}


@pytest.mark.parametrize("cli", LLM_CLIS)
async def test_the_cli_sees_only_its_own_credentials_and_no_app_secret(
    fake_clis: FakeClis, ws: Path, monkeypatch: pytest.MonkeyPatch, cli: str
) -> None:
    monkeypatch.setenv("AQM_GITHUB_PRIVATE_KEY", "-----BEGIN RSA PRIVATE KEY-----")
    monkeypatch.setenv("AQM_GITHUB_WEBHOOK_SECRET", "whsec")
    await finish(get_runtime(cli), request(ws, env={"EXTRA_FOR_THE_AGENT": "1"}))
    [call] = fake_clis.calls(cli)
    keys = set(call["env_keys"])
    assert not any(key.startswith("AQM_") for key in keys)
    own = {"claude": "ANTHROPIC_API_KEY", "gemini": "GEMINI_API_KEY", "codex": "CODEX_API_KEY"}
    assert own[cli] in keys and not ({*own.values()} - {own[cli]}) & keys
    assert "EXTRA_FOR_THE_AGENT" in keys


@pytest.mark.parametrize("cli", LLM_CLIS)
async def test_mcp_servers_reach_the_cli_in_its_own_format(fake_clis: FakeClis, ws: Path, cli: str) -> None:
    servers = (
        McpServer(server="github"),
        McpServer(server="db", command="node", args=["db.js"], env={"DB": "x"}),
    )
    await finish(get_runtime(cli), request(ws, mcp=servers))
    [call] = fake_clis.calls(cli)
    assert call["mcp"]["github"]["command"] == "npx"
    assert call["mcp"]["github"]["args"] == ["-y", "@modelcontextprotocol/server-github"]
    assert {k: call["mcp"]["db"][k] for k in ("command", "args", "env")} == {
        "command": "node",
        "args": ["db.js"],
        "env": {"DB": "x"},
    }
    assert list(ws.iterdir()) == []  # nothing written into the workspace


async def test_claudes_mcp_config_file_is_deleted_after_the_run(fake_clis: FakeClis, ws: Path) -> None:
    await finish(get_runtime("claude"), request(ws, mcp=(McpServer(server="github"),)))
    argv = fake_clis.calls("claude")[0]["argv"]
    assert not Path(argv[argv.index("--mcp-config") + 1]).exists()


async def test_rules_answer_by_cli_and_match_at_most_their_times(fake_clis: FakeClis, ws: Path) -> None:
    fake_clis.script(
        {"cli": "codex", "text": "codex only"},
        {"match": r"^review", "times": 1, "text": "first review"},
        default={"text": "fallback"},
    )
    runtime = get_runtime("claude")
    answers = [(await finish(runtime, request(ws, "review this"))).output for _ in range(2)]
    assert answers == ["first review", "fallback"]
    assert (await finish(get_runtime("codex"), request(ws))).output == "codex only"


async def test_parallel_calls_share_a_rules_times(fake_clis: FakeClis, ws: Path) -> None:
    fake_clis.script({"times": 2, "text": "scripted"}, default={"text": "default"})
    runs = [finish(get_runtime("gemini"), request(ws)) for _ in range(5)]
    outputs = sorted(f.output for f in await asyncio.gather(*runs))
    assert outputs == ["default"] * 3 + ["scripted"] * 2
    assert json.loads((fake_clis.script_path.with_name("script.json.counts.json")).read_text()) == {"0": 2}
