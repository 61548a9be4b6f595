"""The state of one task, as data: what every branch is doing and what the task has seen.

`TaskState` is split in two when persisted: the *core* (branches, counters, chunks — small,
bounded) is written with every change and snapshotted before every stage (restart), while
`history` (one short summary per finished stage) lives in memory and is rebuilt from the
stage records when a task is loaded. Full outputs live only in the store: the engine asks
for the ones a prompt needs (`PromptPlan`), so memory does not grow with the task.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class TaskStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    AWAITING_GATE = "awaiting_gate"
    AWAITING_HUMAN_INPUT = "awaiting_human_input"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STALLED = "stalled"


ENDED = {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.STALLED}
BranchStatus = Literal["running", "awaiting_gate", "awaiting_human_input", "done", "failed", "cancelled"]
StepKind = Literal["agent", "gate", "turn", "summary", "entry"]


class Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Chunk(Data):
    id: str
    description: str
    status: Literal["pending", "in_progress", "done"] = "pending"
    created_by: str = "config"
    completed_by: str | None = None


@dataclass(frozen=True, slots=True)
class StageSummary:
    """One finished stage, as the context window's history line needs it.

    A plain slotted dataclass, not a model: a task holds one per finished stage, and at a
    thousand stages a model's per-instance dict and field set would be most of the task's memory.
    """

    number: int
    agent_id: str
    branch: str
    status: str
    line: str = ""  # first meaningful output line, at most 120 characters
    kind: str = "agent"
    # its line in `{{ context }}`'s history, formatted once: every later prompt shows it again
    entry: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        entry = f"- stage {self.number} {self.agent_id}({self.status}): {self.line}"
        object.__setattr__(self, "entry", entry)


class Session(Data):
    """A session in progress on a branch."""

    session_id: str
    topic: str
    round: int = 1
    turn: int = 0  # index into this round's speaking order
    votes: dict[str, bool] = Field(default_factory=dict)  # each participant's latest vote
    turns: tuple[tuple[int, str, int], ...] = ()  # the transcript so far: (stage, agent, round)
    consensus: bool = False


class Step(Data):
    """What a branch does now, or next."""

    kind: StepKind
    agent_id: str
    input: str = ""
    stage: int | None = None  # the stage number once it started
    attempt: int = 1  # runtime attempts (retry policy), or gate verdict requests
    asked: bool = False  # human_input before: already answered for this step
    output: str = ""  # kind gate: the output being judged


class Question(Data):
    agent_id: str
    questions: tuple[str, ...]
    mode: Literal["before", "on_demand"]
    input: str = ""  # the input the agent had (or will have)
    stage: int | None = None  # on_demand: the stage that asked
    output: str = ""  # on_demand: the asker's output


class GateWait(Data):
    agent_id: str
    stage: int
    input: str
    output: str


class Branch(Data):
    id: str
    status: BranchStatus = "running"
    step: Step | None = None
    session: Session | None = None
    question: Question | None = None
    gate: GateWait | None = None
    visible: tuple[tuple[str, int], ...] = ()  # (ancestor branch, last stage it shows) up to the fork
    last_stage: int | None = None  # this branch's last finished stage

    def sees(self, summary: StageSummary) -> bool:
        if summary.branch == self.id:
            return True
        return any(summary.branch == b and summary.number <= upto for b, upto in self.visible)


class TaskState(Data):
    task_id: str
    pipeline: str = "default"
    description: str = ""
    status: TaskStatus = TaskStatus.PENDING
    kind: Literal["run", "fix"] = "run"
    params: dict[str, Any] = Field(default_factory=dict)
    comment_params: tuple[str, ...] = ()  # the params a GitHub comment gave (`--param`), by name
    entry_agent: str | None = None  # the start agent (restart from stage 1 keeps it)
    next_stage: int = 1
    cost_usd: float = 0.0  # every stage's and gate's cost so far (github.budget.max_cost_usd)
    next_branch: int = 2
    branches: tuple[Branch, ...] = ()
    rejections: dict[str, int] = Field(default_factory=dict)  # per gate, over the whole task
    chunks: tuple[Chunk, ...] = ()
    error: str | None = None
    failed_stage: int | None = None
    notes: tuple[str, ...] = ()
    history: tuple[StageSummary, ...] = ()  # not in the core: rebuilt from stage records

    def branch(self, branch_id: str) -> Branch:
        for branch in self.branches:
            if branch.id == branch_id:
                return branch
        raise KeyError(branch_id)

    def with_branch(self, branch: Branch) -> TaskState:
        return self.model_copy(
            update={"branches": tuple(branch if b.id == branch.id else b for b in self.branches)}
        )

    def running_stages(self) -> list[int]:
        return [
            b.step.stage
            for b in self.branches
            if b.status == "running" and b.step and b.step.stage is not None
        ]

    def core(self) -> dict[str, Any]:
        """The persisted part (everything but history), as JSON-ready data."""
        return self.model_dump(mode="json", exclude={"history"})

    @classmethod
    def from_core(cls, core: dict[str, Any], history: tuple[StageSummary, ...] = ()) -> TaskState:
        return cls.model_validate({**core, "history": history})
