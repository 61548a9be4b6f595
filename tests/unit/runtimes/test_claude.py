"""The claude adapter without a process: argv building and the parser on recorded stream-json lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.errors import BadAnswer, ExitedNonZero, NotAuthenticated, RateLimited, RuntimeFailed
from app.runtimes.base import RunRequest, RuntimeEvent, TextDelta, ToolUse, Usage
from app.runtimes.claude import ClaudeStream, build_argv, claude_usage, has_credentials, mcp_config
from app.spec.models import McpServer

# Recorded lines (llm-clis.md 1.3 and 1.4), ids shortened.
INIT = '{"type":"system","subtype":"init","session_id":"s1","cwd":"/w","model":"m","permissionMode":"default","tools":["Bash"],"mcp_servers":[],"apiKeySource":"ANTHROPIC_API_KEY","claude_code_version":"2.1.331"}'
RETRY = '{"type":"system","subtype":"api_retry","attempt":1,"max_retries":10,"retry_delay_ms":551,"error_status":null,"error":"unknown"}'
TOOL_CALL = '{"type":"assistant","message":{"id":"msg_1","role":"assistant","model":"m","content":[{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"echo hi","description":"Print hi"}}],"usage":{"input_tokens":100,"output_tokens":20}},"parent_tool_use_id":null,"session_id":"s1"}'
TOOL_RESULT = '{"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"hi","is_error":false}]},"tool_use_result":{"stdout":"hi","stderr":""},"session_id":"s1"}'
ANSWER = '{"type":"assistant","message":{"id":"msg_2","role":"assistant","model":"m","content":[{"type":"text","text":"Hello there."}]},"parent_tool_use_id":null,"session_id":"s1"}'
RESULT = '{"type":"result","subtype":"success","is_error":false,"result":"Hello there.","session_id":"s1","num_turns":1,"total_cost_usd":0.000316,"duration_ms":124,"duration_api_ms":36,"stop_reason":"end_turn","terminal_reason":"completed","usage":{"input_tokens":123,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":7},"modelUsage":{"m":{"inputTokens":123,"outputTokens":7,"cacheReadInputTokens":0,"cacheCreationInputTokens":0,"costUSD":0.000316,"contextWindow":1000000}},"permission_denials":[],"api_error_status":null,"uuid":"u"}'
RATE_LIMIT = '{"type":"rate_limit_event","rate_limit_info":{"status":"allowed"}}'


def error_result(text: str, status: int | None = None) -> str:
    result = json.loads(RESULT) | {
        "is_error": True,
        "result": text,
        "api_error_status": status,
        "modelUsage": {},
    }
    return json.dumps(result)


def feed(*lines: str, schema: dict[str, Any] | None = None) -> tuple[ClaudeStream, list[RuntimeEvent]]:
    stream = ClaudeStream(schema=schema)
    events = [event for line in lines for event in stream.feed(line + "\n")]
    return stream, events


def request(**fields: Any) -> RunRequest:
    return RunRequest(prompt="p", workdir=Path("/w"), timeout_s=1, **fields)


ARGV_CASES = {
    "minimal: print mode, stream-json with --verbose, only the pipeline's MCP servers": (
        request(),
        None,
        ["claude", "-p", "--output-format", "stream-json", "--verbose", "--strict-mcp-config"],
    ),
    "model, schema, MCP file, then the agent's flags verbatim": (
        request(model="opus", schema={"type": "object"}, flags=("--allowedTools", "Bash(git *)")),
        Path("/tmp/mcp.json"),
        [
            *("claude", "-p", "--output-format", "stream-json", "--verbose", "--model", "opus"),
            *("--json-schema", '{"type": "object"}', "--mcp-config", "/tmp/mcp.json", "--strict-mcp-config"),
            *("--allowedTools", "Bash(git *)"),
        ],
    ),
    "each declared MCP server is allowed, and the agent's own --allowedTools add to it": (
        request(mcp=(McpServer(server="db"), McpServer(server="gh")), flags=("--allowedTools", "Bash")),
        Path("/tmp/mcp.json"),
        [
            *("claude", "-p", "--output-format", "stream-json", "--verbose", "--mcp-config", "/tmp/mcp.json"),
            *("--allowedTools", "mcp__db", "--allowedTools", "mcp__gh", "--strict-mcp-config"),
            *("--allowedTools", "Bash"),
        ],
    ),
}


@pytest.mark.parametrize(("req", "mcp_file", "expected"), list(ARGV_CASES.values()), ids=list(ARGV_CASES))
def test_argv(req: RunRequest, mcp_file: Path | None, expected: list[str]) -> None:
    assert build_argv(req, mcp_config=mcp_file) == expected


def test_the_prompt_and_a_permission_bypass_are_never_on_the_command_line() -> None:
    argv = build_argv(request(model="m", schema={}))
    assert "p" not in argv[1:] and "--dangerously-skip-permissions" not in argv


def test_mcp_config_uses_npx_for_a_server_without_command() -> None:
    servers = (
        McpServer(server="github"),
        McpServer(server="db", command="node", args=["db.js"], env={"K": "v"}),
    )
    assert json.loads(mcp_config(servers)) == {
        "mcpServers": {
            "github": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"], "env": {}},
            "db": {"command": "node", "args": ["db.js"], "env": {"K": "v"}},
        }
    }


def test_a_tool_using_run_streams_its_tool_call_and_text_and_answers_with_the_result() -> None:
    stream, events = feed(INIT, RETRY, TOOL_CALL, TOOL_RESULT, ANSWER, RATE_LIMIT, RESULT)
    assert events == [ToolUse("Bash", "echo hi"), TextDelta("Hello there.")]
    finished = stream.finish(exit_code=0, stderr_tail="")
    assert finished.output == "Hello there."
    assert finished.usage == Usage(input_tokens=123, output_tokens=7, cost_usd=0.000316)
    assert finished.structured is None


def test_non_json_noise_and_blank_lines_are_skipped() -> None:
    _, events = feed("", "Warning: something", "[1, 2]", "{broken", ANSWER)
    assert events == [TextDelta("Hello there.")]


def test_partial_messages_stream_deltas_and_the_full_message_is_not_repeated() -> None:
    delta = '{"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}},"session_id":"s1"}'
    start = '{"type":"stream_event","event":{"type":"message_start","message":{}},"session_id":"s1"}'
    _, events = feed(start, delta, ANSWER)
    assert events == [TextDelta("Hel")]


USAGE_CASES = {
    "modelUsage is summed over models": (
        {
            "modelUsage": {
                "a": {"inputTokens": 10, "outputTokens": 2, "costUSD": 0.5},
                "b": {"inputTokens": 5, "outputTokens": 1, "costUSD": 0.25},
            },
            "usage": {"input_tokens": 1, "output_tokens": 1},
            "total_cost_usd": 9,
        },
        Usage(15, 3, 0.75),
    ),
    "without modelUsage: usage and total_cost_usd": (
        {"usage": {"input_tokens": 7, "output_tokens": 3}, "total_cost_usd": 0.1},
        Usage(7, 3, 0.1),
    ),
    "nothing reported": ({}, Usage(0, 0, None)),
}


@pytest.mark.parametrize(("result", "expected"), list(USAGE_CASES.values()), ids=list(USAGE_CASES))
def test_usage(result: dict[str, Any], expected: Usage) -> None:
    assert claude_usage(result) == expected


FAILURES = {
    "not logged in is an auth failure": (
        error_result("Not logged in · Please run /login"),
        1,
        NotAuthenticated,
    ),
    "a 401 is an auth failure": (
        error_result("Invalid API key · Fix external API key", 401),
        1,
        NotAuthenticated,
    ),
    "a 429 is a rate limit": (
        error_result("API Error: Request rejected (429) · slow down", 429),
        1,
        RateLimited,
    ),
    "an error subtype without result fails with its errors": (
        json.dumps(
            {
                "type": "result",
                "subtype": "error_max_turns",
                "is_error": True,
                "errors": ["Reached maximum number of turns (1)"],
            }
        ),
        1,
        ExitedNonZero,
    ),
    "is_error with exit 0 is still a failure": (error_result("API Error: 529 Overloaded"), 0, RuntimeFailed),
}


@pytest.mark.parametrize(("line", "exit_code", "error"), list(FAILURES.values()), ids=list(FAILURES))
def test_failures_reported_in_the_result(line: str, exit_code: int, error: type[Exception]) -> None:
    stream, _ = feed(INIT, line)
    with pytest.raises(error) as raised:
        stream.finish(exit_code=exit_code, stderr_tail="")
    assert type(raised.value) is error
    text = json.loads(line).get("result") or json.loads(line)["errors"][0]
    assert text in str(raised.value)


def test_a_non_zero_exit_without_result_names_the_stderr_tail() -> None:
    stream, _ = feed()
    with pytest.raises(ExitedNonZero) as raised:
        stream.finish(exit_code=1, stderr_tail="error: unknown option '--x'\n")
    assert raised.value.exit_code == 1 and "unknown option '--x'" in str(raised.value)


def test_exit_zero_without_a_result_line_is_a_bad_answer() -> None:
    stream, _ = feed(INIT, ANSWER)
    with pytest.raises(BadAnswer):
        stream.finish(exit_code=0, stderr_tail="")


def test_a_schema_answer_comes_from_structured_output() -> None:
    result = json.loads(RESULT) | {"result": "", "structured_output": {"decision": "approved"}}
    stream, _ = feed(json.dumps(result), schema={"type": "object", "required": ["decision"]})
    assert stream.finish(exit_code=0, stderr_tail="").structured == {"decision": "approved"}


def test_a_schema_answer_without_structured_output_is_parsed_from_the_text_or_refused() -> None:
    schema = {"type": "object", "required": ["decision"]}
    stream, _ = feed(json.dumps(json.loads(RESULT) | {"result": '{"decision": "rejected"}'}), schema=schema)
    assert stream.finish(exit_code=0, stderr_tail="").structured == {"decision": "rejected"}
    stream, _ = feed(RESULT, schema=schema)
    with pytest.raises(BadAnswer):
        stream.finish(exit_code=0, stderr_tail="")


CREDENTIALS = {
    "an API key": ({"ANTHROPIC_API_KEY": "k"}, False, True),
    "an OAuth token": ({"CLAUDE_CODE_OAUTH_TOKEN": "t"}, False, True),
    "Bedrock selected": ({"CLAUDE_CODE_USE_BEDROCK": "1"}, False, True),
    "a login's credentials file": ({}, True, True),
    "nothing": ({"ANTHROPIC_API_KEY": ""}, False, False),
}


@pytest.mark.parametrize(
    ("environ", "login_file", "expected"), list(CREDENTIALS.values()), ids=list(CREDENTIALS)
)
def test_has_credentials(tmp_path: Path, environ: dict[str, Any], login_file: bool, expected: bool) -> None:
    if login_file:
        (tmp_path / ".claude").mkdir()
        (tmp_path / ".claude" / ".credentials.json").write_text("{}")
    assert has_credentials({"HOME": str(tmp_path), **environ}) is expected


def test_the_synthetic_message_of_an_api_error_is_not_streamed_as_answer_text() -> None:
    synthetic = '{"type":"assistant","message":{"id":"m","role":"assistant","model":"<synthetic>","content":[{"type":"text","text":"Invalid API key · Fix external API key"}]},"error":"authentication_failed","is_api_error_message":true}'
    _, events = feed(INIT, synthetic)
    assert events == []
