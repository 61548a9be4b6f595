"""Human input: questions before an agent runs (`before`), questions an agent asks (`on_demand`).

An `on_demand` question is a line-anchored `HUMAN_INPUT: <question>` in the agent's output;
the answer goes back to the agent that asked, with its questions and previous output (aqm sent
it to the next agent). Functions of the decision in progress (`Machine`, app/engine/decide.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.engine.directives import directive_values
from app.engine.events import HumanAnswered
from app.engine.state import Branch, Question, Step
from app.spec.models import Agent

if TYPE_CHECKING:
    from app.engine.decide import Machine


def asks_before(m: Machine, branch: Branch, step: Step) -> bool:
    human = m.spec.agent(step.agent_id).human_input_config
    if human is None or human.mode not in ("before", "both") or step.asked:
        return False
    question = human.prompt or (
        f"Agent '{step.agent_id}' is about to work on:\n{step.input[:500]}\nAny instructions or constraints?"
    )
    waiting = Question(agent_id=step.agent_id, questions=(question,), mode="before", input=step.input)
    m.set_branch(branch.model_copy(update={"status": "awaiting_human_input", "question": waiting}))
    m.notify("question", question, agent_id=step.agent_id)
    return True


def questions_in(m: Machine, agent: Agent, output: str) -> tuple[str, ...]:
    human = agent.human_input_config
    if human is None or human.mode not in ("on_demand", "both"):
        return ()
    return tuple(directive_values(output, "HUMAN_INPUT"))


def ask_on_demand(
    m: Machine,
    branch: Branch,
    step: Step,
    output: str,
    questions: tuple[str, ...],
    usage: tuple[int, int, float | None],
) -> None:
    assert step.stage is not None
    m.record(branch, step, output, status="asked", usage=usage)
    waiting = Question(
        agent_id=step.agent_id,
        questions=questions,
        mode="on_demand",
        input=step.input,
        stage=step.stage,
        output=output,
    )
    m.set_branch(
        m.state.branch(branch.id).model_copy(
            update={"status": "awaiting_human_input", "question": waiting, "step": None}
        )
    )
    m.notify("question", "\n".join(questions), stage=step.stage, agent_id=step.agent_id)


def on_human_answered(m: Machine, event: HumanAnswered) -> None:
    waiting = [b for b in m.state.branches if b.status == "awaiting_human_input" and b.question]
    if event.agent_id is not None:
        waiting = [b for b in waiting if b.question is not None and b.question.agent_id == event.agent_id]
    if len(waiting) != 1:
        return
    branch = waiting[0]
    question = branch.question
    assert question is not None
    m.set_branch(branch.model_copy(update={"question": None, "status": "running"}))
    m.notify("answered", f"{question.agent_id} got an answer", agent_id=question.agent_id)
    if question.mode == "before":
        text = f"{question.input}\n\n--- User Input ---\n{event.answer}"
    else:
        asked = "\n".join(f"- {q}" for q in question.questions)
        text = (
            f"{question.input}\n\n--- Agent's Questions ---\n{asked}\n\n--- User Response ---\n"
            f"{event.answer}\n\n--- Previous Agent Output ---\n{question.output}\n\n"
            "Continue based on the user's response."
        )
    m.start(branch.id, Step(kind="agent", agent_id=question.agent_id, input=text, asked=True))
