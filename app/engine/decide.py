"""decide(spec, state, event) -> (state, commands): the whole behaviour of a task, with no I/O.

Theory of operation. A task is a set of *branches* (one, until a handoff fans out). Each
branch holds one *step*: the agent, session turn, session summary, gate verdict or entry
choice it does now. Starting a step allocates a stage number (the task fails past
`max_stages`, session turns included) and emits `RunStage`; its result comes back as an
event, which records the stage, applies the agent's gate, and routes the handoffs: the first
target continues the branch, every further target starts a new branch that sees the stages
up to the fork. A branch ends when no handoff matches; the task ends when every branch has
ended. Humans (gates, questions) pause a branch; the task's status is derived from its
branches. Nothing here reads a clock, sleeps, or starts a process: the driver does.
"""

from __future__ import annotations

from operator import attrgetter

from app.engine import gating, humans, sessions
from app.engine.commands import (
    ChooseEntry,
    Command,
    Decision,
    Notify,
    PromptPlan,
    RunStage,
    SaveStage,
    StopStages,
)
from app.engine.context import plan_context, summary_line
from app.engine.events import (
    CancelRequested,
    ChunksEdited,
    EntryChosen,
    Event,
    GateErrored,
    GateJudged,
    HumanAnswered,
    HumanDecided,
    Resumed,
    StageFailed,
    StageFinished,
    TaskStarted,
    TimeBudgetSpent,
)
from app.engine.gates import entry_message
from app.engine.routing import handoff_decision, route
from app.engine.spec import RunSpec
from app.engine.state import ENDED, Branch, StageSummary, Step, TaskState, TaskStatus
from app.spec.models import Agent


def decide(spec: RunSpec, state: TaskState, event: Event) -> tuple[TaskState, list[Command]]:
    """Fold one event into the task. Pure: no I/O, no clock, no randomness."""
    machine = Machine(spec, state)
    machine.handle(event)
    return machine.finish()


