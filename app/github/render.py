"""What the thread shows — run card, stage comments, check runs, replies — from `templates/`. Pure.

Each function gathers the values a template needs; the template lays them out; every value
it prints is escaped by the environment (see app/github/markdown.py), so hostile task text,
outputs, reasons, logins and names stay inert. Nothing here reads a clock: the duration of
a running stage needs `now`.

Limits are GitHub's: a comment body holds 65,536 characters, a check run summary or text
65,535. A run card drops its oldest stage rows until it fits; a stage output is split into
parts (`part 2/3`), and what is beyond `max_parts` is cut with a pointer to the whole output.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

from app.engine.state import ENDED, Branch, Chunk, GateWait, TaskState, TaskStatus
from app.errors import SpecError
from app.github.commands import HELP_TEXT, CommentCommand, Invalid, Unknown, command_name
from app.github.markdown import (
    Safe,
    clean,
    clip,
    code,
    fenced,
    link_target,
    render_template,
    split_output,
    text,
    truncate,
)
from app.spec.models import Budget
from app.store.records import StageRecord, TaskRecord, running_seconds

MAX_COMMENT_CHARS = 65_536  # GitHub answers 422 to a longer comment body
MAX_CHECK_RUN_CHARS = 65_535  # check run output.summary and output.text
MAX_STAGE_PARTS = 4  # comments per stage output; beyond, the output is cut with a pointer
MAX_CARD_ROWS = 100  # stage rows in a run card (the newest); fewer when the card would not fit
TASK_PATH = "/tasks/"  # the dashboard's page of a task, under AQM_PUBLIC_URL
RUN_CARD_MARKER = re.compile(r"<!-- aqm:run-card (T-[0-9A-F]+) -->")

STATUS_WORDS: dict[str, tuple[str, str]] = {  # task status → (icon, words)
    TaskStatus.PENDING: ("⏳", "queued"),
    TaskStatus.IN_PROGRESS: ("🔄", "running"),
    TaskStatus.AWAITING_GATE: ("⏸️", "waiting for approval"),
    TaskStatus.AWAITING_HUMAN_INPUT: ("💬", "waiting for an answer"),
    TaskStatus.COMPLETED: ("✅", "completed"),
    TaskStatus.FAILED: ("❌", "failed"),
    TaskStatus.CANCELLED: ("⏹️", "cancelled"),
    TaskStatus.STALLED: ("⚠️", "stalled"),
}
STAGE_WORDS: dict[str, tuple[str, str]] = {  # stage status, gate result or wait → (icon, words)
    "running": ("🔄", "running"),
    "completed": ("✅", "done"),
    "approved": ("✅", "approved"),
    "rejected": ("↩️", "rejected"),
    "failed": ("❌", "failed"),
    "asked": ("💬", "asked"),
    "cancelled": ("⏹️", "cancelled"),
    "waiting_gate": ("⏸️", "waiting for approval"),
    "waiting_answer": ("💬", "waiting for an answer"),
}
CHUNK_WORDS = {"pending": "⬜ pending", "in_progress": "🔄 in progress", "done": "✅ done"}


def status_words(status: str) -> tuple[str, str]:
    return STATUS_WORDS.get(status, ("•", status.replace("_", " ")))


def stage_words(stage: StageRecord, waiting: str | None = None) -> tuple[str, str]:
    return STAGE_WORDS.get(waiting or stage.gate_result or stage.status, ("•", stage.status))


def duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def tokens(count: int) -> str:
    return f"{count:,}" if count else ""


def cost(usd: float | None) -> str:
    if not usd:
        return ""
    return f"${usd:.2f}" if usd >= 0.01 else f"${usd:.4f}"


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds()


def _marker_id(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]", "", value)[:40]


# ---- the run card -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CardContext:
    """What a run card shows beside the task's records."""

    pipeline: str
    runtime_of: Mapping[str, str] = field(default_factory=dict)  # agent id → runtime, for stage rows
    public_url: str | None = None  # AQM_PUBLIC_URL: the card links the task's page
    budget: Budget | None = None  # config.yaml github.budget: shown when a limit is set
    reviewable: bool = False  # a PR review can answer the gate: the card says so
    now: datetime | None = None  # for the time of running stages and of the task
    queued: bool = False  # in its thread's queue (a continued task waiting for the slot)
    unsandboxed: bool = False  # AQM_UNSAFE_UNSANDBOXED_STAGES: the card warns that stages ran unsandboxed


