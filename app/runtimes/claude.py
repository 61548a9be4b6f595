"""Claude Code as a runtime: its argv, and a pure parser of its stream-json output.

    claude -p --output-format stream-json --verbose [--model M] [--json-schema JSON]
           [--mcp-config FILE] --strict-mcp-config [cli_flags…]          (the prompt on stdin)

Output (llm-clis.md 1.3): JSONL. `assistant` messages carry text and tool_use blocks; the last line
is a `result` with `result`, `is_error`, `modelUsage` (per model; the field for accounting) or
`usage` + `total_cost_usd`, and `structured_output` when a schema was given. Failures (1.4): exit 1
with a `result` whose `is_error` is true on stdout (API and auth errors), or one line on stderr
(argument errors). `--strict-mcp-config` is always there: only the pipeline's MCP servers load
(DESIGN.md, agent instruction files), and each is allowed (`--allowedTools mcp__NAME`): headless
claude refuses a tool call it would have to ask about, and the server is the pipeline's own choice.
The adapter never adds `--dangerously-skip-permissions`.

Fail fast: claude retries a failed request ten times (a bad key or a 429 took about 3 minutes, so
an `llm` gate timed out instead of saying why); `CLAUDE_CODE_MAX_RETRIES=0` makes it give up at
once, and the agent's `retry:` policy is the one retry layer (llm-clis.md section 8).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import BadAnswer
from app.runtimes.base import Finished, JsonSchema, RunRequest, RuntimeEvent, TextDelta, ToolUse, Usage
from app.runtimes.mcp import launches
from app.runtimes.parsing import (
    Diagnosis,
    as_dict,
    as_float,
    as_int,
    exit_failure,
    failure,
    json_object,
    parse_json_answer,
    summarize_tool_input,
)
from app.runtimes.process import ProcessRuntime, allowed_env, run_cli
from app.spec.models import McpServer

NAME = "claude"
INSTALL_HINT = "npm install -g @anthropic-ai/claude-code@2.1.337 (the version tests/conformance runs)"
TOKEN_VARS = ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_AUTH_TOKEN")
PROVIDER_SWITCHES = ("CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX")
CREDENTIAL_VARS = (
    *TOKEN_VARS,
    *PROVIDER_SWITCHES,
    *("ANTHROPIC_BASE_URL", "CLAUDE_CONFIG_DIR"),
    # Bedrock
    *("AWS_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"),
    "AWS_BEARER_TOKEN_BEDROCK",
    # Vertex AI
    *("ANTHROPIC_VERTEX_PROJECT_ID", "CLOUD_ML_REGION", "GOOGLE_APPLICATION_CREDENTIALS"),
)
QUIET_ENV = {  # CI hygiene (1.5), and no retries of its own (see the module docstring)
    "DISABLE_AUTOUPDATER": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "CLAUDE_CODE_MAX_RETRIES": "0",
}
DIAGNOSIS = Diagnosis(
    NAME,
    auth_markers=("Not logged in", "Invalid API key", "authentication_failed", "authentication_error"),
    rate_markers=("(429)", "rate_limit"),
    auth_hint="check ANTHROPIC_API_KEY (or CLAUDE_CODE_OAUTH_TOKEN)",
)


def build_argv(request: RunRequest, *, mcp_config: Path | None = None) -> list[str]:
    argv = [NAME, "-p", "--output-format", "stream-json", "--verbose"]
    if request.model:
        argv += ["--model", request.model]
    if request.schema is not None:
        argv += ["--json-schema", json.dumps(request.schema)]
    if mcp_config is not None:
        argv += ["--mcp-config", str(mcp_config)]
    for launch in launches(request.mcp):
        argv += ["--allowedTools", f"mcp__{launch.name}"]  # every tool of the pipeline's server
    return [*argv, "--strict-mcp-config", *request.flags]


def mcp_config(servers: Iterable[McpServer]) -> str:
    """The --mcp-config file's content: `{"mcpServers": {name: {command, args, env}}}`."""
    return json.dumps({"mcpServers": {launch.name: launch.as_json() for launch in launches(servers)}})


def has_credentials(environ: Mapping[str, str]) -> bool:
    """An API key or token in the environment, Bedrock/Vertex selected, or a login's credentials file."""
    if any(environ.get(name) for name in TOKEN_VARS):
        return True
    if any(environ.get(name, "").lower() in ("1", "true") for name in PROVIDER_SWITCHES):
        return True
    config_dir = environ.get("CLAUDE_CONFIG_DIR") or str(Path(environ.get("HOME", "~")) / ".claude")
    return (Path(config_dir).expanduser() / ".credentials.json").is_file()


