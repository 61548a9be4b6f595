"""Gemini CLI as a runtime: its argv, and a pure parser of its stream-json output.

    gemini -p "<short instruction>" -o stream-json --skip-trust [-m M] [cli_flags…]   (prompt on stdin)

gemini appends the `-p` text to what it reads on stdin (llm-clis.md 2.1), so the task goes on stdin
and `-p` only says so. `--skip-trust` is mandatory headless (else exit 55).

Output (2.2): JSONL; the answer is the concatenation of the assistant `message` deltas, usage is in
the final `result.stats` (no cost). Failures (2.3): `result.status == "error"` on stdout, or a
non-zero exit (41 = no or bad auth method, API errors exit with HTTP status mod 256).

gemini has no schema flag: with a schema the prompt asks for only a JSON object, and the answer is
parsed strictly (the whole text, or its last fenced json block); anything else is BadAnswer.

Every run gets its own GEMINI_CLI_HOME (a folder of the run's `Stage`): gemini has no flag for
what the adapter must set, and writing `.gemini/settings.json` into the workspace would change the
repository. Its `.gemini/settings.json` is the user's settings with
- `general.maxAttempts: 1`: gemini retries a 429 ten times with 5-30 s pauses (and its model router
  five times before that) — minutes before an `llm` gate hears of it; the agent's `retry:` policy
  is the one retry layer (llm-clis.md section 8);
- `mcpServers` replaced by the pipeline's, each `trust: true`: headless gemini does not offer an
  untrusted server's tools to the model at all, and the server is the pipeline's own choice;
and links to the user's Google-login files. This hides the rest of the user's gemini home (memory,
extensions, saved sessions) from the run: acceptable for a pipeline stage.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import BadAnswer, NotAuthenticated
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
    summarize_tool_input,
    tail,
)
from app.runtimes.process import ProcessRuntime, Stage, allowed_env, run_cli
from app.spec.models import McpServer

NAME = "gemini"
INSTALL_HINT = "npm install -g @google/gemini-cli@0.61.0 (the version tests/conformance runs)"
CREDENTIAL_VARS = (
    *("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_CLOUD_PROJECT"),
    *("GOOGLE_CLOUD_LOCATION", "GOOGLE_GENAI_USE_GCA", "GOOGLE_GEMINI_BASE_URL", "GEMINI_CLI_HOME"),
    "GOOGLE_APPLICATION_CREDENTIALS",  # Vertex AI service accounts
)
PROMPT_FLAG_TEXT = "Carry out the task given above."  # appended by gemini to the stdin text
SCHEMA_INSTRUCTION = (
    "Answer with only a JSON object that matches the JSON Schema below: no prose, no code fence.\n"
    "JSON Schema: {schema}"
)
AUTH_EXIT_CODE = 41
DIAGNOSIS = Diagnosis(
    NAME,
    auth_markers=(
        *("Please set an Auth method", "Invalid auth method", "API key not valid", "API_KEY_INVALID"),
        "must specify the GEMINI_API_KEY",  # no key (0.61)
    ),
    rate_markers=("status 429", "RESOURCE_EXHAUSTED", "Resource has been exhausted"),
    auth_hint="check GEMINI_API_KEY (or the Vertex AI variables, or a Google login)",
)
# gemini retries its model router's call five times, 5-30 s apart, whatever general.maxAttempts
# says: its first "Attempt 1 failed with status 429" on stderr ends the run (the group is killed)
RETRYING_A_429 = re.compile(r"Attempt \d+ failed with status 429")
LOGIN_FILES = ("oauth_creds.json", "google_accounts.json")  # a Google login's cached credentials
HOME_NAME = "gemini-home"  # the run's GEMINI_CLI_HOME, a folder of its Stage
MAX_ATTEMPTS = 1  # per model call (general.maxAttempts): fail fast, the agent's retry policy applies


def build_argv(request: RunRequest) -> list[str]:
    argv = [NAME, "-p", PROMPT_FLAG_TEXT, "-o", "stream-json", "--skip-trust"]
    if request.model:
        argv += ["-m", request.model]
    return [*argv, *request.flags]


def build_stdin(request: RunRequest) -> str:
    if request.schema is None:
        return request.prompt
    return f"{request.prompt}\n\n{SCHEMA_INSTRUCTION.format(schema=json.dumps(request.schema))}"


def gemini_dir(environ: Mapping[str, str]) -> Path:
    """The user's `.gemini` folder: under GEMINI_CLI_HOME when set, else under HOME."""
    return Path(environ.get("GEMINI_CLI_HOME") or environ.get("HOME") or "~").expanduser() / ".gemini"


