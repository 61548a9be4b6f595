"""Sessions (agents talking in rounds until consensus) and chunks (tracked units of work).

A session runs on one branch: each participant's turn is a stage (turns count toward
`max_stages`). A vote is the consensus keyword on a line of its own in that turn, and a
participant's latest turn decides its vote (votes are not sticky). At the end of a round
the session checks consensus (`all` or `majority` of votes; with `moderator_decides` the
summary agent's vote; plus every chunk done when `require_chunks_done`). On consensus the
summary agent writes the final summary (a stage too); without consensus after `max_rounds`
the last turn is the result. The session's result is recorded as one more stage and routed
through the session's handoffs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.engine.commands import ContextPlan, Decision, PromptPlan, SaveStage
from app.engine.context import summary_line
from app.engine.directives import chunk_ids, directive_values, has_line
from app.engine.events import ChunksEdited
from app.engine.state import Branch, Chunk, Session, StageSummary, Step, TaskState
from app.spec.models import Agent

if TYPE_CHECKING:
    from app.engine.decide import Machine

NO_VOTE_LINE = "NO CONSENSUS YET"  # the other answer of a constrained vote: not the keyword
STATUS_ICONS = {"pending": "⬜ pending", "in_progress": "🔄 in_progress", "done": "✅ done"}


def begin(machine: Machine, branch: Branch, step: Step) -> None:
    session = machine.spec.agent(step.agent_id)
    if session.chunks is not None and session.chunks.enabled and not machine.state.chunks:
        chunks = tuple(
            Chunk(id=f"C-{i:03d}", description=text) for i, text in enumerate(session.chunks.initial, 1)
        )
        machine.state = machine.state.model_copy(update={"chunks": chunks})
    progress = Session(session_id=session.id, topic=step.input)
    machine.set_branch(branch.model_copy(update={"session": progress}))
    machine.notify(
        "session_started", f"session {session.id}: {', '.join(session.participants)}", agent_id=session.id
    )
    next_turn(machine, branch.id)


def speaking_order(session: Agent) -> list[str]:
    if session.turn_order == "moderator" and session.summary_agent in session.participants:
        return [session.summary_agent, *(p for p in session.participants if p != session.summary_agent)]
    return list(session.participants)


def next_turn(machine: Machine, branch_id: str) -> None:
    branch = machine.state.branch(branch_id)
    progress = branch.session
    assert progress is not None
    speaker = speaking_order(machine.spec.agent(progress.session_id))[progress.turn]
    step = Step(kind="turn", agent_id=speaker, input=progress.topic)
    machine.set_branch(branch.model_copy(update={"step": step, "status": "running"}))
    machine.launch(branch_id)


def vote_decision(session: Agent) -> Decision:
    """A turn's vote as a choice of two lines: the consensus keyword, or a line that is no vote."""
    keyword = session.consensus_config.keyword
    other = NO_VOTE_LINE if keyword.strip().casefold() != NO_VOTE_LINE.casefold() else "NOT YET"
    return Decision(
        kind="vote",
        lines=(keyword, other),
        question=f"Do you agree with the discussion so far? Answer with one line: `{keyword}` or `{other}`.",
    )


def prompt_plan(
    machine: Machine, agent: Agent, branch: Branch, step: Step, context: ContextPlan
) -> PromptPlan:
    progress = branch.session if step.kind in ("turn", "summary") else None
    request = ""
    if step.kind == "summary" and progress is not None:
        request = (
            f"The discussion '{progress.session_id}' reached consensus in round {progress.round}. "
            "Write the final summary of what was agreed: decisions, open points, next steps."
        )
    return PromptPlan(
        template=agent.system_prompt,
        input=step.input,
        context=context,
        params=dict(machine.spec.pipeline.params),
        chunks=chunks_table(machine.state.chunks),
        transcript=progress.turns if progress is not None else (),
        summary_request=request,
    )


def on_turn_finished(
    machine: Machine, branch: Branch, step: Step, output: str, usage: tuple[int, int, float | None]
) -> None:
    progress = branch.session
    assert progress is not None and step.stage is not None
    machine.record(branch, step, output, status="completed", usage=usage)
    if step.kind == "summary":
        complete(machine, branch.id, output)
        return
    session = machine.spec.agent(progress.session_id)
    if session.chunks is not None and session.chunks.enabled:
        machine.state = apply_directives(machine.state, output, step.agent_id)
    keyword = session.consensus_config.keyword
    votes = {**progress.votes, step.agent_id: has_line(output, keyword)}
    progress = progress.model_copy(
        update={
            "votes": votes,
            "turn": progress.turn + 1,
            "turns": (*progress.turns, (step.stage, step.agent_id, progress.round)),
        }
    )
    machine.set_branch(machine.state.branch(branch.id).model_copy(update={"session": progress}))
    machine.notify(
        "turn_finished",
        f"{session.id} round {progress.round}: {step.agent_id}{' agrees' if votes[step.agent_id] else ''}",
        stage=step.stage,
        agent_id=step.agent_id,
    )
    if progress.turn < len(speaking_order(session)):
        next_turn(machine, branch.id)
    else:
        end_round(machine, branch.id, session, output)


