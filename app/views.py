"""Text views of tasks for the CLI: `aqm list`, `aqm status`, `aqm context` (aqm's files, on demand)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from app.engine.state import TaskState
from app.store.records import StageRecord, TaskRecord


def task_table(tasks: list[TaskRecord]) -> str:
    if not tasks:
        return "No tasks."
    rows = [("ID", "STATUS", "PIPELINE", "UPDATED", "DESCRIPTION")]
    rows += [(t.id, t.status, t.pipeline, _when(t.updated_at), _short(t.description, 60)) for t in tasks]
    return _columns(rows)


def task_details(task: TaskRecord, state: TaskState, stages: list[StageRecord]) -> str:
    lines = [
        f"Task {task.id}  {task.status}",
        f"Pipeline: {task.pipeline}" + (f"  (fix of {task.parent_task_id})" if task.parent_task_id else ""),
        f"Description: {_short(task.description, 200)}",
        f"Created: {_when(task.created_at)}  Updated: {_when(task.updated_at)}",
    ]
    if state.error:
        lines.append(f"Error: {state.error}")
    lines += [f"Note: {note}" for note in state.notes]
    lines += ["", stage_table(stages)] if stages else ["", "No stages yet."]
    for branch in state.branches:
        if branch.gate is not None:
            lines.append(
                f"\nWaiting at the human gate of '{branch.gate.agent_id}' (stage {branch.gate.stage}): "
                f"aqm approve {task.id} [-r reason] | aqm reject {task.id} -r <reason>"
            )
        if branch.question is not None:
            asked = "; ".join(branch.question.questions)
            lines.append(
                f"\nQuestion from '{branch.question.agent_id}': {asked}\n"
                f'  answer: aqm human-input {task.id} "<answer>"'
            )
    if state.chunks:
        from app.engine.sessions import chunks_table

        lines += ["", chunks_table(state.chunks)]
    if task.status in ("failed", "stalled", "cancelled", "completed"):
        start = f" --from-stage {state.failed_stage}" if state.failed_stage else ""
        lines.append(f"\nRestart: aqm restart {task.id}{start}")
    return "\n".join(lines)


def stage_table(stages: list[StageRecord]) -> str:
    branches = {s.branch for s in stages}
    rows = [("#", "BRANCH", "AGENT", "KIND", "STATUS", "GATE", "TOKENS", "COST", "TIME")]
    for s in stages:
        rows.append(
            (
                str(s.number),
                s.branch,
                s.agent_id,
                s.kind,
                s.status,
                s.gate_result or "",
                f"{s.input_tokens + s.output_tokens:,}" if s.input_tokens or s.output_tokens else "",
                f"${s.cost_usd:.4f}" if s.cost_usd else "",
                _duration(s),
            )
        )
    if len(branches) <= 1:
        return _columns([[cell for i, cell in enumerate(row) if i != 1] for row in rows])
    return _columns(rows)


def context_md(task: TaskRecord, stages: list[StageRecord]) -> str:
    """aqm's context.md: every stage with its status, input and output, in order."""
    parts = [f"# Task {task.id}\n\n{task.description}\n"]
    for s in stages:
        if s.kind == "turn":
            continue
        status = s.gate_result or s.status
        label = "reject_reason" if s.gate_result == "rejected" else "reason"
        reason = f"\n**{label}**: {s.reject_reason}" if s.reject_reason else ""
        parts.append(
            f"## [stage {s.number}] {s.agent_id} — {s.task_name or s.kind}\n**Status**: {status} | "
            f"{_when(s.finished_at or s.started_at)}{reason}\n\n### Input\n{s.input_text}\n\n"
            f"### Output\n{s.output_text}\n\n---\n"
        )
    return "\n".join(parts)


def agent_md(stages: list[StageRecord], agent_id: str) -> str:
    """aqm's agent_<id>.md: that agent's outputs."""
    own = [s for s in stages if s.agent_id == agent_id]
    return (
        "\n".join(
            f"## [stage {s.number}]\n**Time**: {_when(s.finished_at)}\n\n{s.output_text}\n\n---\n"
            for s in own
        )
        or f"(no stages of {agent_id})"
    )


def transcript_md(stages: list[StageRecord]) -> str:
    """aqm's transcript.md: session turns by round."""
    turns = [s for s in stages if s.kind in ("turn", "summary", "session")]
    if not turns:
        return "(no session in this task)"
    lines = ["# Meeting Transcript"]
    current = ""
    for s in turns:
        if s.kind == "turn" and s.task_name != current:
            current = s.task_name
            lines.append(f"\n## Round {current.rsplit(':r', 1)[-1]} ({current.split(':')[1]})")
        title = {"summary": "### Final Summary", "session": f"### Result of {s.agent_id}"}.get(
            s.kind, f"### [{s.agent_id}]"
        )
        lines.append(f"{title} ({_when(s.finished_at)})\n{s.output_text}\n")
    return "\n".join(lines)


def _columns(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows)


def _short(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _duration(stage: StageRecord) -> str:
    if stage.started_at is None or stage.finished_at is None:
        return ""
    seconds = (stage.finished_at - stage.started_at).total_seconds()
    return f"{seconds:.1f}s"
