"""Events: facts the driver feeds into `decide`. Past tense; data only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None


@dataclass(frozen=True, slots=True)
class TaskStarted:
    agent_id: str | None = None  # --agent; None = the pipeline's entry point


@dataclass(frozen=True, slots=True)
class EntryChosen:
    """The answer to ChooseEntry: an agent id, or None when the model gave no usable answer."""

    agent_id: str | None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class StageFinished:
    stage: int
    output: str
    usage: Usage = Usage()
    exit_code: int = 0


@dataclass(frozen=True, slots=True)
class StageFailed:
    """The runtime produced no answer (not installed, timed out, exited non-zero...)."""

    stage: int
    error: str
    category: str = "unknown"
    partial_output: str = ""


@dataclass(frozen=True, slots=True)
class GateJudged:
    stage: int
    decision: str  # approved | rejected
    reason: str = ""
    usage: Usage = Usage()


@dataclass(frozen=True, slots=True)
class GateErrored:
    """The gate runtime failed or its answer was no verdict: an infrastructure error, not a rejection."""

    stage: int
    error: str


@dataclass(frozen=True, slots=True)
class HumanDecided:
    decision: str  # approved | rejected
    reason: str = ""
    by: str = ""
    agent_id: str | None = None  # which waiting gate, when several wait


@dataclass(frozen=True, slots=True)
class HumanAnswered:
    answer: str
    by: str = ""
    agent_id: str | None = None


@dataclass(frozen=True, slots=True)
class CancelRequested:
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TimeBudgetSpent:
    """The driver's clock says the task has run `minutes`, at least `github.budget.max_minutes`."""

    minutes: float


@dataclass(frozen=True, slots=True)
class Resumed:
    """The task is picked up again after its process died: re-run the stages that were running."""


@dataclass(frozen=True, slots=True)
class ChunksEdited:
    """A user edited chunks (CLI or API): add a description, or set/remove an id."""

    action: str  # add | done | remove | status
    value: str
    status: str = "done"
    extra: dict[str, Any] = field(default_factory=dict)


Event = (
    TaskStarted
    | EntryChosen
    | StageFinished
    | StageFailed
    | GateJudged
    | GateErrored
    | HumanDecided
    | HumanAnswered
    | CancelRequested
    | TimeBudgetSpent
    | Resumed
    | ChunksEdited
)