def has_credentials(environ: Mapping[str, str]) -> bool:
    """An AI Studio key, a complete Vertex AI setup, or a cached Google login (llm-clis.md 2.4)."""
    if environ.get("GEMINI_API_KEY"):
        return True
    vertex_project = environ.get("GOOGLE_CLOUD_PROJECT") and environ.get("GOOGLE_CLOUD_LOCATION")
    if environ.get("GOOGLE_GENAI_USE_VERTEXAI") == "true" and (
        environ.get("GOOGLE_API_KEY") or vertex_project
    ):
        return True
    return (gemini_dir(environ) / "oauth_creds.json").is_file()


def run_settings(user_settings: Mapping[str, Any], servers: Iterable[McpServer]) -> dict[str, Any]:
    """The user's settings with one attempt per model call and the pipeline's (trusted) MCP servers."""
    general = {**as_dict(user_settings.get("general")), "maxAttempts": MAX_ATTEMPTS}
    mcp = {launch.name: {**launch.as_json(), "trust": True} for launch in launches(servers)}
    return {**user_settings, "general": general, "mcpServers": mcp}


def _read_user_settings(user_dir: Path) -> dict[str, Any]:
    """The user's settings.json; {} when missing or not plain JSON (gemini also accepts comments)."""
    try:
        value = json.loads((user_dir / "settings.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def run_home(servers: tuple[McpServer, ...], *, environ: Mapping[str, str], stage: Stage) -> Path:
    """The run's GEMINI_CLI_HOME: its settings (`run_settings`) and links to the user's login."""
    user_dir = gemini_dir(environ)
    settings = run_settings(_read_user_settings(user_dir), servers)
    run_dir = stage.file(f"{HOME_NAME}/.gemini/settings.json", json.dumps(settings, indent=2)).parent
    for name in LOGIN_FILES:
        if (user_dir / name).is_file():
            stage.link(f"{HOME_NAME}/.gemini/{name}", user_dir / name)
    return run_dir.parent


def gemini_usage(stats: Mapping[str, Any]) -> Usage:
    return Usage(
        input_tokens=as_int(stats.get("input_tokens")), output_tokens=as_int(stats.get("output_tokens"))
    )


@dataclass(slots=True)
class GeminiStream:
    """Folds stream-json lines into events; `finish` turns the deltas and `result` into the answer."""

    schema: JsonSchema | None = None
    deltas: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None

    def feed(self, line: str) -> list[RuntimeEvent]:
        event = json_object(line)
        if event is None:
            return []
        kind = event.get("type")
        if kind == "message" and event.get("role") == "assistant":
            text = str(event.get("content", ""))
            self.deltas.append(text)
            return [TextDelta(text)]
        if kind == "tool_use":
            name = str(event.get("tool_name") or "tool")
            return [ToolUse(name, summarize_tool_input(event.get("parameters")))]
        if kind == "result":
            self.result = event
        return []  # init, the echoed user message, tool_result, non-fatal error events

    def finish(self, *, exit_code: int, stderr_tail: str) -> Finished:
        result = self.result
        if result is not None and result.get("status") == "error":
            message = str(as_dict(result.get("error")).get("message") or "result status error")
            raise failure(message, exit_code=exit_code, stderr_tail=stderr_tail, diagnosis=DIAGNOSIS)
        if exit_code == AUTH_EXIT_CODE and DIAGNOSIS.classify(stderr_tail) is None:
            raise NotAuthenticated(
                f"{NAME}: authentication failed: {DIAGNOSIS.auth_hint} ({tail(stderr_tail)})"
            )
        if exit_code != 0:
            raise exit_failure(exit_code, stderr_tail, diagnosis=DIAGNOSIS)
        output = "".join(self.deltas)
        if result is None:
            raise BadAnswer(f"{NAME} exited 0 without a result line", partial_output=output)
        structured = None if self.schema is None else parse_json_answer(output, self.schema, runtime=NAME)
        return Finished(
            output=output, usage=gemini_usage(as_dict(result.get("stats"))), structured=structured
        )


class GeminiRuntime(ProcessRuntime):
    """`runtime: gemini`."""

    name = NAME

    def default_model(self) -> str | None:
        return None  # the CLI's own default ("auto", with its router call)

    async def run(self, request: RunRequest) -> AsyncIterator[RuntimeEvent]:
        with self.launcher.stage() as stage:
            user_env = allowed_env(request.env, credentials=CREDENTIAL_VARS)
            home = run_home(request.mcp, environ=user_env, stage=stage)
            env = allowed_env({**request.env, "GEMINI_CLI_HOME": str(home)}, credentials=CREDENTIAL_VARS)
            parser = GeminiStream(schema=request.schema)
            stdin = build_stdin(request)
            events = run_cli(
                build_argv(request),
                parser,
                stdin=stdin,
                request=request,
                env=env,
                install_hint=INSTALL_HINT,
                stage=stage,
                give_up=RETRYING_A_429,
            )
            async with contextlib.aclosing(events):
                async for event in events:
                    yield event