@dataclass(frozen=True, slots=True)
class StageRow:
    number: int
    branch: str
    agent: str
    kind: str
    runtime: str
    icon: str
    status: str
    duration: str
    tokens: str
    cost: str


@dataclass(frozen=True, slots=True)
class GateView:
    agent: str
    stage: int
    branch: str
    approve: str  # the literal commands to type
    reject: str


@dataclass(frozen=True, slots=True)
class QuestionView:
    agent: str
    stage: int | None
    questions: tuple[str, ...]


def run_card_marker(task_id: str) -> str:
    return f"<!-- aqm:run-card {_marker_id(task_id)} -->"


def run_card_task_id(body: str) -> str | None:
    """The task of a run card comment, read from its marker; None for any other comment."""
    found = RUN_CARD_MARKER.match(body)
    return found[1] if found else None


def run_card(
    task: TaskRecord,
    state: TaskState,
    stages: list[StageRecord],
    *,
    pipeline: str,
    runtime_of: Mapping[str, str],
    public_url: str | None,
    budget: Budget | None = None,
    reviewable: bool = False,
    now: datetime | None = None,
    queued: bool = False,
    unsandboxed: bool = False,
) -> str:
    """The sticky comment of a task: the hidden marker, then the card; always under GitHub's limit."""
    context = CardContext(pipeline, runtime_of, public_url, budget, reviewable, now, queued, unsandboxed)
    marker = run_card_marker(task.id)
    return f"{marker}\n{card_body(task, state, stages, context, limit=MAX_COMMENT_CHARS - len(marker) - 1)}"


def card_body(
    task: TaskRecord, state: TaskState, stages: list[StageRecord], context: CardContext, *, limit: int
) -> str:
    """The run card without its marker (a check run's summary is the same text)."""
    values = _card_values(task, state, stages, context)
    rows = stage_rows(stages, state, context)
    card = ""
    for keep in (MAX_CARD_ROWS, 30, 10, 3, 0):
        shown = rows[-keep:] if keep else []
        card = render_template("run_card.md.j2", rows=shown, hidden=len(rows) - len(shown), **values)
        if len(card) <= limit:
            return card
    return clip(card, limit)


def _card_values(
    task: TaskRecord, state: TaskState, stages: list[StageRecord], context: CardContext
) -> dict[str, Any]:
    queued = context.queued and state.status == TaskStatus.IN_PROGRESS
    icon, words = status_words(TaskStatus.PENDING if queued else state.status)
    gates = waiting_gates(state)
    return {
        "task_id": task.id,
        "icon": icon,
        "words": words,
        "status": str(state.status),
        "meta": _card_meta(task, state, stages, context),
        "description": task.description or state.description,
        "branches": len({s.branch for s in stages}) > 1,
        "gates": [_gate_view(task.id, gate, branch, several=len(gates) > 1) for branch, gate in gates],
        "reviewable": context.reviewable and len(gates) == 1,
        "questions": _questions(state),
        "error": _error(task, state, stages),
        "failed_stage": state.failed_stage,
        "restart": _restart_command(task.id, state),
        "fix": f"/aqm fix {task.id} <what to change>",
        "notes": list(state.notes[:10]),
        "chunks": [(c.id, CHUNK_WORDS.get(c.status, c.status), c.description) for c in state.chunks[:50]],
        "chunks_done": sum(1 for c in state.chunks if c.status == "done"),
        "chunks_total": len(state.chunks),
        "budget": _budget_line(context.budget, stages, task, context.now),
        "url": task_url(context.public_url, task.id),
        "unsandboxed": context.unsandboxed,
    }


def waiting_gates(state: TaskState) -> list[tuple[Branch, GateWait]]:
    return [(branch, branch.gate) for branch in state.branches if branch.gate is not None]


def stage_rows(stages: list[StageRecord], state: TaskState, context: CardContext) -> list[StageRow]:
    waiting = {gate.stage: "waiting_gate" for _, gate in waiting_gates(state)}
    waiting |= {b.question.stage: "waiting_answer" for b in state.branches if b.question and b.question.stage}
    return [_stage_row(stage, waiting.get(stage.number), context) for stage in stages]