def claude_usage(result: Mapping[str, Any]) -> Usage:
    """Sum `modelUsage` over the models (sub-agents included); else `usage` and `total_cost_usd`."""
    models = [as_dict(entry) for entry in as_dict(result.get("modelUsage")).values()]
    if models:
        costs = [cost for model in models if (cost := as_float(model.get("costUSD"))) is not None]
        return Usage(
            input_tokens=sum(as_int(model.get("inputTokens")) for model in models),
            output_tokens=sum(as_int(model.get("outputTokens")) for model in models),
            cost_usd=sum(costs) if costs else None,
        )
    usage = as_dict(result.get("usage"))
    return Usage(
        input_tokens=as_int(usage.get("input_tokens")),
        output_tokens=as_int(usage.get("output_tokens")),
        cost_usd=as_float(result.get("total_cost_usd")),
    )


@dataclass(slots=True)
class ClaudeStream:
    """Folds stream-json lines into events; `finish` turns the `result` line into the answer."""

    schema: JsonSchema | None = None
    texts: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None
    streamed: bool = False  # --include-partial-messages: text arrives as deltas before each message

    def feed(self, line: str) -> list[RuntimeEvent]:
        event = json_object(line)
        if event is None:
            return []
        kind = event.get("type")
        if kind == "assistant" and not event.get("is_api_error_message"):  # errors: see the result
            return self._on_assistant(as_dict(event.get("message")))
        if kind == "stream_event":
            return self._on_stream_event(as_dict(event.get("event")))
        if kind == "result":
            self.result = event
        return []  # system/init, user tool results, rate_limit_event…: nothing to report

    def _on_assistant(self, message: Mapping[str, Any]) -> list[RuntimeEvent]:
        events: list[RuntimeEvent] = []
        content = message.get("content")
        for block in content if isinstance(content, list) else []:
            block = as_dict(block)
            if block.get("type") == "text" and isinstance(text := block.get("text"), str):
                self.texts.append(text)
                if not self.streamed:
                    events.append(TextDelta(text))
            elif block.get("type") == "tool_use":
                name = str(block.get("name") or "tool")
                events.append(ToolUse(name, summarize_tool_input(block.get("input"))))
        return events

    def _on_stream_event(self, event: Mapping[str, Any]) -> list[RuntimeEvent]:
        delta = as_dict(event.get("delta"))
        if event.get("type") != "content_block_delta" or delta.get("type") != "text_delta":
            return []
        self.streamed = True
        return [TextDelta(str(delta.get("text", "")))]

    def finish(self, *, exit_code: int, stderr_tail: str) -> Finished:
        result = self.result
        if result is not None and (result.get("is_error") or result.get("subtype", "success") != "success"):
            raise failure(
                _error_text(result), exit_code=exit_code, stderr_tail=stderr_tail, diagnosis=DIAGNOSIS
            )
        if exit_code != 0:
            raise exit_failure(exit_code, stderr_tail, diagnosis=DIAGNOSIS)
        if result is None:
            raise BadAnswer(f"{NAME} exited 0 without a result line", partial_output="\n\n".join(self.texts))
        answer = result.get("result")
        output = answer if isinstance(answer, str) else "\n\n".join(self.texts)
        return Finished(
            output=output, usage=claude_usage(result), structured=self._structured(result, output)
        )

    def _structured(self, result: Mapping[str, Any], output: str) -> Any:
        if self.schema is None:
            return None
        if result.get("structured_output") is not None:
            return result["structured_output"]
        return parse_json_answer(output, self.schema, runtime=NAME)


def _error_text(result: Mapping[str, Any]) -> str:
    errors = result.get("errors")
    if isinstance(answer := result.get("result"), str) and answer:
        return answer
    if isinstance(errors, list) and errors:
        return "; ".join(str(error) for error in errors)
    return f"result {result.get('subtype', 'error')!s} (is_error: {result.get('is_error')})"


class ClaudeRuntime(ProcessRuntime):
    """`runtime: claude`."""

    name = NAME

    def default_model(self) -> str | None:
        return None  # the CLI's own default: it changes with every release

    async def run(self, request: RunRequest) -> AsyncIterator[RuntimeEvent]:
        with self.launcher.stage() as stage:
            config_file = stage.file("mcp-config.json", mcp_config(request.mcp)) if request.mcp else None
            env = allowed_env({**QUIET_ENV, **request.env}, credentials=CREDENTIAL_VARS)
            parser = ClaudeStream(schema=request.schema)
            argv = build_argv(request, mcp_config=config_file)
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