def end_round(machine: Machine, branch_id: str, session: Agent, last_output: str) -> None:
    progress = machine.state.branch(branch_id).session
    assert progress is not None
    agreed = consensus(session, progress, machine.state.chunks)
    if agreed:
        machine.notify("consensus", f"{session.id}: consensus in round {progress.round}", agent_id=session.id)
    if agreed and session.summary_agent:
        progress = progress.model_copy(update={"consensus": True})
        step = Step(kind="summary", agent_id=session.summary_agent, input=progress.topic)
        branch = machine.state.branch(branch_id).model_copy(update={"session": progress, "step": step})
        machine.set_branch(branch)
        machine.launch(branch_id)
    elif agreed or progress.round >= session.max_rounds:
        if not agreed:
            machine.notify(
                "note", f"{session.id}: max rounds ({session.max_rounds}) reached without consensus"
            )
        complete(machine, branch_id, last_output)
    else:
        progress = progress.model_copy(update={"round": progress.round + 1, "turn": 0})
        machine.set_branch(machine.state.branch(branch_id).model_copy(update={"session": progress}))
        next_turn(machine, branch_id)


def consensus(session: Agent, progress: Session, chunks: tuple[Chunk, ...]) -> bool:
    rules = session.consensus_config
    if rules.require_chunks_done and any(c.status != "done" for c in chunks):
        return False
    if rules.method == "moderator_decides":
        return bool(session.summary_agent and progress.votes.get(session.summary_agent))
    agreeing = sum(1 for p in session.participants if progress.votes.get(p))
    if rules.require == "majority":
        return agreeing * 2 > len(session.participants)
    return agreeing == len(session.participants)


def complete(machine: Machine, branch_id: str, output: str) -> None:
    """Record the session's result as its own stage, then route the session's handoffs."""
    progress = machine.state.branch(branch_id).session
    assert progress is not None
    number = machine.allocate()
    if number is None:
        return
    status = "completed"
    machine.commands.append(
        SaveStage(
            number,
            progress.session_id,
            branch_id,
            "session",
            "session",
            status,
            input_text=progress.topic,
            output_text=output,
            finished=True,
        )
    )
    summary = StageSummary(
        number=number,
        agent_id=progress.session_id,
        branch=branch_id,
        status=status,
        line=summary_line(output),
        kind="session",
    )
    machine.state = machine.state.model_copy(update={"history": (*machine.state.history, summary)})
    branch = machine.state.branch(branch_id).model_copy(
        update={"session": None, "step": None, "last_stage": number}
    )
    machine.set_branch(branch)
    session = machine.spec.agent(progress.session_id)
    machine.route_from(branch_id, session, number, progress.topic, output, None, None)


# ---- chunks ---------------------------------------------------------------------------------


def apply_directives(state: TaskState, output: str, agent_id: str) -> TaskState:
    chunks = list(state.chunks)
    for text in directive_values(output, "CHUNK_ADD"):
        chunks.append(Chunk(id=_free_id(chunks), description=text, created_by=agent_id))
    done = set(chunk_ids(directive_values(output, "CHUNK_DONE")))
    removed = set(chunk_ids(directive_values(output, "CHUNK_REMOVE")))
    chunks = [
        c.model_copy(update={"status": "done", "completed_by": agent_id}) if c.id in done else c
        for c in chunks
        if c.id not in removed
    ]
    return state.model_copy(update={"chunks": tuple(chunks)})


def edit_chunks(state: TaskState, event: ChunksEdited) -> TaskState:
    chunks = list(state.chunks)
    if event.action == "add":
        chunks.append(Chunk(id=_free_id(chunks), description=event.value, created_by="user"))
    elif event.action == "remove":
        chunks = [c for c in chunks if c.id != event.value.upper()]
    else:
        status = "done" if event.action == "done" else event.status
        chunks = [
            c.model_copy(update={"status": status, "completed_by": "user" if status == "done" else None})
            if c.id == event.value.upper()
            else c
            for c in chunks
        ]
    return state.model_copy(update={"chunks": tuple(chunks)})


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _free_id(chunks: list[Chunk]) -> str:
    used = {c.id for c in chunks}
    number = 1
    while f"C-{number:03d}" in used:
        number += 1
    return f"C-{number:03d}"


def chunks_table(chunks: tuple[Chunk, ...]) -> str:
    if not chunks:
        return "(no chunks defined)"
    rows = ["| ID | Status | Description |", "|----|--------|-------------|"]
    rows += [f"| {c.id} | {STATUS_ICONS[c.status]} | {_cell(c.description)} |" for c in chunks]
    done = sum(1 for c in chunks if c.status == "done")
    rows.append(f"\n**Progress: {done}/{len(chunks)} done, {len(chunks) - done} remaining**")
    return "\n".join(rows)
