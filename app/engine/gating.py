"""Gates: judging a finished stage (llm verdicts, human gates, a command's exit code) and routing on it.

A gate judges its own agent's output right after the agent's stage. An llm verdict is asked
of the gate runtime and parsed strictly (app/engine/gates.py); no verdict is asked again, never
guessed. Rejections count per gate over the whole task: rejection max_retries + 1 fails it.
Functions of the decision in progress (`Machine`, app/engine/decide.py).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from app.engine.commands import AskGate, SaveStage
from app.engine.events import GateErrored, GateJudged, HumanDecided
from app.engine.gates import DEFAULT_GATE_PROMPT, gate_message
from app.engine.prompts import render
from app.engine.state import Branch, GateWait, Step
from app.spec.models import Agent

if TYPE_CHECKING:
    from app.engine.decide import Machine

GATE_ATTEMPTS = 3  # an unparseable verdict is asked again twice, then the task fails
OUTPUT_TAIL_CHARS = 2_000


def judge(
    m: Machine,
    branch: Branch,
    agent: Agent,
    step: Step,
    output: str,
    exit_code: int,
    usage: tuple[int, int, float | None],
) -> None:
    """Apply the agent's gate to a finished stage (or the command's exit code), then route."""
    assert step.stage is not None
    gate = agent.gate
    if gate is None and agent.runtime == "command":
        verdict = "approved" if exit_code == 0 else "rejected"
        reason = None if exit_code == 0 else f"exit code {exit_code}\n{output[-OUTPUT_TAIL_CHARS:]}"
        m.record(branch, step, output, status=verdict, usage=usage, gate_result=verdict, reason=reason)
        after_verdict(m, branch.id, agent, step.stage, step.input, output, verdict, reason)
    elif gate is None:
        m.record(branch, step, output, status="completed", usage=usage)
        m.route_from(branch.id, agent, step.stage, step.input, output, None, None)
    elif gate.type == "human":
        m.record(branch, step, output, status="awaiting_gate", usage=usage)
        waiting = GateWait(agent_id=agent.id, stage=step.stage, input=step.input, output=output)
        m.set_branch(
            m.state.branch(branch.id).model_copy(
                update={"status": "awaiting_gate", "gate": waiting, "step": None}
            )
        )
        m.notify(
            "gate_waiting",
            f"stage {step.stage}: {agent.id} waits for approval",
            stage=step.stage,
            agent_id=agent.id,
        )
    else:
        m.record(branch, step, output, status="judging", usage=usage, finished=False)
        gate_step = Step(kind="gate", agent_id=agent.id, input=step.input, stage=step.stage, output=output)
        m.set_branch(m.state.branch(branch.id).model_copy(update={"step": gate_step}))
        ask_gate(m, agent, gate_step)


def ask_gate(m: Machine, agent: Agent, step: Step) -> None:
    assert agent.gate is not None and step.stage is not None
    variables = {
        "output": step.output,
        "input": m.state.description,
        "params": m.spec.pipeline.params,
    }
    prompt = render(agent.gate.prompt or DEFAULT_GATE_PROMPT, variables)
    m.commands.append(
        AskGate(
            stage=step.stage,
            agent_id=agent.id,
            runtime=m.spec.gate_runtime(agent),
            model=m.spec.gate_model(agent),
            timeout_s=m.spec.config.gate.timeout,
            system_prompt=m.spec.config.gate.system_prompt,
            message=gate_message(prompt, step.output),
            attempt=step.attempt,
        )
    )


def on_gate_judged(m: Machine, event: GateJudged) -> None:
    branch = m.branch_at(event.stage)
    if branch is None or branch.step is None or branch.step.kind != "gate":
        return
    step = branch.step
    agent = m.spec.agent(step.agent_id)
    usage = (event.usage.input_tokens, event.usage.output_tokens, event.usage.cost_usd)
    reason = event.reason or None
    m.record(
        branch,
        step,
        step.output,
        status=event.decision,
        gate_result=event.decision,
        reason=reason,
        usage=usage,
    )
    after_verdict(m, branch.id, agent, event.stage, step.input, step.output, event.decision, reason)


def on_gate_errored(m: Machine, event: GateErrored) -> None:
    branch = m.branch_at(event.stage)
    if branch is None or branch.step is None or branch.step.kind != "gate":
        return
    step = branch.step
    if step.attempt >= GATE_ATTEMPTS:
        m.fail(
            f"The llm gate of '{step.agent_id}' gave no verdict after {GATE_ATTEMPTS} attempts: "
            f"{event.error}",
            stage=event.stage,
        )
        return
    retry = step.model_copy(update={"attempt": step.attempt + 1})
    m.set_branch(branch.model_copy(update={"step": retry}))
    m.notify("note", f"gate of {step.agent_id}: no verdict ({event.error}); asking again", stage=event.stage)
    ask_gate(m, m.spec.agent(step.agent_id), retry)


def after_verdict(
    m: Machine,
    branch_id: str,
    agent: Agent,
    stage: int,
    stage_input: str,
    output: str,
    verdict: str,
    reason: str | None,
) -> None:
    if verdict == "rejected" and agent.gate is not None:
        count = m.state.rejections.get(agent.id, 0) + 1
        m.state = m.state.model_copy(update={"rejections": {**m.state.rejections, agent.id: count}})
        if count > agent.gate.max_retries:
            m.fail(
                f"The gate of '{agent.id}' rejected {count} times; max_retries is "
                f"{agent.gate.max_retries}. Last reason: {reason or 'none given'}",
                stage=stage,
            )
            return
    m.route_from(branch_id, agent, stage, stage_input, output, verdict, reason)


def on_human_decided(m: Machine, event: HumanDecided) -> None:
    waiting = [b for b in m.state.branches if b.status == "awaiting_gate" and b.gate is not None]
    if event.agent_id is not None:
        waiting = [b for b in waiting if b.gate is not None and b.gate.agent_id == event.agent_id]
    if len(waiting) != 1:
        return  # the caller checks that exactly one gate is meant; a stale decision changes nothing
    branch = waiting[0]
    gate = branch.gate
    assert gate is not None
    m.set_branch(branch.model_copy(update={"gate": None, "status": "running"}))
    step = Step(kind="agent", agent_id=gate.agent_id, input=gate.input, stage=gate.stage)
    reason = event.reason or None
    m.commands.append(
        SaveStage(
            gate.stage,
            gate.agent_id,
            branch.id,
            "agent",
            status=event.decision,
            gate_result=event.decision,
            reject_reason=reason,
        )
    )
    record_decision(m, branch, step, event)
    after_verdict(
        m,
        branch.id,
        m.spec.agent(gate.agent_id),
        gate.stage,
        gate.input,
        gate.output,
        event.decision,
        reason,
    )


def record_decision(m: Machine, branch: Branch, step: Step, event: HumanDecided) -> None:
    assert step.stage is not None
    by = f" by {event.by}" if event.by else ""
    m.notify(
        "gate_decided",
        f"stage {step.stage}: {step.agent_id} {event.decision}{by}",
        stage=step.stage,
        agent_id=step.agent_id,
    )
    history = tuple(
        replace(h, status=event.decision) if h.number == step.stage else h for h in m.state.history
    )
    m.state = m.state.model_copy(update={"history": history})
