"""Context strategies: what `{{ context }}` shows, planned from stage summaries, rendered from outputs.

| strategy   | `{{ context }}`                                                                  |
| ---------- | -------------------------------------------------------------------------------- |
| none       | empty                                                                            |
| last_only  | exactly the previous stage's output on this branch                               |
| own        | this agent's own earlier outputs                                                 |
| shared     | the last `context_window` stages in full, one history line for each older stage  |
| both       | shared, plus this agent's own earlier outputs not already shown (`[notes:<id>]`) |

A branch of a fan-out sees the stages up to its fork and its own. Built from stage records,
so an output containing `---` or a table is never cut into pieces (aqm split on `---`), and
inputs are not repeated (they are the previous outputs).
"""

from __future__ import annotations

from collections.abc import Mapping

from app.engine.commands import ContextPlan, Shown
from app.engine.state import Branch, StageSummary

SUMMARY_CHARS = 120


def plan_context(
    strategy: str, window: int, agent_id: str, branch: Branch, history: tuple[StageSummary, ...]
) -> ContextPlan:
    visible = _visible(branch, history)
    if strategy == "none":
        return ContextPlan("none")
    if strategy == "last_only":
        last = [s for s in visible if s.number == branch.last_stage] or visible[-1:]
        return ContextPlan("last_only", verbatim=tuple(_shown(s) for s in last))
    own = tuple(_shown(s) for s in visible if s.agent_id == agent_id)
    if strategy == "own":
        return ContextPlan("own", own=own, agent_id=agent_id)
    recent = visible if window == 0 else visible[-window:]
    older = visible[: len(visible) - len(recent)]
    shown = {s.number for s in recent}
    notes = tuple(s for s in own if s.number not in shown) if strategy == "both" else ()
    return ContextPlan(
        strategy,
        verbatim=tuple(_shown(s) for s in recent),
        history=tuple(s.entry for s in older),
        own=notes,
        agent_id=agent_id,
    )


def render_context(plan: ContextPlan, outputs: Mapping[int, str]) -> str:
    if plan.strategy == "none":
        return ""
    if plan.strategy == "last_only":
        return "\n\n".join(outputs.get(s.number, "") for s in plan.verbatim)
    if plan.strategy == "own":
        return _sections(plan.own, outputs)
    parts = []
    if plan.history:
        parts.append("[history]\n" + "\n".join(plan.history) + "\n[recent]")
    if plan.verbatim:
        parts.append(_sections(plan.verbatim, outputs))
    if plan.own:
        parts.append(f"[notes:{plan.agent_id}]\n" + _sections(plan.own, outputs))
    return "\n\n".join(parts)


def summary_line(output: str) -> str:
    """The first meaningful line of an output (no headings, no bold labels), at most 120 chars."""
    for line in output.splitlines():
        text = line.strip()
        if text and not text.startswith(("#", "**", "```", "---")):
            return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"
    return ""


def _shown(summary: StageSummary) -> Shown:
    return Shown(summary.number, summary.agent_id, summary.status)


def _visible(branch: Branch, history: tuple[StageSummary, ...]) -> list[StageSummary]:
    """The stages this branch sees, turns left out: one pass per prompt, so kept to plain
    comparisons when the branch has no fork behind it (every linear task)."""
    if not branch.visible:
        own = branch.id
        return [s for s in history if s.branch == own and s.kind != "turn"]
    return [s for s in history if branch.sees(s) and s.kind != "turn"]


def _sections(shown: tuple[Shown, ...], outputs: Mapping[int, str]) -> str:
    return "\n\n".join(
        f"## [stage {s.number}] {s.agent_id} ({s.status})\n{outputs.get(s.number, '')}" for s in shown
    )