def _stage_row(stage: StageRecord, waiting: str | None, context: CardContext) -> StageRow:
    icon, words = stage_words(stage, waiting)
    end = stage.finished_at or (context.now if stage.status == "running" else None)
    runtime = stage.runtime or context.runtime_of.get(stage.agent_id, "")
    return StageRow(
        number=stage.number,
        branch=stage.branch,
        agent=stage.agent_id,
        kind="" if stage.kind == "agent" else stage.kind,
        runtime=truncate(f"{runtime} · {stage.model}" if stage.model and runtime else runtime, 60),
        icon=icon,
        status=words,
        duration=duration(_seconds(stage.started_at, end)),
        tokens=tokens(stage.input_tokens + stage.output_tokens),
        cost=cost(stage.cost_usd),
    )


def _gate_view(task_id: str, gate: GateWait, branch: Branch, *, several: bool) -> GateView:
    agent = f" --agent {shlex.quote(gate.agent_id)}" if several else ""
    return GateView(
        agent=gate.agent_id,
        stage=gate.stage,
        branch=branch.id,
        approve=f"/approve {task_id}{agent} [reason]",
        reject=f"/reject {task_id}{agent} <reason>",
    )


def _questions(state: TaskState) -> list[QuestionView]:
    return [
        QuestionView(b.question.agent_id, b.question.stage, b.question.questions[:10])
        for b in state.branches
        if b.question is not None
    ]


def _error(task: TaskRecord, state: TaskState, stages: list[StageRecord]) -> str | None:
    if state.status not in (TaskStatus.FAILED, TaskStatus.STALLED):
        return None
    error = state.error or task.error
    if error is None and state.failed_stage is not None:
        error = next((s.error for s in stages if s.number == state.failed_stage), None)
    return truncate(error or "no error message was recorded", 4_000)


def _restart_command(task_id: str, state: TaskState) -> str:
    if state.status == TaskStatus.FAILED and state.failed_stage is not None:
        return f"/aqm restart {task_id} --from-stage {state.failed_stage}"
    return f"/aqm restart {task_id}"


def _card_meta(task: TaskRecord, state: TaskState, stages: list[StageRecord], context: CardContext) -> Safe:
    """The line under the card's title: pipeline, then totals so far, then the task's page."""
    end = task.updated_at if state.status in ENDED else context.now
    used = sum(s.input_tokens + s.output_tokens for s in stages)
    url = task_url(context.public_url, task.id)
    parts = [
        f"**Pipeline** {code(context.pipeline)}",
        f"{len(stages)} stage{'s' if len(stages) != 1 else ''}" if stages else "",
        text(f"{tokens(used)} tokens") if used else "",
        text(cost(sum(s.cost_usd or 0.0 for s in stages))),
        text(duration(_seconds(task.created_at, end))),
        f"[details]({url})" if url else "",
    ]
    return Safe(" · ".join(part for part in parts if part))


def _budget_line(
    budget: Budget | None, stages: list[StageRecord], task: TaskRecord, now: datetime | None
) -> str:
    if budget is None:
        return ""
    parts = []
    if budget.max_stages is not None:
        parts.append(f"stages {len(stages)} / {budget.max_stages}")
    if budget.max_cost_usd is not None:
        parts.append(f"cost ${sum(s.cost_usd or 0.0 for s in stages):.2f} / ${budget.max_cost_usd:.2f}")
    if budget.max_minutes is not None:  # running time: pauses for humans do not count
        end = now or task.updated_at
        used = f"{running_seconds(stages, end) / 60:.1f}" if end is not None else "?"
        parts.append(f"time {used} / {budget.max_minutes:g} min")
    return " · ".join(parts)


def task_url(public_url: str | None, task_id: str) -> Safe | None:
    """The dashboard page of a task, when the server has a public URL."""
    if not public_url:
        return None
    return link_target(f"{public_url.rstrip('/')}{TASK_PATH}{quote(task_id, safe='')}")


# ---- check runs ---------------------------------------------------------------------------------

CheckStatus = Literal["queued", "in_progress", "completed"]
CheckConclusion = Literal["success", "failure", "cancelled", "action_required"]


