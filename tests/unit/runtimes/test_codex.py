"""The codex adapter without a process: argv, MCP overrides and the parser on recorded --json lines."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from app.errors import BadAnswer, ExitedNonZero, NotAuthenticated, RateLimited, RuntimeFailed
from app.runtimes.base import RunRequest, RuntimeEvent, TextDelta, ToolUse, Usage
from app.runtimes.codex import CodexStream, build_argv, has_credentials, mcp_overrides, toml_value
from app.spec.models import McpServer

# Recorded lines (llm-clis.md 3.2 and 3.3), ids shortened.
THREAD = '{"type":"thread.started","thread_id":"01a2"}'
TURN = '{"type":"turn.started"}'
COMMAND_STARTED = '{"type":"item.started","item":{"id":"item_0","type":"command_execution","command":"/bin/bash -lc \'echo hi\'","aggregated_output":"","exit_code":null,"status":"in_progress"}}'
COMMAND_DONE = '{"type":"item.completed","item":{"id":"item_0","type":"command_execution","command":"/bin/bash -lc \'echo hi\'","aggregated_output":"hi\\n","exit_code":0,"status":"completed"}}'
WARNING_ITEM = '{"type":"item.completed","item":{"id":"item_1","type":"error","message":"Model metadata for `x` not found."}}'
DRAFT = '{"type":"item.completed","item":{"id":"item_2","type":"agent_message","text":"Let me check."}}'
ANSWER = '{"type":"item.completed","item":{"id":"item_3","type":"agent_message","text":"Hello there."}}'
DONE = '{"type":"turn.completed","usage":{"input_tokens":621,"cached_input_tokens":0,"cache_write_input_tokens":0,"output_tokens":29,"reasoning_output_tokens":0}}'
RECONNECTING = '{"type":"error","message":"Reconnecting... 2/5 (stream disconnected)"}'


def failed(message: str) -> list[str]:
    return [
        json.dumps({"type": "error", "message": message}),
        json.dumps({"type": "turn.failed", "error": {"message": message}}),
    ]


def feed(*lines: str, schema: dict[str, Any] | None = None) -> tuple[CodexStream, list[RuntimeEvent]]:
    stream = CodexStream(schema=schema)
    return stream, [event for line in lines for event in stream.feed(line + "\n")]


def test_argv_reads_the_prompt_from_stdin_and_never_uses_full_auto(tmp_path: Path) -> None:
    req = RunRequest(
        prompt="p", workdir=tmp_path, timeout_s=1, model="o4", flags=("--sandbox", "workspace-write")
    )
    argv = build_argv(req, schema_file=Path("/tmp/s.json"))
    assert argv == [
        *("codex", "exec", "--json", "--skip-git-repo-check", "--color", "never", "-C", str(tmp_path)),
        *("-m", "o4", "--output-schema", "/tmp/s.json", "--sandbox", "workspace-write", "-"),
    ]
    assert "--full-auto" not in argv


def test_a_relative_workdir_is_made_absolute_for_dash_c() -> None:
    argv = build_argv(RunRequest(prompt="p", workdir=Path("ws"), timeout_s=1))
    assert argv[argv.index("-C") + 1] == str(Path("ws").absolute())


def test_mcp_servers_become_toml_config_overrides() -> None:
    servers = (
        McpServer(server="db", command="node", args=["db.js", 'a "q"'], env={"TOKEN": "t"}),
        McpServer(server="github"),
    )
    argv = mcp_overrides(servers)
    assert argv[::2] == ["-c"] * 7
    parsed = {}
    for override in argv[1::2]:
        key, _, value = override.partition("=")
        parsed[key] = tomllib.loads(f"v = {value}")["v"]
    assert parsed == {
        "mcp_servers.db.command": "node",
        "mcp_servers.db.args": ["db.js", 'a "q"'],
        "mcp_servers.db.default_tools_approval_mode": "approve",  # headless exec cannot ask
        "mcp_servers.db.env": {"TOKEN": "t"},
        "mcp_servers.github.command": "npx",
        "mcp_servers.github.args": ["-y", "@modelcontextprotocol/server-github"],
        "mcp_servers.github.default_tools_approval_mode": "approve",
    }


def test_an_mcp_server_name_codex_cannot_take_is_refused() -> None:
    with pytest.raises(RuntimeFailed, match="cannot be given to codex"):
        mcp_overrides((McpServer(server="my.server", command="x"),))


def test_toml_values_escape_like_toml_basic_strings() -> None:
    text = 'tab\tquote"é\\'
    assert tomllib.loads("v = " + toml_value(text))["v"] == text


def test_the_answer_is_the_last_agent_message_and_usage_comes_from_turn_completed() -> None:
    stream, events = feed(
        THREAD, TURN, COMMAND_STARTED, RECONNECTING, COMMAND_DONE, WARNING_ITEM, DRAFT, ANSWER, DONE
    )
    assert events == [
        ToolUse("command_execution", "/bin/bash -lc 'echo hi'"),
        TextDelta("Let me check."),
        TextDelta("Hello there."),
    ]
    finished = stream.finish(exit_code=0, stderr_tail="Reading prompt from stdin...")
    assert finished.output == "Hello there."
    assert finished.usage == Usage(input_tokens=621, output_tokens=29, cost_usd=None)


FAILURES = {
    "a 401 is an auth failure": (
        failed(
            "unexpected status 401 Unauthorized: Missing bearer or basic authentication in header, url: http://x/v1/responses"
        ),
        NotAuthenticated,
    ),
    "a missing provider key is an auth failure": (
        failed("Missing environment variable: `CODEX_API_KEY`."),
        NotAuthenticated,
    ),
    "a 429 is a rate limit": (
        failed("exceeded retry limit, last status: 429 Too Many Requests"),
        RateLimited,
    ),
    "a 500 fails with its message": (failed("We’re currently experiencing high demand."), ExitedNonZero),
}


@pytest.mark.parametrize(("lines", "error"), list(FAILURES.values()), ids=list(FAILURES))
def test_a_failed_turn(lines: list[str], error: type[Exception]) -> None:
    stream, _ = feed(THREAD, TURN, *lines)
    with pytest.raises(error) as raised:
        stream.finish(exit_code=1, stderr_tail="")
    assert type(raised.value) is error
    assert json.loads(lines[-1])["error"]["message"][:20] in str(raised.value)


def test_an_argument_error_names_the_stderr_tail() -> None:
    stream, _ = feed()
    with pytest.raises(ExitedNonZero) as raised:
        stream.finish(exit_code=2, stderr_tail="error: unexpected argument '--full-auto' found\n")
    assert raised.value.exit_code == 2 and "--full-auto" in str(raised.value)


def test_a_turn_without_agent_message_is_a_bad_answer() -> None:
    stream, _ = feed(THREAD, TURN, DONE)
    with pytest.raises(BadAnswer):
        stream.finish(exit_code=0, stderr_tail="")


def test_a_schema_answer_is_parsed_from_the_last_message() -> None:
    message = json.dumps(
        {"type": "item.completed", "item": {"id": "i", "type": "agent_message", "text": '{"ok": true}'}}
    )
    stream, _ = feed(message, DONE, schema={"type": "object", "required": ["ok"]})
    assert stream.finish(exit_code=0, stderr_tail="").structured == {"ok": True}


def test_mcp_tool_calls_and_file_changes_are_reported_once() -> None:
    mcp = {
        "id": "i1",
        "type": "mcp_tool_call",
        "server": "db",
        "tool": "query",
        "arguments": {"query": "select 1"},
        "status": "in_progress",
    }
    change = {
        "id": "i2",
        "type": "file_change",
        "changes": [{"path": "a.py", "kind": "update"}],
        "status": "completed",
    }
    lines = [
        json.dumps({"type": t, "item": i})
        for t, i in [("item.started", mcp), ("item.completed", mcp), ("item.completed", change)]
    ]
    _, events = feed(*lines)
    assert events == [ToolUse("db.query", "select 1"), ToolUse("file_change", "a.py")]


CREDENTIALS = {
    "CODEX_API_KEY": ({"CODEX_API_KEY": "k"}, False, True),
    "OPENAI_API_KEY alone is not read by exec": ({"OPENAI_API_KEY": "k"}, False, False),
    "a login's auth.json": ({}, True, True),
}


@pytest.mark.parametrize(
    ("environ", "auth_file", "expected"), list(CREDENTIALS.values()), ids=list(CREDENTIALS)
)
def test_has_credentials(tmp_path: Path, environ: dict[str, Any], auth_file: bool, expected: bool) -> None:
    if auth_file:
        (tmp_path / ".codex").mkdir()
        (tmp_path / ".codex" / "auth.json").write_text("{}")
    assert has_credentials({"HOME": str(tmp_path), **environ}) is expected
