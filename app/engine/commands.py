"""Commands: what `decide` asks the driver to do. Imperative; data only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.engine.directives import handoff_targets, has_line


@dataclass(frozen=True, slots=True)
class Shown:
    """A stored stage a prompt shows in full: its number, agent and status (for the header)."""

    number: int
    agent_id: str
    status: str


@dataclass(frozen=True, slots=True)
class ContextPlan:
    """Which stored stages the prompt of one stage shows, and how (see app/engine/context.py)."""

    strategy: str  # none | last_only | own | shared | both
    verbatim: tuple[Shown, ...] = ()  # shared part: stages shown in full, in order
    history: tuple[str, ...] = ()  # shared part: one line for each older stage
    own: tuple[Shown, ...] = ()  # the agent's own earlier stages not already shown (own / both)
    agent_id: str = ""

    def stages(self) -> set[int]:
        return {s.number for s in (*self.verbatim, *self.own)}


@dataclass(frozen=True, slots=True)
class PromptPlan:
    """Everything to render a stage's prompt except stored outputs, which the driver loads."""

    template: str
    input: str
    context: ContextPlan
    params: dict[str, Any] = field(default_factory=dict)
    chunks: str = ""  # the {{ chunks }} table
    transcript: tuple[tuple[int, str, int], ...] = ()  # session turns so far: (stage, agent, round)
    summary_request: str = ""  # session summary: the instruction appended for the summary agent

    def stages(self) -> set[int]:
        return self.context.stages() | {number for number, _, _ in self.transcript}


@dataclass(frozen=True, slots=True)
class Decision:
    """A choice the engine will read from one line of a stage's free-text output.

    `HANDOFF: <id>` lines under `condition: auto`, or a session turn's consensus keyword. A
    runtime that can constrain generation (`local`) appends one of `lines`, asked with
    `question`, when the text it generated has made no such choice; the others leave the
    choice to the agent's prompt."""

    kind: str  # handoff | vote
    lines: tuple[str, ...]  # the allowed lines, each a complete choice the engine understands
    question: str  # how to ask for one of them

    def made_in(self, output: str) -> bool:
        """True when the output already holds a choice (a valid HANDOFF target, or a vote line)."""
        if self.kind == "vote":
            return any(has_line(output, line) for line in self.lines)
        allowed = {line.split(":", 1)[1].strip() for line in self.lines}
        return any(target in allowed for target in handoff_targets(output))


@dataclass(frozen=True, slots=True)
class RunStage:
    stage: int
    branch: str
    agent_id: str
    kind: str  # agent | turn | summary
    task_name: str
    runtime: str
    model: str | None
    timeout_s: float
    prompt: PromptPlan
    flags: tuple[str, ...] = ()
    argv: tuple[str, ...] = ()
    attempt: int = 1
    delay_s: float = 0.0  # retry backoff before starting
    retry_reason: str | None = None
    decision: Decision | None = None  # a HANDOFF or vote choice the runtime may constrain


@dataclass(frozen=True, slots=True)
class AskGate:
    stage: int
    agent_id: str
    runtime: str
    model: str | None
    timeout_s: float
    system_prompt: str
    message: str  # rendered gate prompt + the output
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class ChooseEntry:
    runtime: str
    model: str | None
    timeout_s: float
    message: str
    choices: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StopStages:
    """Kill the processes of these running stages now (cancel, or a sibling branch failed)."""

    stages: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SaveStage:
    """Create or update a stage record (persisted in the same transaction as the state)."""

    stage: int
    agent_id: str
    branch: str
    kind: str
    task_name: str = ""
    status: str = "running"
    input_text: str | None = None
    output_text: str | None = None
    gate_result: str | None = None
    reject_reason: str | None = None
    error: str | None = None
    retry_count: int = 0
    retry_reason: str | None = None
    runtime: str | None = None
    model: str | None = None
    usage: tuple[int, int, float | None] | None = None  # input tokens, output tokens, cost
    finished: bool = False


@dataclass(frozen=True, slots=True)
class Notify:
    """Something a watching human should see (CLI progress, dashboard, run card)."""

    kind: str  # stage_started, stage_finished, gate_waiting, question, note, task_ended...
    text: str
    stage: int | None = None
    agent_id: str | None = None


Command = RunStage | AskGate | ChooseEntry | StopStages | SaveStage | Notify