def check_run_name(pipeline: str) -> str:
    return f"aqm/{pipeline}"


def check_run_state(state: TaskState) -> tuple[CheckStatus, CheckConclusion | None]:
    """A task's check run status and conclusion: a task waiting for a human needs action."""
    match state.status:
        case TaskStatus.PENDING:
            return "queued", None
        case TaskStatus.IN_PROGRESS:
            return "in_progress", None
        case TaskStatus.AWAITING_GATE | TaskStatus.AWAITING_HUMAN_INPUT:
            return "completed", "action_required"
        case TaskStatus.COMPLETED:
            return "completed", "success"
        case TaskStatus.CANCELLED:
            return "completed", "cancelled"
        case _:
            return "completed", "failure"


def check_run_actions(state: TaskState) -> list[dict[str, str]]:
    """Approve / Reject buttons (`check_run.requested_action`) when exactly one human gate waits."""
    gates = waiting_gates(state)
    if len(gates) != 1:
        return []
    stage = gates[0][1].stage
    return [  # GitHub's limits: label 20, description 40, identifier 20 characters
        {
            "label": "Approve",
            "description": f"Approve the gate of stage {stage}"[:40],
            "identifier": "approve",
        },
        {"label": "Reject", "description": f"Reject the gate of stage {stage}"[:40], "identifier": "reject"},
    ]


def check_run_output(
    task: TaskRecord,
    state: TaskState,
    stages: list[StageRecord],
    *,
    pipeline: str | None = None,
    runtime_of: Mapping[str, str] | None = None,
    public_url: str | None = None,
    budget: Budget | None = None,
    reviewable: bool = False,
    now: datetime | None = None,
) -> tuple[str, str, str]:
    """(title, summary, text) of the task's check run: the summary is the run card's body."""
    context = CardContext(pipeline or task.pipeline, runtime_of or {}, public_url, budget, reviewable, now)
    summary = card_body(task, state, stages, context, limit=MAX_CHECK_RUN_CHARS)
    lines = [_first_line_view(stage) for stage in stages[-200:]]
    details = clip(render_template("check_run_text.md.j2", stages=lines), MAX_CHECK_RUN_CHARS)
    return check_run_title(state, stages), summary, details


def check_run_title(state: TaskState, stages: list[StageRecord]) -> str:
    """One plain-text line (titles are not Markdown): the status in words, and where."""
    _, words = status_words(state.status)
    gates = waiting_gates(state)
    if len(gates) == 1:
        where = f": {gates[0][1].agent_id} (stage {gates[0][1].stage})"
    elif state.status == TaskStatus.FAILED and state.failed_stage is not None:
        where = f" at stage {state.failed_stage}"
    else:
        where = f" · {len(stages)} stage{'s' if len(stages) != 1 else ''}"
    return " ".join(clean(words.capitalize() + where).split())[:200]


def _first_line_view(stage: StageRecord) -> dict[str, Any]:
    icon, words = stage_words(stage)
    line = next((line for line in stage.output_text.splitlines() if line.strip()), "")
    return {"number": stage.number, "agent": stage.agent_id, "icon": icon, "status": words, "line": line}


# ---- a finished stage ---------------------------------------------------------------------------


def stage_marker(task_id: str, number: int) -> str:
    """How every comment of one stage's output starts (find them to edit, not to duplicate)."""
    return f"<!-- aqm:stage {_marker_id(task_id)} {number} "


