"""The gemini adapter without a process: argv, stdin, MCP settings and the parser on recorded lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.errors import BadAnswer, ExitedNonZero, NotAuthenticated, RateLimited
from app.runtimes.base import RunRequest, RuntimeEvent, TextDelta, ToolUse, Usage
from app.runtimes.gemini import (
    PROMPT_FLAG_TEXT,
    GeminiStream,
    build_argv,
    build_stdin,
    has_credentials,
    run_home,
    run_settings,
)
from app.runtimes.process import UNSANDBOXED
from app.spec.models import McpServer

# Recorded lines (llm-clis.md 2.2 and 2.3), ids and timestamps shortened.
INIT = '{"type":"init","timestamp":"2026-01-01T00:00:00.000Z","session_id":"5978","model":"m"}'
USER = '{"type":"message","timestamp":"t","role":"user","content":"say hi"}'
TOOL_USE = '{"type":"tool_use","timestamp":"t","tool_name":"run_shell_command","tool_id":"run_shell_command__1_0","parameters":{"command":"echo hi","description":"d"}}'
TOOL_RESULT = '{"type":"tool_result","timestamp":"t","tool_id":"run_shell_command__1_0","status":"success","output":"hi"}'
DELTA_1 = '{"type":"message","timestamp":"t","role":"assistant","content":"Hello ","delta":true}'
DELTA_2 = '{"type":"message","timestamp":"t","role":"assistant","content":"there.","delta":true}'
WARNING = '{"type":"error","timestamp":"t","severity":"warning","message":"loop detected"}'
RESULT = '{"type":"result","timestamp":"t","status":"success","stats":{"total_tokens":464,"input_tokens":456,"output_tokens":8,"cached":0,"input":456,"duration_ms":62,"tool_calls":0,"models":{"m":{"total_tokens":464,"input_tokens":456,"output_tokens":8,"cached":0,"input":456}}}}'
QUOTA = '{"type":"result","status":"error","error":{"type":"unknown","message":"[API Error: Resource has been exhausted (e.g. check quota).]\\nPlease wait and try again later."},"stats":{"total_tokens":0,"input_tokens":0,"output_tokens":0}}'
BAD_KEY = '{"type":"result","status":"error","error":{"type":"unknown","message":"{\\"error\\":{\\"code\\":400,\\"message\\":\\"API key not valid. Please pass a valid API key.\\",\\"status\\":\\"INVALID_ARGUMENT\\"}}"},"stats":{}}'
SCHEMA = {"type": "object", "required": ["decision"], "properties": {"decision": {"type": "string"}}}


def request(**fields: Any) -> RunRequest:
    return RunRequest(prompt="the task", workdir=Path("/w"), timeout_s=1, **fields)


def feed(*lines: str, schema: dict[str, Any] | None = None) -> tuple[GeminiStream, list[RuntimeEvent]]:
    stream = GeminiStream(schema=schema)
    return stream, [event for line in lines for event in stream.feed(line + "\n")]


def answer_text(text: str) -> str:
    return json.dumps({"type": "message", "role": "assistant", "content": text, "delta": True})


def test_argv_puts_a_short_instruction_in_p_and_skips_the_trust_prompt() -> None:
    assert build_argv(request(model="gemini-x", flags=("--yolo",))) == [
        *("gemini", "-p", PROMPT_FLAG_TEXT, "-o", "stream-json", "--skip-trust", "-m", "gemini-x", "--yolo"),
    ]


def test_stdin_is_the_prompt_and_with_a_schema_asks_for_only_json() -> None:
    assert build_stdin(request()) == "the task"
    with_schema = build_stdin(request(schema=SCHEMA))
    assert with_schema.startswith("the task\n\n") and json.dumps(SCHEMA) in with_schema


def test_the_answer_is_the_concatenated_assistant_deltas_and_usage_comes_from_stats() -> None:
    stream, events = feed(INIT, USER, TOOL_USE, TOOL_RESULT, WARNING, DELTA_1, DELTA_2, RESULT)
    assert events == [ToolUse("run_shell_command", "echo hi"), TextDelta("Hello "), TextDelta("there.")]
    finished = stream.finish(exit_code=0, stderr_tail="Ripgrep is not available. Falling back to GrepTool.")
    assert finished.output == "Hello there."
    assert finished.usage == Usage(input_tokens=456, output_tokens=8, cost_usd=None)


FAILURES = {
    "a result with a quota error is a rate limit": (
        QUOTA,
        173,
        "",
        RateLimited,
        "Resource has been exhausted",
    ),
    "an invalid key is an auth failure": (BAD_KEY, 144, "", NotAuthenticated, "API key not valid"),
    "exit 41 is an auth failure": (
        None,
        41,
        "Please set an Auth method in your /h/.gemini/settings.json or specify …",
        NotAuthenticated,
        "Please set an Auth method",
    ),
    "exit 55 (untrusted folder) names the stderr": (
        None,
        55,
        "Gemini CLI is not running in a trusted directory.",
        ExitedNonZero,
        "not running in a trusted directory",
    ),
}


@pytest.mark.parametrize(
    ("line", "exit_code", "stderr", "error", "quoted"), list(FAILURES.values()), ids=list(FAILURES)
)
def test_failures(line: str | None, exit_code: int, stderr: str, error: type[Exception], quoted: str) -> None:
    stream, _ = feed(INIT, *([line] if line else []))
    with pytest.raises(error) as raised:
        stream.finish(exit_code=exit_code, stderr_tail=stderr)
    assert type(raised.value) is error and quoted in str(raised.value)


def test_exit_zero_without_a_result_is_a_bad_answer() -> None:
    stream, _ = feed(INIT, DELTA_1)
    with pytest.raises(BadAnswer):
        stream.finish(exit_code=0, stderr_tail="")


SCHEMA_ANSWERS = {
    "the whole text": ('{"decision": "approved"}', {"decision": "approved"}),
    "surrounding whitespace": ('\n  {"decision": "rejected"}\n', {"decision": "rejected"}),
    "the last fenced json block": (
        'First try:\n```json\n{"decision": "x"}\n```\nFinal:\n```json\n{"decision": "approved"}\n```',
        {"decision": "approved"},
    ),
}


@pytest.mark.parametrize(("text", "expected"), list(SCHEMA_ANSWERS.values()), ids=list(SCHEMA_ANSWERS))
def test_schema_answers_are_parsed_strictly(text: str, expected: dict[str, Any]) -> None:
    stream, _ = feed(answer_text(text), RESULT, schema=SCHEMA)
    assert stream.finish(exit_code=0, stderr_tail="").structured == expected


@pytest.mark.parametrize("text", ["Looks good to me.", '{"reason": "no decision key"}', "[1, 2]"])
def test_a_schema_answer_that_is_not_the_asked_json_is_a_bad_answer(text: str) -> None:
    stream, _ = feed(answer_text(text), RESULT, schema=SCHEMA)
    with pytest.raises(BadAnswer):
        stream.finish(exit_code=0, stderr_tail="")


def test_settings_keep_the_users_keys_allow_one_attempt_and_trust_the_pipelines_mcp_servers() -> None:
    user = {
        "security": {"auth": {"selectedType": "oauth-personal"}},
        "general": {"maxAttempts": 10, "vimMode": True},
        "mcpServers": {"mine": {}},
    }
    settings = run_settings(user, (McpServer(server="fs", command="node", args=["fs.js"]),))
    assert settings == {
        "security": {"auth": {"selectedType": "oauth-personal"}},
        "general": {"maxAttempts": 1, "vimMode": True},
        "mcpServers": {"fs": {"command": "node", "args": ["fs.js"], "env": {}, "trust": True}},
    }


def test_every_run_has_a_temporary_gemini_home_linking_the_users_login(tmp_path: Path) -> None:
    user_dir = tmp_path / ".gemini"
    user_dir.mkdir()
    (user_dir / "settings.json").write_text('{"general": {"maxAttempts": 5}}')
    (user_dir / "oauth_creds.json").write_text("{}")
    with UNSANDBOXED.stage() as stage:
        home = run_home((McpServer(server="github"),), environ={"HOME": str(tmp_path)}, stage=stage)
        settings = json.loads((home / ".gemini" / "settings.json").read_text())
        assert settings["general"] == {"maxAttempts": 1} and list(settings["mcpServers"]) == ["github"]
        assert (home / ".gemini" / "oauth_creds.json").resolve() == (user_dir / "oauth_creds.json").resolve()
    assert not home.exists()


def test_a_run_without_mcp_servers_has_none_and_one_attempt(tmp_path: Path) -> None:
    with UNSANDBOXED.stage() as stage:
        home = run_home((), environ={"HOME": str(tmp_path)}, stage=stage)
        settings = json.loads((home / ".gemini" / "settings.json").read_text())
    assert settings == {"general": {"maxAttempts": 1}, "mcpServers": {}}


CREDENTIALS = {
    "an AI Studio key": ({"GEMINI_API_KEY": "k"}, True),
    "Vertex AI with project and location": (
        {"GOOGLE_GENAI_USE_VERTEXAI": "true", "GOOGLE_CLOUD_PROJECT": "p", "GOOGLE_CLOUD_LOCATION": "l"},
        True,
    ),
    "Vertex AI without a project": ({"GOOGLE_GENAI_USE_VERTEXAI": "true"}, False),
    "nothing": ({}, False),
}


@pytest.mark.parametrize(("environ", "expected"), list(CREDENTIALS.values()), ids=list(CREDENTIALS))
def test_has_credentials(tmp_path: Path, environ: dict[str, Any], expected: bool) -> None:
    assert has_credentials({"HOME": str(tmp_path), **environ}) is expected


def test_a_cached_google_login_counts_as_credentials(tmp_path: Path) -> None:
    (tmp_path / ".gemini").mkdir()
    (tmp_path / ".gemini" / "oauth_creds.json").write_text("{}")
    assert has_credentials({"HOME": str(tmp_path)})
