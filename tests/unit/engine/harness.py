"""Drive the pure engine with scripted answers: no processes, no database, milliseconds."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field

from app.engine.commands import AskGate, ChooseEntry, Command, RunStage, SaveStage
from app.engine.decide import decide
from app.engine.events import EntryChosen, Event, GateJudged, StageFailed, StageFinished, TaskStarted
from app.engine.prompts import render_prompt
from app.engine.spec import RunSpec
from app.engine.state import TaskState
from app.spec.loader import load_pipeline
from app.spec.models import ProjectConfig
from app.spec.source import MappingReader

Answer = str | Callable[[str], str] | StageFailed


def spec_of(text: str, config: ProjectConfig | None = None) -> RunSpec:
    pipeline = load_pipeline(MappingReader({"agents.yaml": textwrap.dedent(text)}), "agents.yaml")
    return RunSpec(pipeline, config or ProjectConfig())


@dataclass
class Run:
    """A task driven to its next pause or end, with what happened on the way."""

    spec: RunSpec
    answers: dict[str, list[Answer]] = field(default_factory=dict)  # agent id -> answers in order
    verdicts: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # gated agent -> verdicts
    entry: str | None = None
    state: TaskState = field(default_factory=lambda: TaskState(task_id="T-000001", description="the task"))
    outputs: dict[int, str] = field(default_factory=dict)
    prompts: dict[int, str] = field(default_factory=dict)
    agents: list[str] = field(default_factory=list)  # agents in the order their stages started
    commands: list[Command] = field(default_factory=list)
    exit_codes: dict[str, list[int]] = field(default_factory=dict)

    def feed(self, event: Event) -> Run:
        pending: list[Event] = [event]
        while pending:
            self.state, commands = decide(self.spec, self.state, pending.pop(0))
            self.commands += commands
            pending += [e for c in commands if (e := self.answer(c)) is not None]
        return self

    def start(self, agent_id: str | None = None) -> Run:
        return self.feed(TaskStarted(agent_id))

    def answer(self, command: Command) -> Event | None:
        if isinstance(command, SaveStage) and command.output_text is not None:
            self.outputs[command.stage] = command.output_text
        if isinstance(command, RunStage):
            return self.run_stage(command)
        if isinstance(command, AskGate):
            decision, reason = self.verdicts[command.agent_id].pop(0)
            return GateJudged(command.stage, decision, reason)
        if isinstance(command, ChooseEntry):
            return EntryChosen(self.entry, "scripted")
        return None

    def run_stage(self, command: RunStage) -> Event:
        prompt = render_prompt(command.prompt, self.outputs)
        self.prompts[command.stage] = prompt
        self.agents.append(command.agent_id)
        queue = self.answers.get(command.agent_id, [])
        answer: Answer = queue.pop(0) if queue else f"{command.agent_id} done"
        if isinstance(answer, StageFailed):
            return StageFailed(command.stage, answer.error, answer.category)
        text = answer(prompt) if callable(answer) else answer
        codes = self.exit_codes.get(command.agent_id, [])
        return StageFinished(command.stage, text, exit_code=codes.pop(0) if codes else 0)

    def saved(self, stage: int) -> list[SaveStage]:
        return [c for c in self.commands if isinstance(c, SaveStage) and c.stage == stage]