def stage_comment(
    task_id: str,
    stage: StageRecord,
    *,
    transcript: str | None,
    max_chars: int = MAX_COMMENT_CHARS,
    max_parts: int = MAX_STAGE_PARTS,
    details_url: str | None = None,
) -> list[str]:
    """The comments of one finished stage: output fenced, transcript in `<details>`, each ≤ max_chars.

    An output too long for one comment is split into parts; beyond `max_parts` it is cut, and
    the last part says how much is missing and where the whole output is (`details_url`)."""
    values = _stage_values(task_id, stage)
    details = _transcript_details(transcript, stage.kind, limit=max_chars // 4)
    longest_pointer = _pointer(10**12, details_url)
    overhead = len(_stage_part(values, 99, 99, block=Safe(""), details=details, pointer=longest_pointer))
    room = max(max_chars - overhead - 64, 16)
    pieces, omitted = split_output(stage.output_text, room=room, max_parts=max_parts)
    parts = []
    for number, piece in enumerate(pieces, 1):
        last = number == len(pieces)
        block = fenced(piece) if piece.strip() else Safe("*(no output)*")
        pointer = _pointer(omitted, details_url) if last and omitted else Safe("")
        parts.append(
            _stage_part(
                values,
                number,
                len(pieces),
                block=block,
                details=details if last else Safe(""),
                pointer=pointer,
            )
        )
    return [clip(part, max_chars) for part in parts]


def _stage_values(task_id: str, stage: StageRecord) -> dict[str, Any]:
    icon, words = stage_words(stage)
    used = stage.input_tokens + stage.output_tokens
    facts = [
        truncate(stage.runtime or "", 60),
        truncate(stage.model or "", 60),
        duration(_seconds(stage.started_at, stage.finished_at)),
        f"{tokens(used)} tokens" if used else "",
        cost(stage.cost_usd),
        f"retried {stage.retry_count}×" if stage.retry_count else "",
    ]
    title = [f"Stage {stage.number}", code(stage.agent_id)]
    title += [text(stage.kind)] if stage.kind != "agent" else []
    title += [f"branch {code(stage.branch)}"] if stage.branch != "1" else []
    return {
        "marker_id": Safe(_marker_id(task_id)),
        "number": stage.number,
        "title": Safe(" · ".join([*title, text(words)])),
        "icon": icon,
        "facts": [fact for fact in facts if fact],
        "gate": stage.gate_result,
        "reason": stage.reject_reason or "",
        "retry_reason": stage.retry_reason or "",
        "error": truncate(stage.error, 4_000) if stage.error else "",
    }


def _stage_part(
    values: dict[str, Any], part: int, parts: int, *, block: Safe, details: Safe, pointer: Safe
) -> str:
    return render_template(
        "stage_comment.md.j2", part=part, parts=parts, block=block, details=details, pointer=pointer, **values
    )


def _transcript_details(transcript: str | None, kind: str, *, limit: int) -> Safe:
    if not transcript or not transcript.strip():
        return Safe("")
    pieces, omitted = split_output(transcript, room=max(limit - 200, 16), max_parts=1)
    summary = "Session minutes" if kind in ("session", "summary") else "Transcript"
    cut = f"\n\n*… {omitted:,} more characters of the transcript are not shown.*" if omitted else ""
    return Safe(f"<details><summary>{summary}</summary>\n\n{fenced(pieces[0])}{cut}\n\n</details>")


def _pointer(omitted: int, details_url: str | None) -> Safe:
    url = link_target(details_url)
    where = f"[the task's page]({url})" if url else "the task's record in aqm"
    return Safe(
        f"*✂️ {omitted:,} more characters of output are not shown here; the whole output is in {where}.*"
    )


# ---- replies ------------------------------------------------------------------------------------


MAX_NAMED = 5  # unknown verbs or refused commands one reply names; the others are counted


def refusal(login: str, command: CommentCommand | str | Sequence[CommentCommand | str]) -> str:
    """The one reply to the commands of someone without write access (each name once)."""
    several = [command] if isinstance(command, str) or not isinstance(command, Sequence) else command
    names = list(dict.fromkeys(c if isinstance(c, str) else command_name(c) for c in several))
    more = max(len(names) - MAX_NAMED, 0)
    return render_template("refusal.md.j2", login=login, commands=names[:MAX_NAMED], more=more)


def help_reply(unknown: Unknown | Sequence[Unknown] | None = None) -> str:
    """The help, led by what was not understood and the command probably meant (each verb once)."""
    unknowns = [unknown] if isinstance(unknown, Unknown) else list(unknown or ())
    leads = [_unknown_lead(u) for u in dict.fromkeys(unknowns)]
    if len(leads) > MAX_NAMED:
        leads = [*leads[:MAX_NAMED], f"…and {len(leads) - MAX_NAMED} more lines that are not aqm commands."]
    lead = Safe("\n".join(f"{'- ' if len(leads) > 1 else ''}{line}" for line in leads)) if leads else None
    return render_template("help.md.j2", lead=lead, help=Safe(HELP_TEXT))


def _unknown_lead(unknown: Unknown) -> str:
    meant = f" Did you mean {code(unknown.suggestion)}?" if unknown.suggestion else ""
    return f"{code(unknown.verb)} is not an aqm command.{meant}"


def invalid_reply(invalid: Invalid) -> str:
    line = truncate(invalid.line, 2_000)
    return render_template("invalid.md.j2", line=line, message=invalid.message, usage=invalid.usage)


def escape_text(value: str, limit: int = 10_000) -> str:
    """A plain message as one line of inert Markdown (for replies that need no template)."""
    return text(value, limit) + "\n"


def validation_errors(errors: list[SpecError], *, limit: int = 50) -> str:
    """The reply when `.aqm/` on the default branch does not validate: one `file:line:column` per error."""
    shown = sorted(set(errors), key=lambda e: (e.path, e.line, e.column, e.message))
    listing = "\n".join(truncate(error.render(), 1_000) for error in shown[:limit])
    hidden = max(len(shown) - limit, 0)
    return render_template("validation_errors.md.j2", count=len(shown), listing=listing, hidden=hidden)


def queued_reply(task_id: str, active_task_id: str, *, active_url: str | None = None) -> str:
    """A second run on a thread waits for the running one."""
    return render_template(
        "queued.md.j2",
        task_id=task_id,
        active_task_id=active_task_id,
        active_url=link_target(active_url),
        cancel=f"/aqm cancel {task_id}",
    )


def stale_review_reply(
    task_id: str,
    *,
    reviewed_sha: str,
    gate_sha: str | None,
    reviewer: str | None = None,
    approving: bool = True,
) -> str:
    """Why a PR review did not answer the gate: it reviewed another commit, or no gate waits for one."""
    return render_template(
        "stale_review.md.j2",
        reviewer=reviewer,
        task_id=task_id,
        reviewed=reviewed_sha[:7],
        expected=gate_sha[:7] if gate_sha else None,
        approving=approving,
        command=f"/approve {task_id} [reason]" if approving else f"/reject {task_id} <reason>",
    )


def waiting_gates_reply(task_id: str, gates: Sequence[GateWait]) -> str:
    """The reply when a `/approve`, `/reject` or review does not say which of several gates it answers."""
    views = [_gate_view(task_id, gate, Branch(id=""), several=True) for gate in gates[:20]]
    return render_template("waiting_gates.md.j2", task_id=task_id, gates=views)


def chunks_reply(task_id: str, chunks: Sequence[Chunk], *, note: str | None = None, limit: int = 200) -> str:
    """The chunk table of a task (`/aqm chunks`), led by what an edit changed."""
    rows = [(c.id, CHUNK_WORDS.get(c.status, c.status), c.description) for c in chunks[:limit]]
    done = sum(1 for c in chunks if c.status == "done")
    return render_template(
        "chunks.md.j2",
        task_id=task_id,
        chunks=rows,
        done=done,
        total=len(chunks),
        hidden=max(len(chunks) - limit, 0),
        note=note,
    )


def task_problem_reply(
    login: str,
    command: CommentCommand | str,
    problem: str,
    *,
    then: str | None = None,
    then_words: str = "Comment",
) -> str:
    """Why a command about a task did nothing (unknown task, still running, bad stage, unknown
    chunk), and the command to type instead when there is one."""
    name = command if isinstance(command, str) else command_name(command)
    return render_template(
        "task_problem.md.j2", login=login, command=name, problem=problem, then=then, then_words=then_words
    )


def fork_waiting_reply(*, pipeline: str | None = None) -> str:
    """A pull request from a fork waits for a maintainer's `/aqm run`."""
    return render_template("fork_waiting.md.j2", pipeline=pipeline)


def fork_changes_reply(task_id: str, branch: str, pull: int) -> str:
    """A fork PR's task pushed its changes to a branch of the base repository: where they are."""
    return render_template("fork_changes.md.j2", task_id=task_id, branch=branch, pull=pull)


def workspace_problem_reply(task_id: str, problem: str, *, publishing: bool) -> str:
    """A task failed because its workspace could not be prepared before its stages (instruction
    files not restored) or, `publishing`, its changes could not be committed safely."""
    return render_template("workspace_problem.md.j2", task_id=task_id, problem=problem, publishing=publishing)