class Machine:
    """One decision in progress: the state so far and the commands it produced."""

    def __init__(self, spec: RunSpec, state: TaskState) -> None:
        self.spec = spec
        self.state = state
        self.commands: list[Command] = []

    # ---- dispatch ---------------------------------------------------------------------------

    def handle(self, event: Event) -> None:  # noqa: C901 - one case per event type
        if self.state.status in ENDED and not isinstance(event, ChunksEdited):
            return  # a late result of a cancelled or failed task changes nothing
        match event:
            case TaskStarted():
                self.on_started(event)
            case EntryChosen():
                self.on_entry_chosen(event)
            case StageFinished():
                self.on_stage_finished(event)
            case StageFailed():
                self.on_stage_failed(event)
            case GateJudged():
                gating.on_gate_judged(self, event)
            case GateErrored():
                gating.on_gate_errored(self, event)
            case HumanDecided():
                gating.on_human_decided(self, event)
            case HumanAnswered():
                humans.on_human_answered(self, event)
            case CancelRequested():
                self.on_cancel(event)
            case TimeBudgetSpent():
                self.on_time_spent(event)
            case Resumed():
                self.on_resumed()
            case ChunksEdited():
                self.state = sessions.edit_chunks(self.state, event)

    def finish(self) -> tuple[TaskState, list[Command]]:
        if self.state.status not in ENDED:
            self.state = self.state.model_copy(update={"status": derive_status(self.state)})
            if self.state.status in ENDED:
                self.notify("task_ended", f"Task {self.state.task_id} {self.state.status.value}")
        return self.state, self.commands

    def notify(self, kind: str, text: str, *, stage: int | None = None, agent_id: str | None = None) -> None:
        self.commands.append(Notify(kind, text, stage, agent_id))

    # ---- starting --------------------------------------------------------------------------

    def on_started(self, event: TaskStarted) -> None:
        pipeline = self.spec.pipeline
        if event.agent_id is not None:
            self.begin(event.agent_id)
        elif pipeline.entry_point == "auto" and len(pipeline.agents) > 1:
            self.put(Branch(id="1", step=Step(kind="entry", agent_id="")))
            self.ask_entry()
        else:
            self.begin(pipeline.first.id)

    def begin(self, agent_id: str) -> None:
        self.state = self.state.model_copy(update={"entry_agent": agent_id})
        self.put(Branch(id="1"))
        self.start("1", Step(kind="agent", agent_id=agent_id, input=self.state.description))

    def ask_entry(self) -> None:
        pipeline = self.spec.pipeline
        llms = [a.runtime for a in pipeline.agents if a.runtime not in (None, "command")]
        runtime = self.spec.config.gate.runtime or (llms[0] if llms else None)
        if runtime is None:
            self.on_entry_chosen(EntryChosen(None, "no LLM runtime in the pipeline to ask"))
            return
        catalogue = [(a.id, _catalogue_line(a)) for a in pipeline.agents]
        self.commands.append(
            ChooseEntry(
                runtime,
                self.spec.config.gate.model,
                self.spec.config.gate.timeout,
                entry_message(self.state.description, catalogue),
                pipeline.ids,
            )
        )

    def on_entry_chosen(self, event: EntryChosen) -> None:
        agent_id = event.agent_id
        if agent_id is None or agent_id not in self.spec.pipeline.ids:
            agent_id = self.spec.pipeline.first.id
            note = (
                f"entry_point auto: no usable answer ({event.detail or 'none'}); starting with '{agent_id}'"
            )
            self.note(note)
        self.state = self.state.model_copy(update={"entry_agent": agent_id})
        self.start("1", Step(kind="agent", agent_id=agent_id, input=self.state.description))

    # ---- steps -----------------------------------------------------------------------------

    def put(self, branch: Branch) -> None:
        others = tuple(b for b in self.state.branches if b.id != branch.id)
        self.state = self.state.model_copy(update={"branches": (*others, branch)})

    def set_branch(self, branch: Branch) -> None:
        self.state = self.state.with_branch(branch)

    def start(self, branch_id: str, step: Step) -> None:
        """Give a branch its next step and launch it."""
        branch = self.state.branch(branch_id).model_copy(update={"step": step, "status": "running"})
        self.set_branch(branch)
        if step.kind == "agent" and self.spec.agent(step.agent_id).type == "session":
            sessions.begin(self, branch, step)
            return
        if step.kind == "agent" and humans.asks_before(self, branch, step):
            return
        self.launch(branch_id)

    def allocate(self) -> int | None:
        """The next stage number, or None (and the task failed) past max_stages."""
        number = self.state.next_stage
        limit = self.spec.config.pipeline.max_stages
        budget = self.spec.config.github.budget
        if budget.max_cost_usd is not None and self.state.cost_usd >= budget.max_cost_usd:
            self.fail(
                f"stopped after ${self.state.cost_usd:.2f} spent: budget max_cost_usd {budget.max_cost_usd:g}"
            )
            return None
        if budget.max_stages is not None and number > budget.max_stages and budget.max_stages < limit:
            self.fail(f"stopped after {number - 1} stages: budget max_stages {budget.max_stages}")
            return None
        if number > limit:
            self.fail(f"Exceeded maximum number of stages ({limit}).")
            return None
        self.state = self.state.model_copy(update={"next_stage": number + 1})
        return number

    def launch(self, branch_id: str, *, delay_s: float = 0.0, retry_reason: str | None = None) -> None:
        """Emit the RunStage of a branch's step, allocating its stage number when it has none."""
        branch = self.state.branch(branch_id)
        step = branch.step
        assert step is not None
        number = step.stage if step.stage is not None else self.allocate()
        if number is None:
            return
        step = step.model_copy(update={"stage": number})
        branch = branch.model_copy(update={"step": step, "status": "running"})
        self.set_branch(branch)
        self.commands.append(self.run_command(branch, step, number, delay_s, retry_reason))
        self.notify("stage_started", f"stage {number}: {step.agent_id}", stage=number, agent_id=step.agent_id)

    def run_command(
        self, branch: Branch, step: Step, number: int, delay_s: float, retry: str | None
    ) -> RunStage:
        agent = self.spec.agent(step.agent_id)
        runtime = agent.runtime or "claude"
        command = RunStage(
            stage=number,
            branch=branch.id,
            agent_id=agent.id,
            kind=step.kind,
            task_name=self.task_name(agent, branch, step),
            runtime=runtime,
            model=agent.model,
            timeout_s=self.spec.timeout_for(runtime),
            prompt=self.prompt_plan(agent, branch, step),
            flags=tuple(agent.flags),
            argv=tuple(agent.argv),
            attempt=step.attempt,
            delay_s=delay_s,
            retry_reason=retry,
            decision=self.decision_for(agent, branch, step),
        )
        self.commands.append(
            SaveStage(
                number,
                agent.id,
                branch.id,
                step.kind,
                command.task_name,
                "running",
                input_text=step.input,
                runtime=runtime,
                model=agent.model,
                retry_count=step.attempt - 1,
                retry_reason=retry,
            )
        )
        return command

    def decision_for(self, agent: Agent, branch: Branch, step: Step) -> Decision | None:
        """The line-shaped choice this stage's output should make: a session vote, or an auto handoff."""
        if step.kind == "turn" and branch.session is not None:
            return sessions.vote_decision(self.spec.agent(branch.session.session_id))
        if step.kind == "agent":
            return handoff_decision(agent, self.spec.pipeline)
        return None

    def task_name(self, agent: Agent, branch: Branch, step: Step) -> str:
        if step.kind == "turn" and branch.session is not None:
            return f"session:{branch.session.session_id}:r{branch.session.round}"
        if step.kind == "summary":
            return "session:summary"
        return agent.handoffs[0].task if agent.handoffs and agent.handoffs[0].task else "execute"

    def prompt_plan(self, agent: Agent, branch: Branch, step: Step) -> PromptPlan:
        strategy = agent.context_strategy
        if step.attempt > 1 and agent.retry is not None and agent.retry.fallback_context_strategy:
            strategy = agent.retry.fallback_context_strategy
        context = plan_context(strategy, agent.context_window, agent.id, branch, self.state.history)
        return sessions.prompt_plan(self, agent, branch, step, context)

    # ---- results ---------------------------------------------------------------------------

    def branch_at(self, stage: int) -> Branch | None:
        for branch in self.state.branches:
            if branch.step is not None and branch.step.stage == stage and branch.status == "running":
                return branch
        return None

    def on_stage_finished(self, event: StageFinished) -> None:
        branch = self.branch_at(event.stage)
        if branch is None or branch.step is None or branch.step.kind == "gate":
            return  # stale: a cancelled or restarted stage
        step = branch.step
        usage = (event.usage.input_tokens, event.usage.output_tokens, event.usage.cost_usd)
        if step.kind in ("turn", "summary"):
            sessions.on_turn_finished(self, branch, step, event.output, usage)
            return
        agent = self.spec.agent(step.agent_id)
        questions = humans.questions_in(self, agent, event.output)
        if questions:
            humans.ask_on_demand(self, branch, step, event.output, questions, usage)
            return
        gating.judge(self, branch, agent, step, event.output, event.exit_code, usage)

    def record(
        self,
        branch: Branch,
        step: Step,
        output: str,
        *,
        status: str,
        usage: tuple[int, int, float | None] | None = None,
        gate_result: str | None = None,
        reason: str | None = None,
        finished: bool = True,
        error: str | None = None,
    ) -> None:
        """Save a finished stage and remember its summary for later prompts."""
        assert step.stage is not None
        if usage is not None and usage[2]:
            self.state = self.state.model_copy(update={"cost_usd": self.state.cost_usd + usage[2]})
        self.commands.append(
            SaveStage(
                step.stage,
                step.agent_id,
                branch.id,
                step.kind,
                status=status,
                output_text=output,
                gate_result=gate_result,
                reject_reason=reason,
                usage=usage,
                finished=finished,
                error=error,
                retry_count=step.attempt - 1,
            )
        )
        if finished:
            summary = StageSummary(
                number=step.stage,
                agent_id=step.agent_id,
                branch=branch.id,
                status=status,
                line=summary_line(output),
                kind="agent" if step.kind == "gate" else step.kind,  # as stored: a judged stage is an agent's
            )
            history = self.state.history
            if step.stage in map(attrgetter("number"), history):  # a stage finished again
                history = tuple(h for h in history if h.number != step.stage)
            history = (*history, summary)
            self.state = self.state.model_copy(update={"history": history})
            self.set_branch(self.state.branch(branch.id).model_copy(update={"last_stage": step.stage}))
            self.notify(
                "stage_finished",
                f"stage {step.stage}: {step.agent_id} {status}",
                stage=step.stage,
                agent_id=step.agent_id,
            )

    # ---- gates -----------------------------------------------------------------------------

    # ---- routing ---------------------------------------------------------------------------

    def route_from(
        self,
        branch_id: str,
        agent: Agent,
        stage: int,
        stage_input: str,
        output: str,
        verdict: str | None,
        reason: str | None,
    ) -> None:
        routed = route(agent, stage_input, output, verdict, reason, self.spec.pipeline)
        branch = self.state.branch(branch_id)
        if routed.problem is not None:
            self.fail_routing(branch, agent, stage, output, routed.problem)
            return
        if routed.note is not None:
            self.note(routed.note, stage=stage, agent_id=agent.id)
        if not routed.targets:
            self.end_branch(branch, agent, verdict, reason)
            return
        (first, payload), *others = routed.targets
        self.start(branch_id, Step(kind="agent", agent_id=first, input=payload))
        for target, extra_payload in others:
            if self.state.status in ENDED:
                return
            self.fork(branch, stage, target, extra_payload)

    def fail_routing(self, branch: Branch, agent: Agent, stage: int, output: str, problem: str) -> None:
        """A finished stage whose output cannot be routed: recorded as failed, and the task fails."""
        if branch.step is not None and branch.step.stage == stage:
            self.record(branch, branch.step, output, status="failed", error=problem)
        else:  # a session's result, recorded by the session
            self.commands.append(
                SaveStage(
                    stage, agent.id, branch.id, "session", status="failed", error=problem, finished=True
                )
            )
        self.fail(f"Stage {stage} ({agent.id}) failed: {problem}", stage=stage)

    def note(self, text: str, *, stage: int | None = None, agent_id: str | None = None) -> None:
        """Keep a remark with the task (shown by `aqm status` and on GitHub) and publish it."""
        self.state = self.state.model_copy(update={"notes": (*self.state.notes, text)})
        self.notify("note", text, stage=stage, agent_id=agent_id)

    def fork(self, parent: Branch, stage: int, agent_id: str, payload: str) -> None:
        child_id = f"{parent.id}.{self.state.next_branch}"
        self.state = self.state.model_copy(update={"next_branch": self.state.next_branch + 1})
        child = Branch(id=child_id, visible=(*parent.visible, (parent.id, stage)), last_stage=stage)
        self.put(child)
        self.notify("fork", f"branch {child_id}: {agent_id}", stage=stage, agent_id=agent_id)
        self.start(child_id, Step(kind="agent", agent_id=agent_id, input=payload))

    def end_branch(self, branch: Branch, agent: Agent, verdict: str | None, reason: str | None) -> None:
        if verdict == "rejected":
            what = "exited non-zero" if agent.runtime == "command" and agent.gate is None else "gate rejected"
            self.fail(
                f"'{agent.id}' {what} and no handoff matches: {(reason or '').strip()[:500]}".rstrip(": ")
            )
            return
        self.set_branch(self.state.branch(branch.id).model_copy(update={"status": "done", "step": None}))

    # ---- failures, retries, humans, cancel -------------------------------------------------

    def on_stage_failed(self, event: StageFailed) -> None:
        branch = self.branch_at(event.stage)
        if branch is None or branch.step is None:
            return
        step = branch.step
        agent = self.spec.agent(step.agent_id)
        retry = agent.retry
        if retry is not None and step.attempt <= retry.max_retries:
            again = step.model_copy(update={"attempt": step.attempt + 1})
            self.set_branch(branch.model_copy(update={"step": again}))
            self.launch(
                branch.id, delay_s=retry.backoff, retry_reason=f"{event.category}: {event.error}"[:500]
            )
            return
        message = f"Stage {event.stage} ({step.agent_id}) failed: {event.error}"
        if step.kind in ("turn", "summary") and branch.session is not None:
            message = f"Session '{branch.session.session_id}': {message}"
        self.record(branch, step, event.partial_output, status="failed", error=event.error)
        self.fail(message, stage=event.stage)

    def fail(self, message: str, *, stage: int | None = None) -> None:
        running = tuple(n for n in self.state.running_stages() if n != stage)
        if running:
            self.commands.append(StopStages(running))
        branches = tuple(
            b.model_copy(update={"status": "failed" if b.status == "running" else b.status})
            for b in self.state.branches
        )
        self.state = self.state.model_copy(
            update={
                "status": TaskStatus.FAILED,
                "error": message,
                "failed_stage": stage or self.state.failed_stage,
                "branches": branches,
            }
        )
        self.notify("task_ended", f"Task {self.state.task_id} failed: {message}", stage=stage)

    def save_running_stages_cancelled(self, error: str) -> None:
        """Record every stage that runs now as cancelled, ended, with `error`."""
        for branch in self.state.branches:
            step = branch.step
            if branch.status == "running" and step is not None and step.stage is not None:
                self.commands.append(
                    SaveStage(
                        step.stage,
                        step.agent_id,
                        branch.id,
                        step.kind,
                        status="cancelled",
                        error=error,
                        finished=True,
                    )
                )

    def on_cancel(self, event: CancelRequested) -> None:
        running = tuple(self.state.running_stages())
        if running:
            self.commands.append(StopStages(running))
        self.save_running_stages_cancelled(event.reason or "cancelled")
        branches = tuple(  # a cancelled branch waits for nobody any more
            b.model_copy(update={"status": "cancelled", "gate": None, "question": None})
            if b.status not in ("done", "failed")
            else b
            for b in self.state.branches
        )
        reason = event.reason or "cancelled"
        self.state = self.state.model_copy(
            update={"status": TaskStatus.CANCELLED, "branches": branches, "error": reason}
        )
        self.notify("task_ended", f"Task {self.state.task_id} cancelled: {reason}")

    def on_time_spent(self, event: TimeBudgetSpent) -> None:
        """`github.budget.max_minutes` is spent: stop what runs (recorded as cancelled) and fail."""
        limit = self.spec.config.github.budget.max_minutes
        if limit is None or event.minutes < limit:
            return
        spent = f"{event.minutes:.1f} min" if event.minutes >= 1 else f"{event.minutes * 60:.0f} s"
        message = f"stopped after {spent}: budget max_minutes {limit:g}"
        self.save_running_stages_cancelled(message)
        self.fail(message)

    def on_resumed(self) -> None:
        """Re-run whatever was running when the task's process died (same stage numbers)."""
        for branch in self.state.branches:
            step = branch.step
            if branch.status != "running" or step is None:
                continue
            if step.kind == "entry":
                self.ask_entry()
            elif step.kind == "gate":
                gating.ask_gate(self, self.spec.agent(step.agent_id), step)
            elif step.stage is not None or step.kind in ("turn", "summary"):
                self.launch(branch.id)
            else:
                self.start(branch.id, step)


def derive_status(state: TaskState) -> TaskStatus:
    statuses = {b.status for b in state.branches}
    if not statuses:
        return state.status
    if "running" in statuses:
        return TaskStatus.IN_PROGRESS
    if "awaiting_gate" in statuses:
        return TaskStatus.AWAITING_GATE
    if "awaiting_human_input" in statuses:
        return TaskStatus.AWAITING_HUMAN_INPUT
    if "failed" in statuses:
        return TaskStatus.FAILED
    if "cancelled" in statuses:
        return TaskStatus.CANCELLED
    return TaskStatus.COMPLETED


def _catalogue_line(agent: Agent) -> str:
    if agent.type == "session":
        return f"session of {', '.join(agent.participants)}"
    return " ".join(agent.system_prompt.split())[:150]
