"""The one Protocol every runtime implements, and the events it streams to the driver.

A runtime turns a `RunRequest` into a stream of `RuntimeEvent`s ending with exactly one
`Finished`. It raises a `RuntimeFailed` subclass (app.errors) when the CLI produced no
answer: not installed, not authenticated, timed out, exited non-zero, or answered in a
format that was asked for but not given. Cancelling the iterating task (asyncio
cancellation) kills the child's whole process group at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from app.engine.commands import Decision
from app.spec.models import McpServer

JsonSchema = dict[str, Any]


@dataclass(frozen=True, slots=True)
class RunRequest:
    """Everything one stage's process needs. The prompt never goes on the command line."""

    prompt: str  # the rendered prompt: stdin (or a file) only, never argv
    workdir: Path  # the child's cwd (the workspace)
    timeout_s: float  # hard wall-clock limit; the process group is killed when it passes
    model: str | None = None
    flags: tuple[str, ...] = ()  # the agent's cli_flags, appended verbatim (the pipeline's choice)
    mcp: tuple[McpServer, ...] = ()  # turned into each CLI's own config format by the adapter
    schema: JsonSchema | None = None  # ask for a structured answer (gate verdicts, entry_point: auto)
    env: Mapping[str, str] = field(default_factory=dict)  # extra variables for the child (its own keys)
    argv: tuple[str, ...] = ()  # runtime `command` only: the words to run
    # a HANDOFF or vote line the engine reads from the free text: a runtime able to constrain its
    # generation (local) makes sure the answer ends with one; the others leave it to the prompt
    decision: Decision | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None  # None when the CLI reports no cost (gemini, codex)

    def __add__(self, other: Usage) -> Usage:
        cost = (
            None
            if self.cost_usd is None and other.cost_usd is None
            else (self.cost_usd or 0) + (other.cost_usd or 0)
        )
        return Usage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens, cost)


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer as it streams (for progress displays; not necessarily the final text)."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolUse:
    name: str
    detail: str = ""  # a short, human-readable summary of the input (never the whole input)


@dataclass(frozen=True, slots=True)
class Finished:
    """The last event: the final answer. `exit_code` matters for `command` (its verdict)."""

    output: str
    usage: Usage = Usage()
    structured: Any = None  # the parsed JSON answer when a schema was given
    exit_code: int = 0


RuntimeEvent = TextDelta | ToolUse | Finished


class Runtime(Protocol):
    """One adapter per CLI. `name` is the agents.yaml runtime name."""

    name: str

    def run(self, request: RunRequest) -> AsyncIterator[RuntimeEvent]:
        """Start the process and stream its events; raise RuntimeFailed when there is no answer."""
        ...

    def default_model(self) -> str | None:
        """The model used when the agent names none (None: the CLI's own default)."""
        ...
