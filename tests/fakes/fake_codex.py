"""Fake `codex` (Codex CLI 0.171.0, `codex exec`): llm-clis.md section 3. See fakecli.py for the hooks.

Not emulated: the interactive TUI, `exec resume` (so no cumulative usage over a thread) and `--oss`.
"""

from __future__ import annotations

import json
import os
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
    hang,
    new_id,
    parse_argv,
    run,
    write_err,
    write_out,
)

VERSION = "0.171.0"
DEFAULT_MODEL = "gpt-fake-codex"
RESPONSES_URL = "https://api.openai.com/v1/responses"
CHOICES = {
    "--sandbox": ("<SANDBOX_MODE>", ("read-only", "workspace-write", "danger-full-access")),
    "--color": ("<COLOR>", ("always", "never", "auto")),
}
NOT_IN_GIT = "Not inside a trusted directory and --skip-git-repo-check was not specified.\n"
NO_CREDENTIALS = f"unexpected status 401 Unauthorized: Missing bearer or basic authentication in header, url: {RESPONSES_URL}"
API_ERRORS = {
    "401": f"unexpected status 401 Unauthorized: Incorrect API key provided: sk-fake***. url: {RESPONSES_URL}",
    "429": "exceeded retry limit, last status: 429 Too Many Requests",
    "500": "We’re currently experiencing high demand, which may cause temporary errors.",
}
HELP_HINT = "\nFor more information, try '--help'.\n"
USAGE = "Usage: codex exec [OPTIONS] [PROMPT] [COMMAND]\n"


def clap_unknown(arg: str) -> Exit:
    tip = f"\n  tip: to pass '{arg}' as a value, use '-- {arg}'\n\n"
    return Exit(2, stderr=f"error: unexpected argument '{arg}' found\n{tip}{USAGE}{HELP_HINT}")


def clap_missing(name: str) -> Exit:
    return Exit(
        2, stderr=f"error: a value is required for '{name} <VALUE>' but none was supplied\n{HELP_HINT}"
    )


GRAMMAR = Grammar(
    flags=frozenset(
        {
            *("--json", "--experimental-json", "--skip-git-repo-check", "--oss", "--ephemeral", "--help"),
            *("--dangerously-bypass-approvals-and-sandbox", "--version"),
        }
    ),
    values=frozenset(
        {
            *(
                "--model",
                "--cd",
                "--config",
                "--sandbox",
                "--color",
                "--output-schema",
                "--output-last-message",
            ),
            *("--add-dir", "--image", "--profile", "--local-provider"),
        }
    ),
    repeatable=frozenset({"--config", "--add-dir", "--image"}),
    aliases={
        **{"-m": "--model", "-C": "--cd", "-c": "--config", "-s": "--sandbox", "-o": "--output-last-message"},
        **{"-i": "--image", "-p": "--profile", "-h": "--help", "-V": "--version"},
    },
    unknown=clap_unknown,
    missing=clap_missing,
)


def main() -> int:
    return run("codex", respond)


def respond(call: Call) -> int:
    command, *argv = call.argv or [""]
    if command in ("--version", "-V"):
        write_out(f"codex-cli {VERSION}\n")
        return 0
    if command == "login" and argv == ["status"]:
        return login_status()
    if command not in ("exec", "e"):
        raise Exit(1, stderr="fake codex: only `codex exec` and `codex login status` are emulated\n")
    options, positionals = parse_argv(argv, GRAMMAR)
    if options.get("--version"):
        write_out(f"codex-cli {VERSION}\n")
        return 0
    check_options(options, positionals)
    call.record["mcp"] = mcp_servers(options.get("--config") or [])
    enter_workdir(options)
    prompt = read_prompt(call, positionals)
    call.set_prompt(prompt)
    schema = read_schema(options)
    answer = choose_answer("codex", prompt) if has_credentials() else Answer(mode="no-credentials")
    call.begin(answer)
    return answer_call(options, prompt, answer, schema)


def check_options(options: dict[str, Any], positionals: list[str]) -> None:
    for name, (placeholder, choices) in CHOICES.items():
        if name in options and options[name] not in choices:
            value = options[name]
            possible = f"  [possible values: {', '.join(choices)}]\n"
            raise Exit(
                2, stderr=f"error: invalid value '{value}' for '{name} {placeholder}'\n{possible}{HELP_HINT}"
            )
    if positionals[:1] == ["resume"]:
        raise Exit(2, stderr="fake codex: `exec resume` is not emulated\n")
    if len(positionals) > 1:
        raise clap_unknown(positionals[1])


def mcp_servers(overrides: list[str]) -> dict[str, Any]:
    """The `-c mcp_servers.NAME.KEY=TOML` overrides as {NAME: {KEY: value}}."""
    import tomllib  # only runs that pass -c pay for it

    servers: dict[str, Any] = {}
    for override in overrides:
        key, _, raw = override.partition("=")
        parts = key.split(".")
        if len(parts) != 3 or parts[0] != "mcp_servers":
            continue
        try:
            value = tomllib.loads(f"value = {raw}")["value"]
        except tomllib.TOMLDecodeError:
            value = raw  # codex takes a value that is not TOML as a plain string
        servers.setdefault(parts[1], {})[parts[2]] = value
    return servers


def enter_workdir(options: dict[str, Any]) -> None:
    """-C: work there; outside a git repository only --skip-git-repo-check lets the run go on."""
    if "--cd" in options:
        try:
            os.chdir(options["--cd"])
        except OSError as exc:
            raise Exit(
                1, stderr=f"Error: failed to change directory to {options['--cd']}: {exc.strerror}\n"
            ) from None
    here = Path.cwd()
    in_git = any((folder / ".git").exists() for folder in (here, *here.parents))
    if not in_git and not options.get("--skip-git-repo-check"):
        raise Exit(1, stderr=NOT_IN_GIT)


