"""Codex CLI as a runtime: its argv, and a pure parser of its `--json` events.

    codex exec --json --skip-git-repo-check --color never -C <workdir> [-m M]
               [--output-schema FILE] [-c mcp_servers.NAME.command=…]… [cli_flags…] -    (prompt on stdin)

The prompt is written to stdin and stdin closed (`-`): codex reads a non-TTY stdin to EOF, so an
open pipe would block it. `--full-auto` is gone from codex (exit 2) and never added; the sandbox
stays codex's default (read-only) unless the pipeline's flags say `--sandbox workspace-write`.

Output (llm-clis.md 3.2): JSONL; the answer is the last `agent_message` item's text, usage is in
`turn.completed.usage` (no cost). Failures (3.3): `turn.failed` on stdout and exit 1; argument
errors exit 2 with clap's message on stderr. MCP servers go in as `-c` overrides (TOML values);
note that their `env` values are then visible in the process list of this machine.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import BadAnswer, RuntimeFailed
from app.runtimes.base import Finished, JsonSchema, RunRequest, RuntimeEvent, TextDelta, ToolUse, Usage
from app.runtimes.mcp import launches
from app.runtimes.parsing import (
    Diagnosis,
    as_dict,
    as_int,
    exit_failure,
    failure,
    json_object,
    parse_json_answer,
    shorten,
    summarize_tool_input,
)
from app.runtimes.process import ProcessRuntime, allowed_env, run_cli
from app.spec.models import McpServer

NAME = "codex"
INSTALL_HINT = "npm install -g @openai/codex@0.171.0 (the version tests/conformance runs)"
CREDENTIAL_VARS = ("CODEX_API_KEY", "OPENAI_API_KEY", "CODEX_HOME")
DIAGNOSIS = Diagnosis(
    NAME,
    auth_markers=("401 Unauthorized", "Missing environment variable", "Not logged in"),
    rate_markers=("429 Too Many Requests",),
    auth_hint="check CODEX_API_KEY (or a `codex login` in CODEX_HOME)",
)
TOOL_ITEMS = frozenset({"command_execution", "mcp_tool_call", "web_search", "file_change"})
MCP_APPROVAL = "approve"  # headless exec refuses a call that needs approval ("approval policy is never")
MCP_SERVER_NAME = re.compile(r"^[A-Za-z0-9_-]+$")  # a bare key in a `-c` key path


def build_argv(request: RunRequest, *, schema_file: Path | None = None) -> list[str]:
    workdir = str(request.workdir.absolute())
    argv = [NAME, "exec", "--json", "--skip-git-repo-check", "--color", "never", "-C", workdir]
    if request.model:
        argv += ["-m", request.model]
    if schema_file is not None:
        argv += ["--output-schema", str(schema_file)]
    return [*argv, *mcp_overrides(request.mcp), *request.flags, "-"]


def mcp_overrides(servers: Iterable[McpServer]) -> list[str]:
    """`-c mcp_servers.NAME.command=…` / `.args=[…]` / `.env={…}` for each server (values in TOML)."""
    argv: list[str] = []
    for launch in launches(servers):
        if not MCP_SERVER_NAME.match(launch.name):
            raise RuntimeFailed(
                f"MCP server name {launch.name!r} cannot be given to codex: use [A-Za-z0-9_-]"
            )
        key = f"mcp_servers.{launch.name}"
        argv += [
            "-c",
            f"{key}.command={toml_value(launch.command)}",
            "-c",
            f"{key}.args={toml_value(launch.args)}",
            "-c",
            f"{key}.default_tools_approval_mode={toml_value(MCP_APPROVAL)}",
        ]
        if launch.env:
            argv += ["-c", f"{key}.env={toml_value(launch.env)}"]
    return argv


def toml_value(value: str | Iterable[str] | Mapping[str, str]) -> str:
    """A TOML string, array of strings or inline table (JSON escapes are valid TOML basic strings)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{toml_value(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    return "[" + ", ".join(toml_value(item) for item in value) + "]"


def has_credentials(environ: Mapping[str, str]) -> bool:
    """CODEX_API_KEY (exec reads it; not OPENAI_API_KEY), or a login's auth.json in CODEX_HOME."""
    if environ.get("CODEX_API_KEY"):
        return True
    codex_home = environ.get("CODEX_HOME") or str(Path(environ.get("HOME", "~")) / ".codex")
    return (Path(codex_home).expanduser() / "auth.json").is_file()


def codex_usage(usage: Mapping[str, Any]) -> Usage:
    return Usage(
        input_tokens=as_int(usage.get("input_tokens")), output_tokens=as_int(usage.get("output_tokens"))
    )


def describe_tool(item: Mapping[str, Any]) -> ToolUse:
    kind = str(item.get("type"))
    if kind == "mcp_tool_call":
        return ToolUse(
            f"{item.get('server')}.{item.get('tool')}", summarize_tool_input(item.get("arguments"))
        )
    if kind == "file_change":
        paths = [str(as_dict(change).get("path")) for change in item.get("changes") or []]
        return ToolUse(kind, shorten(", ".join(paths), 120))
    return ToolUse(kind, summarize_tool_input(item))  # command_execution: command; web_search: query


@dataclass(slots=True)
class CodexStream:
    """Folds `--json` events into events; `finish` turns the last agent message into the answer."""

    schema: JsonSchema | None = None
    messages: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    failed: str | None = None
    tools_seen: set[str] = field(default_factory=set)

    def feed(self, line: str) -> list[RuntimeEvent]:
        event = json_object(line)
        if event is None:
            return []
        kind = event.get("type")
        if kind in ("item.started", "item.updated", "item.completed"):
            return self._on_item(as_dict(event.get("item")), completed=kind == "item.completed")
        if kind == "turn.completed":
            # cumulative over a thread; one exec without `resume` is one turn, so it is this run's
            self.usage = codex_usage(as_dict(event.get("usage")))
        elif kind == "turn.failed":
            self.failed = str(as_dict(event.get("error")).get("message") or "turn failed")
        return []  # thread.started, turn.started, non-fatal `error` events (reconnecting…)

    def _on_item(self, item: Mapping[str, Any], *, completed: bool) -> list[RuntimeEvent]:
        kind = item.get("type")
        if kind == "agent_message" and completed:
            text = str(item.get("text", ""))
            self.messages.append(text)
            return [TextDelta(text)]
        item_id = str(item.get("id"))
        if kind in TOOL_ITEMS and item_id not in self.tools_seen:
            self.tools_seen.add(item_id)
            return [describe_tool(item)]
        return []

    def finish(self, *, exit_code: int, stderr_tail: str) -> Finished:
        if self.failed is not None:
            raise failure(self.failed, exit_code=exit_code, stderr_tail=stderr_tail, diagnosis=DIAGNOSIS)
        if exit_code != 0:
            raise exit_failure(exit_code, stderr_tail, diagnosis=DIAGNOSIS)
        if not self.messages:
            raise BadAnswer(f"{NAME} finished its turn without an agent message")
        output = self.messages[-1]
        structured = None if self.schema is None else parse_json_answer(output, self.schema, runtime=NAME)
        return Finished(output=output, usage=self.usage, structured=structured)


class CodexRuntime(ProcessRuntime):
    """`runtime: codex`."""

    name = NAME

    def default_model(self) -> str | None:
        return None  # the CLI's own default

    async def run(self, request: RunRequest) -> AsyncIterator[RuntimeEvent]:
        with self.launcher.stage() as stage:
            schema = request.schema
            schema_file = None if schema is None else stage.file("output-schema.json", json.dumps(schema))
            argv = build_argv(request, schema_file=schema_file)
            env = allowed_env(request.env, credentials=CREDENTIAL_VARS)
            parser = CodexStream(schema=request.schema)
            events = run_cli(
                argv,
                parser,
                stdin=request.prompt,
                request=request,
                env=env,
                install_hint=INSTALL_HINT,
                stage=stage,
            )
            async with contextlib.aclosing(events):
                async for event in events:
                    yield event
