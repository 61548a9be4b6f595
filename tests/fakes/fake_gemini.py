"""Fake `gemini` (Gemini CLI 0.61.0, headless): llm-clis.md section 2. See fakecli.py for the hooks."""

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
    timestamp,
    write_err,
    write_out,
)

VERSION = "0.61.0"
DEFAULT_MODEL = "gemini-fake-model"
DEFAULT_MAX_ATTEMPTS = 10
OUTPUT_FORMATS = ("text", "json", "stream-json")
EXIT_AUTH, EXIT_INPUT, EXIT_UNTRUSTED = 41, 42, 55
UNTRUSTED = (
    "Gemini CLI is not running in a trusted directory. To proceed, either use --skip-trust, set the "
    "GEMINI_CLI_TRUST_WORKSPACE=true environment variable, or trust this directory in interactive mode.\n"
)
NO_INPUT = "No input provided via stdin. Input can be provided by piping data into gemini or using the --prompt option.\n"
API_ERRORS = {  # mode: (HTTP status, message); the exit code is the status mod 256
    "401": (
        400,
        '{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}',
    ),
    "429": (
        429,
        "[API Error: Resource has been exhausted (e.g. check quota).]\nPlease wait and try again later. "
        "To increase your limits, request a quota increase through AI Studio, or switch to another /auth method",
    ),
    "500": (500, "[API Error: Internal error encountered.]"),
}

GRAMMAR = Grammar(
    flags=frozenset(
        {"--skip-trust", "--yolo", "--debug", "--sandbox", "--screen-reader", "--version", "--help"}
    ),
    values=frozenset(
        {
            *("--prompt", "--output-format", "--model", "--approval-mode", "--resume", "--session-id"),
            *("--include-directories", "--allowed-mcp-server-names", "--allowed-tools", "--policy"),
            *("--extensions", "--prompt-interactive"),
        }
    ),
    aliases={
        **{
            "-p": "--prompt",
            "-o": "--output-format",
            "-m": "--model",
            "-r": "--resume",
            "-e": "--extensions",
        },
        **{
            "-i": "--prompt-interactive",
            "-y": "--yolo",
            "-d": "--debug",
            "-s": "--sandbox",
            "-v": "--version",
        },
        "-h": "--help",
    },
    unknown=lambda arg: Exit(
        1, stderr=f"Usage: gemini [options] [command]\n\nUnknown argument: {arg.lstrip('-')}\n"
    ),
    missing=lambda name: Exit(1, stderr=f"Not enough arguments following: {name.lstrip('-')}\n"),
)


def main() -> int:
    return run("gemini", respond)


def respond(call: Call) -> int:
    options, positionals = parse_argv(call.argv, GRAMMAR)
    if options.get("--version"):
        write_out(f"{VERSION}\n")
        return 0
    check_options(options, positionals)
    call.record["mcp"] = mcp_servers()
    stdin = call.read_stdin()
    flag = options.get("--prompt", "")
    prompt = f"{stdin}\n\n{flag}" if stdin and flag else stdin or flag  # -p is appended to stdin
    call.set_prompt(prompt)
    if not prompt:
        raise Exit(EXIT_INPUT, stderr=NO_INPUT)
    check_auth(options)
    answer = choose_answer("gemini", prompt)
    call.begin(answer)
    return answer_call(options, prompt, answer)


def check_options(options: dict[str, Any], positionals: list[str]) -> None:
    if positionals and "--prompt" not in options:
        raise Exit(
            1, stderr="fake gemini: a positional query starts interactive mode, which is not emulated\n"
        )
    output_format = options.get("--output-format", "text")
    if output_format not in OUTPUT_FORMATS:
        choices = ", ".join(f'"{choice}"' for choice in OUTPUT_FORMATS)
        given = f'Argument: output-format, Given: "{output_format}", Choices: {choices}'
        raise Exit(1, stderr=f"Usage: gemini [options] [command]\n\nInvalid values:\n  {given}\n")
    if not options.get("--skip-trust") and os.environ.get("GEMINI_CLI_TRUST_WORKSPACE") != "true":
        raise Exit(EXIT_UNTRUSTED, stderr=UNTRUSTED)