def read_prompt(call: Call, positionals: list[str]) -> str:
    """The argument, plus stdin as a <stdin> block; or all of stdin for `-` or no argument."""
    if positionals and positionals[0] != "-":
        write_err("Reading additional input from stdin...\n")
        stdin = call.read_stdin()
        return f"{positionals[0]}\n\n<stdin>\n{stdin}\n</stdin>" if stdin else positionals[0]
    if not positionals:
        write_err("Reading prompt from stdin...\n")
    prompt = call.read_stdin()
    if not prompt.strip():
        raise Exit(1, stderr="No prompt provided via stdin.\n")
    return prompt


def read_schema(options: dict[str, Any]) -> Any:
    if "--output-schema" not in options:
        return None
    path = options["--output-schema"]
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError:
        raise Exit(
            1,
            stderr=f"Error: failed to read output schema file {path}: No such file or directory (os error 2)\n",
        ) from None
    except ValueError:
        raise Exit(1, stderr=f"Error: output schema file {path} is not valid JSON\n") from None


def has_credentials() -> bool:
    """CODEX_API_KEY, or a login's auth.json (OPENAI_API_KEY alone is not read by exec)."""
    if os.environ.get("CODEX_API_KEY"):
        return True
    codex_home = Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")
    return (codex_home / "auth.json").is_file()


def login_status() -> int:
    if has_credentials():
        write_err("Logged in using an API key - sk-fake***\n")
        return 0
    write_err("Not logged in\n")
    return 1


# ---- answers ----------------------------------------------------------------------------------


def answer_call(options: dict[str, Any], prompt: str, answer: Answer, schema: Any) -> int:
    turn = Turn(options, Lines(answer))
    if answer.mode == "exit1":
        raise Exit(1, stderr="Error: fake codex crashed (mode exit1)\n")
    if answer.mode == "big-stderr":
        big_stderr(
            "2026-01-01T00:00:00.000000Z  WARN codex_core::client: a noisy log line to fill the stderr pipe"
        )
    turn.start(prompt)
    if answer.mode == "hang":
        turn.emit(
            {
                "type": "error",
                "message": f"Reconnecting... 1/5 (stream disconnected before completion: {RESPONSES_URL})",
            }
        )
        hang()
    if answer.mode == "no-credentials":
        return turn.fail(NO_CREDENTIALS)
    if answer.mode in API_ERRORS:
        return turn.fail(API_ERRORS[answer.mode])
    if answer.mode == "tool":
        turn.tool_call()
    text = (
        json.dumps(answer.structured(schema), ensure_ascii=False)
        if schema is not None
        else answer.final_text("codex", prompt)
    )
    input_tokens, output_tokens, _ = answer.tokens(prompt, text)  # codex reports no cost
    return turn.finish(text, input_tokens, output_tokens)


class Turn:
    """One `codex exec` turn: JSONL events with --json; else the banner on stderr, the answer on stdout."""

    def __init__(self, options: dict[str, Any], lines: Lines) -> None:
        self.json = bool(options.get("--json") or options.get("--experimental-json"))
        self.options, self.lines, self.thread_id, self.items = options, lines, new_id(), 0

    def emit(self, event: dict[str, Any]) -> None:
        if self.json:
            self.lines.emit(event)

    def item(self, kind: str, item: dict[str, Any]) -> None:
        self.emit({"type": kind, "item": {"id": f"item_{self.items}", **item}})

    def start(self, prompt: str) -> None:
        self.emit({"type": "thread.started", "thread_id": self.thread_id})
        self.emit({"type": "turn.started"})
        if not self.json:
            write_err(self.banner() + f"user\n{prompt[:200]}\n\n")

    def banner(self) -> str:
        sandbox = self.options.get("--sandbox", "read-only")
        model = self.options.get("--model") or DEFAULT_MODEL
        rows = [f"OpenAI Codex v{VERSION} (research preview)", "--------", f"workdir: {Path.cwd()}"]
        rows += [f"model: {model}", "provider: openai", "approval: never", f"sandbox: {sandbox}"]
        return "\n".join([*rows, f"session id: {self.thread_id}", "--------", ""])

    def tool_call(self) -> None:
        command = "/bin/bash -lc 'echo hi'"
        self.item(
            "item.started",
            {
                "type": "command_execution",
                "command": command,
                "aggregated_output": "",
                "exit_code": None,
                "status": "in_progress",
            },
        )
        self.item(
            "item.completed",
            {
                "type": "command_execution",
                "command": command,
                "aggregated_output": "hi\n",
                "exit_code": 0,
                "status": "completed",
            },
        )
        self.items += 1

    def finish(self, text: str, input_tokens: int, output_tokens: int) -> int:
        self.item("item.completed", {"type": "agent_message", "text": text})
        usage = {"input_tokens": input_tokens, "cached_input_tokens": 0, "cache_write_input_tokens": 0}
        usage.update(output_tokens=output_tokens, reasoning_output_tokens=0)
        self.emit({"type": "turn.completed", "usage": usage})
        if not self.json:
            write_err(f"codex\n{text[:200]}\ntokens used\n{input_tokens + output_tokens:,}\n")
            write_out(text + "\n")
        if "--output-last-message" in self.options:
            Path(self.options["--output-last-message"]).write_text(text, encoding="utf-8")
        return 0

    def fail(self, message: str) -> int:
        self.emit({"type": "error", "message": message})
        self.emit({"type": "turn.failed", "error": {"message": message}})
        if not self.json:
            write_err(f"ERROR: {message}\n")
        return 1
