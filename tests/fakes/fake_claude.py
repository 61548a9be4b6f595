"""Fake `claude` (Claude Code 2.1.337, print mode): llm-clis.md section 1. See fakecli.py for the hooks."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from tests.fakes.fakecli import (
    Answer,
    Call,
    Exit,
    Grammar,
    Lines,
    big_stderr,
    choose_answer,
    chunks,
    dumps,
    hang,
    new_id,
    parse_argv,
    run,
    write_out,
)

VERSION = "2.1.337"
DEFAULT_MODEL = "claude-fake-model"
DEFAULT_MAX_RETRIES = 10
OUTPUT_FORMATS = ("text", "json", "stream-json")
TOKEN_VARS = ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_AUTH_TOKEN")
ROOT_BYPASS = "--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons\n"
NO_INPUT = "Error: Input must be provided either through stdin or as a prompt argument when using --print\n"
NEEDS_VERBOSE = "Error: When using --print, --output-format=stream-json requires --verbose\n"
API_ERRORS = {  # mode: (result text, api_error_status, the assistant message's `error`)
    "no-credentials": ("Not logged in · Please run /login", None, "authentication_failed"),
    "401": ("Invalid API key · Fix external API key", 401, "authentication_failed"),
    "429": ("API Error: Request rejected (429) · Rate limit exceeded, please retry later", 429, "rate_limit"),
    "500": (
        'API Error: 500 {"type":"error","error":{"type":"api_error","message":"Internal server error"}}',
        500,
        "server_error",
    ),
}

GRAMMAR = Grammar(
    flags=frozenset(
        {
            *("--print", "--verbose", "--strict-mcp-config", "--dangerously-skip-permissions"),
            *("--allow-dangerously-skip-permissions", "--continue", "--fork-session", "--bare"),
            *("--no-session-persistence", "--include-partial-messages", "--replay-user-messages"),
            *("--debug", "--version", "--help"),
        }
    ),
    values=frozenset(
        {
            *("--output-format", "--input-format", "--model", "--fallback-model", "--json-schema"),
            *("--system-prompt", "--system-prompt-file", "--append-system-prompt", "--tools", "--agents"),
            *("--append-system-prompt-file", "--max-turns", "--max-budget-usd", "--permission-mode"),
            *("--session-id", "--resume", "--settings", "--setting-sources", "--permission-prompt-tool"),
        }
    ),
    variadic=frozenset(
        {
            "--mcp-config",
            "--allowedTools",
            "--allowed-tools",
            "--disallowedTools",
            "--disallowed-tools",
            "--add-dir",
        }
    ),
    aliases={
        "-p": "--print",
        "-c": "--continue",
        "-r": "--resume",
        "-d": "--debug",
        "-v": "--version",
        "-h": "--help",
    },
    unknown=lambda arg: Exit(1, stderr=f"error: unknown option '{arg}'\n"),
    missing=lambda name: Exit(1, stderr=f"error: option '{name} <value>' argument missing\n"),
)


def main() -> int:
    return run("claude", respond)


def respond(call: Call) -> int:
    options, positionals = parse_argv(call.argv, GRAMMAR)
    if options.get("--version"):
        write_out(f"{VERSION} (Claude Code)\n")
        return 0
    check_options(options, positionals)
    call.record["mcp"] = options["_mcp"] = mcp_servers(options.get("--mcp-config") or [])
    prompt = positionals[0] if positionals else call.read_stdin()
    call.set_prompt(prompt)
    if not prompt.strip():
        raise Exit(1, stderr=NO_INPUT)
    if not has_credentials():
        call.record["mode"] = "no-credentials"
        return answer_error(options, "no-credentials")
    answer = choose_answer("claude", prompt)
    call.begin(answer)
    return answer_call(options, prompt, answer)


def check_options(options: dict[str, Any], positionals: list[str]) -> None:
    if not options.get("--print"):
        raise Exit(1, stderr="fake claude: only print mode (-p) is emulated\n")
    if len(positionals) > 1:
        raise Exit(1, stderr=f"error: too many arguments. Expected 1 argument but got {len(positionals)}.\n")
    output_format = options.get("--output-format", "text")
    if output_format not in OUTPUT_FORMATS:
        allowed = ", ".join(OUTPUT_FORMATS)
        message = f"error: option '--output-format <format>' argument '{output_format}' is invalid. "
        raise Exit(1, stderr=f"{message}Allowed choices are {allowed}.\n")
    if output_format == "stream-json" and not options.get("--verbose"):
        raise Exit(1, stderr=NEEDS_VERBOSE)
    if "--json-schema" in options:
        try:
            json.loads(options["--json-schema"])
        except ValueError:
            raise Exit(1, stderr="Error: --json-schema is not valid JSON\n") from None
    bypass = (
        options.get("--dangerously-skip-permissions")
        or options.get("--permission-mode") == "bypassPermissions"
    )
    if bypass and os.geteuid() == 0 and os.environ.get("IS_SANDBOX") != "1":
        raise Exit(1, stderr=ROOT_BYPASS)


def mcp_servers(configs: list[str]) -> dict[str, Any]:
    """The servers of every --mcp-config (a file or inline JSON), as the real CLI would load them."""
    servers: dict[str, Any] = {}
    for config in configs:
        if not config.lstrip().startswith("{") and not Path(config).is_file():
            raise Exit(1, stderr=f"Error: Invalid MCP configuration:\nMCP config file not found: {config}\n")
        text = config if config.lstrip().startswith("{") else Path(config).read_text(encoding="utf-8")
        try:
            servers.update(json.loads(text)["mcpServers"])
        except (ValueError, KeyError, TypeError):
            raise Exit(
                1, stderr=f"Error: Invalid MCP configuration:\n{config}: mcpServers missing\n"
            ) from None
    return servers


def has_credentials() -> bool:
    if any(os.environ.get(name) for name in TOKEN_VARS):
        return True
    if any(
        os.environ.get(name) in ("1", "true")
        for name in ("CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX")
    ):
        return True
    config_dir = os.environ.get("CLAUDE_CONFIG_DIR") or str(Path.home() / ".claude")
    return (Path(config_dir) / ".credentials.json").is_file()


# ---- answers ----------------------------------------------------------------------------------


def answer_call(options: dict[str, Any], prompt: str, answer: Answer) -> int:
    if answer.mode == "exit1":
        raise Exit(1, stderr="Error: fake claude crashed (mode exit1)\n    at main (cli.js:1:1)\n")
    if answer.mode in API_ERRORS:
        return answer_error(options, answer.mode)
    if answer.mode == "big-stderr":
        big_stderr("[DEBUG] fake claude: a noisy debug log line to fill the stderr pipe")
    session = Session(options, Lines(answer))
    if answer.mode == "hang":
        session.start()
        hang()
    schema = json.loads(options["--json-schema"]) if "--json-schema" in options else None
    structured = answer.structured(schema) if schema is not None else None
    text = (
        json.dumps(structured, ensure_ascii=False)
        if schema is not None
        else answer.final_text("claude", prompt)
    )
    input_tokens, output_tokens, cost = answer.tokens(prompt, text)
    session.start()
    if answer.mode == "tool":
        session.tool_call()
    session.assistant(text, usage={"input_tokens": input_tokens, "output_tokens": output_tokens})
    result = success_result(session, text, input_tokens, output_tokens, cost)
    if structured is not None:
        result["structured_output"] = structured
    return session.finish(result)


def answer_error(options: dict[str, Any], kind: str) -> int:
    """As the real one: an API error is retried CLAUDE_CODE_MAX_RETRIES times (default 10, a 401
    included: about 3 minutes of backoff, here a wait until killed); with 0 it fails at once."""
    text, status, error = API_ERRORS[kind]
    session = Session(options, Lines(Answer()))
    retries = int(os.environ.get("CLAUDE_CODE_MAX_RETRIES") or DEFAULT_MAX_RETRIES)
    if status is not None and retries > 0:
        session.start()
        retry = {"attempt": 1, "max_retries": retries, "retry_delay_ms": 551, "error_status": status}
        session.emit({"type": "system", "subtype": "api_retry", **retry, "error": error})
        hang()
    session.start(api_key_source="none" if kind == "no-credentials" else None)
    session.assistant(text, model="<synthetic>", extra={"error": error, "is_api_error_message": True})
    result = base_result(session) | {"is_error": True, "result": text, "api_error_status": status}
    result.update(terminal_reason="api_error", stop_reason="stop_sequence")
    return session.finish(result)


def base_result(session: Session) -> dict[str, Any]:
    return {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "result": "",
        "session_id": session.id,
        "num_turns": 1,
        "total_cost_usd": 0,
        "duration_ms": int((time.monotonic() - session.started) * 1000),
        "duration_api_ms": 0,
        "stop_reason": "end_turn",
        "terminal_reason": "completed",
        "usage": {
            "input_tokens": 0,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 0,
        },
        "modelUsage": {},
        "permission_denials": [],
        "api_error_status": None,
        "uuid": new_id(),
    }


def success_result(
    session: Session, text: str, input_tokens: int, output_tokens: int, cost: float
) -> dict[str, Any]:
    model_usage = {
        "inputTokens": input_tokens,
        "outputTokens": output_tokens,
        "cacheReadInputTokens": 0,
        "cacheCreationInputTokens": 0,
        "costUSD": cost,
        "contextWindow": 1000000,
    }
    result = base_result(session) | {
        "result": text,
        "total_cost_usd": cost,
        "modelUsage": {session.model: model_usage},
    }
    result["usage"].update(input_tokens=input_tokens, output_tokens=output_tokens)
    result["duration_api_ms"] = result["duration_ms"]
    return result


class Session:
    """One print-mode run's output, in the format asked: stream-json lines, or the result at the end."""

    def __init__(self, options: dict[str, Any], lines: Lines) -> None:
        self.format = options.get("--output-format", "text")
        self.partial = bool(options.get("--include-partial-messages"))
        self.model = options.get("--model") or DEFAULT_MODEL
        self.permission_mode = options.get("--permission-mode", "default")
        self.mcp = [
            {"name": name, "status": "connected", "source": "dynamic"} for name in options.get("_mcp") or {}
        ]
        self.lines, self.id, self.started = lines, new_id(), time.monotonic()

    def emit(self, event: dict[str, Any]) -> None:
        if self.format == "stream-json":
            self.lines.emit(event | {"session_id": self.id, "uuid": new_id()})

    def start(self, api_key_source: str | None = None) -> None:
        source = "ANTHROPIC_API_KEY" if os.environ.get("ANTHROPIC_API_KEY") else "none"
        self.emit(
            {
                "type": "system",
                "subtype": "init",
                "cwd": os.getcwd(),
                "model": self.model,
                "permissionMode": self.permission_mode,
                "tools": ["Bash", "Edit", "Glob", "Grep", "Read", "Write"],
                "mcp_servers": self.mcp,
                "apiKeySource": api_key_source or source,
                "claude_code_version": VERSION,
            }
        )

    def tool_call(self) -> None:
        tool_id = f"toolu_{new_id()[:8]}"
        tool_input = {"command": "echo hi", "description": "Print hi"}
        block = {"type": "tool_use", "id": tool_id, "name": "Bash", "input": tool_input}
        self.emit({"type": "assistant", "message": self.message([block]), "parent_tool_use_id": None})
        content = [{"type": "tool_result", "tool_use_id": tool_id, "content": "hi", "is_error": False}]
        self.emit(
            {
                "type": "user",
                "message": {"role": "user", "content": content},
                "tool_use_result": {"stdout": "hi", "stderr": ""},
                "parent_tool_use_id": None,
            }
        )

    def assistant(
        self,
        text: str,
        *,
        model: str | None = None,
        usage: dict[str, int] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if self.partial:
            for piece in chunks(text):
                delta = {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": piece},
                }
                self.emit({"type": "stream_event", "event": delta, "parent_tool_use_id": None})
        message = self.message([{"type": "text", "text": text}], model=model, usage=usage)
        self.emit({"type": "assistant", "message": message, "parent_tool_use_id": None, **(extra or {})})

    def message(
        self, content: list[dict[str, Any]], *, model: str | None = None, usage: dict[str, int] | None = None
    ) -> dict[str, Any]:
        return {
            "id": f"msg_{new_id()[:12]}",
            "type": "message",
            "role": "assistant",
            "model": model or self.model,
            "content": content,
            "stop_reason": None,
            "usage": usage or {"input_tokens": 0, "output_tokens": 0},
        }

    def finish(self, result: dict[str, Any]) -> int:
        """The last line (stream-json), the one line (json) or the text; exit 1 on is_error."""
        if self.format == "stream-json":
            self.lines.emit(result)
        elif self.format == "json":
            write_out(dumps(result) + "\n")
        else:
            write_out(str(result.get("result", "")) + "\n")
        return 1 if result["is_error"] else 0