def gemini_home() -> Path:
    return Path(os.environ.get("GEMINI_CLI_HOME") or Path.home()) / ".gemini"


def user_settings() -> dict[str, Any]:
    try:
        settings = json.loads((gemini_home() / "settings.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return settings if isinstance(settings, dict) else {}


def max_attempts() -> int:
    attempts = (user_settings().get("general") or {}).get("maxAttempts")
    return attempts if isinstance(attempts, int) else DEFAULT_MAX_ATTEMPTS


def mcp_servers() -> dict[str, Any]:
    """mcpServers of the user settings, then of the (trusted) workspace's .gemini/settings.json."""
    servers = dict(user_settings().get("mcpServers") or {})
    try:
        workspace = json.loads(Path(".gemini/settings.json").read_text(encoding="utf-8"))
        servers.update(workspace.get("mcpServers") or {})
    except (OSError, ValueError, AttributeError):
        pass
    return servers


def check_auth(options: dict[str, Any]) -> None:
    selected = (user_settings().get("security") or {}).get("auth", {}).get("selectedType")
    if os.environ.get("GOOGLE_GEMINI_BASE_URL") and not selected:
        fail_auth(options, "Invalid auth method selected.")
    env = os.environ
    if selected == "gemini-api-key" and not env.get("GEMINI_API_KEY"):
        fail_auth(options, "When using Gemini API, you must specify the GEMINI_API_KEY environment variable.")
    vertex = env.get("GOOGLE_GENAI_USE_VERTEXAI") == "true"
    if not (selected or env.get("GEMINI_API_KEY") or vertex or env.get("GOOGLE_GENAI_USE_GCA") == "true"):
        fail_auth(
            options,
            f"Please set an Auth method in your {gemini_home() / 'settings.json'} or specify one of the following "
            "environment variables before running: GEMINI_API_KEY, GOOGLE_GENAI_USE_VERTEXAI, GOOGLE_GENAI_USE_GCA",
        )


def fail_auth(options: dict[str, Any], message: str) -> None:
    """Exit 41: an error object on stderr in json mode, the plain message otherwise (text, stream-json)."""
    if options.get("--output-format") == "json":
        error = {"session_id": new_id(), "error": {"type": "Error", "message": message, "code": EXIT_AUTH}}
        raise Exit(EXIT_AUTH, stderr=dumps(error) + "\n")
    raise Exit(EXIT_AUTH, stderr=message + "\n")


# ---- answers ----------------------------------------------------------------------------------


def answer_call(options: dict[str, Any], prompt: str, answer: Answer) -> int:
    run_ = Run(options, Lines(answer))
    write_err(startup_noise(options))
    if answer.mode == "exit1":
        raise Exit(1, stderr="An unexpected critical error occurred:[object Object]\n")
    if answer.mode == "big-stderr":
        big_stderr("[DEBUG] [MemoryDiscovery] a noisy debug log line to fill the stderr pipe")
    run_.start(prompt)
    if answer.mode == "hang":
        hang()
    if answer.mode in API_ERRORS:
        return run_.fail(*API_ERRORS[answer.mode])
    if answer.mode == "tool":
        run_.tool_call()
    text = answer.final_text("gemini", prompt)
    input_tokens, output_tokens, _ = answer.tokens(prompt, text)  # gemini reports no cost
    return run_.finish(text, input_tokens, output_tokens)


def startup_noise(options: dict[str, Any]) -> str:
    noise = ""
    if os.environ.get("TERM", "dumb") == "dumb":
        noise += "Warning: Basic terminal detected (TERM=dumb). Visual rendering will be limited.\n"
    if options.get("--yolo") or options.get("--approval-mode") == "yolo":
        noise += "YOLO mode is enabled. All tool calls will be automatically approved.\n"
    return noise + "Ripgrep is not available. Falling back to GrepTool.\n"


class Run:
    """One headless run's output: stream-json events as they happen, or json/text at the end."""

    def __init__(self, options: dict[str, Any], lines: Lines) -> None:
        self.format = options.get("--output-format", "text")
        self.model = options.get("--model") or DEFAULT_MODEL
        self.model_given = "--model" in options  # else the router's call comes first
        self.lines, self.id, self.started, self.tool_calls = lines, new_id(), time.monotonic(), 0

    def emit(self, event: dict[str, Any]) -> None:
        if self.format == "stream-json":
            self.lines.emit({"type": event.pop("type"), "timestamp": timestamp(), **event})

    def start(self, prompt: str) -> None:
        self.emit({"type": "init", "session_id": self.id, "model": self.model})
        self.emit({"type": "message", "role": "user", "content": prompt})

    def tool_call(self) -> None:
        tool_id = f"list_directory__{new_id()[:8]}_0"
        parameters = {"dir_path": "."}
        self.emit(
            {"type": "tool_use", "tool_name": "list_directory", "tool_id": tool_id, "parameters": parameters}
        )
        self.emit(
            {"type": "tool_result", "tool_id": tool_id, "status": "success", "output": "Listed 2 item(s)."}
        )
        self.tool_calls += 1

    def finish(self, text: str, input_tokens: int, output_tokens: int) -> int:
        for piece in chunks(text):
            self.emit({"type": "message", "role": "assistant", "content": piece, "delta": True})
        if self.format == "stream-json":
            stats = self.stream_stats(input_tokens, output_tokens)
            self.emit({"type": "result", "status": "success", "stats": stats})
        elif self.format == "json":
            document = {
                "session_id": self.id,
                "response": text,
                "stats": self.json_stats(input_tokens, output_tokens),
            }
            write_out(json.dumps(document, indent=2, ensure_ascii=False))  # no trailing newline
        else:
            write_out(text + "\n")
        return 0

    def fail(self, status: int, message: str) -> int:
        """An API error: a result event (stream-json), an error object on stderr (json), or text mode's.

        As the real one, a 429 is retried 5-30 s apart (minutes in all; here a wait until killed):
        by the model router (without --model) five times whatever the settings say, then by the
        main call `general.maxAttempts` times (default 10)."""
        if status == 429 and (self.model_given is False or max_attempts() > 1):
            write_err(
                "Attempt 1 failed with status 429. Retrying with backoff... ApiError: Resource exhausted\n"
            )
            hang()
        if self.format == "stream-json":
            failure = {"type": "unknown", "message": message}
            self.emit(
                {"type": "result", "status": "error", "error": failure, "stats": self.stream_stats(0, 0)}
            )
        elif self.format == "json":
            error: dict[str, Any] = {"type": "Error", "message": message, "code": status}
            write_err(dumps({"session_id": self.id, "error": error}) + "\n")
        else:
            report = "/tmp/gemini-client-error-Turn.run-sendMessageStream.json"
            write_err(f"Error when talking to Gemini API Full report available at: {report}\n")
            write_err("An unexpected critical error occurred:[object Object]\n")
            return 1
        return status % 256

    def stream_stats(self, input_tokens: int, output_tokens: int) -> dict[str, Any]:
        tokens = {
            "total_tokens": input_tokens + output_tokens,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cached": 0,
            "input": input_tokens,
        }
        duration_ms = int((time.monotonic() - self.started) * 1000)
        return {
            **tokens,
            "duration_ms": duration_ms,
            "tool_calls": self.tool_calls,
            "models": {self.model: tokens},
        }

    def json_stats(self, input_tokens: int, output_tokens: int) -> dict[str, Any]:
        tokens = {
            "input": input_tokens,
            "prompt": input_tokens,
            "candidates": output_tokens,
            "total": input_tokens + output_tokens,
            "cached": 0,
            "thoughts": 0,
            "tool": 0,
        }
        api = {"totalRequests": 1, "totalErrors": 0, "totalLatencyMs": 28, "errorsByType": {}}
        model = {"api": api, "tokens": tokens, "roles": {"main": {"api": api, "tokens": tokens}}}
        decisions = {"accept": 0, "reject": 0, "modify": 0, "auto_accept": 0}
        tools = {"totalCalls": self.tool_calls, "totalSuccess": self.tool_calls, "totalFail": 0}
        tools.update(totalDurationMs=0)
        return {
            "models": {self.model: model},
            "tools": {**tools, "totalDecisions": decisions, "byName": {}},
            "files": {"totalLinesAdded": 0, "totalLinesRemoved": 0},
        }
