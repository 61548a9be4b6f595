"""Handoff routing: which agents come next, each with its rendered payload.

Every rule whose condition holds contributes its targets, in order; targets are
deduplicated (the first payload wins). `condition: auto` takes its targets from the
output's line-anchored `HANDOFF: <id>` lines and, as in aqm, ignores the rule's `to`.

Where we read an output more strictly than aqm, a run must never silently end earlier than
aqm's would (DESIGN.md, "Conditions"), so routing reports a *problem* that fails the stage:
- a HANDOFF naming no agent of the pipeline (aqm skips the name with a warning);
- no target at all while aqm's looser reading would have routed: a `HANDOFF:` only mid-line
  or inside a code block, or `KEY == V` / `KEY in [...]` whose KEY has no line in the output
  while V appears in it as a word (aqm matches the word anywhere).
An auto agent that names nobody ends its branch, as in aqm; the engine notes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from app.engine.commands import Decision
from app.engine.directives import handoff_words, lookup, loose_handoff_words
from app.engine.evaluate import holds
from app.engine.prompts import render
from app.spec.conditions import Auto, Compare, Condition, In, parse_condition
from app.spec.loader import Pipeline
from app.spec.models import Agent
from app.spec.suggest import suggest


@dataclass(frozen=True, slots=True)
class Routed:
    """The targets of one finished stage with their payloads, or why routing cannot go on."""

    targets: list[tuple[str, str]]
    problem: str | None = None  # fails the stage
    note: str | None = None  # shown, changes nothing


@lru_cache(maxsize=1024)
def condition_of(text: str) -> Condition:
    return parse_condition(text)  # validated at load time: it parses


def route(
    agent: Agent, stage_input: str, output: str, verdict: str | None, reason: str | None, pipeline: Pipeline
) -> Routed:
    unknown = _unknown_handoffs(agent, output, pipeline)
    if unknown is not None:
        return Routed([], problem=unknown)
    variables = {
        "output": output,
        "input": stage_input,
        "reject_reason": reason or "",
        "gate_result": verdict or "",
        "params": pipeline.params,
    }
    chosen: dict[str, str] = {}
    for handoff in agent.handoffs:
        condition = condition_of(handoff.condition)
        if not holds(condition, output, verdict):
            continue
        names = handoff_words(output) if isinstance(condition, Auto) else handoff.targets
        fresh = [name for name in names if name not in chosen]
        if fresh:
            payload = render(handoff.payload, variables)
            chosen.update((name, payload) for name in fresh)
    if chosen:
        return Routed(list(chosen.items()))
    return Routed([], problem=_looser_reading(agent, output, pipeline), note=_silent_auto(agent, output))


def _has_auto(agent: Agent) -> bool:
    return any(isinstance(condition_of(h.condition), Auto) for h in agent.handoffs)


def _unknown_handoffs(agent: Agent, output: str, pipeline: Pipeline) -> str | None:
    """The error for HANDOFF names that are no agent of the pipeline, for an agent with auto rules."""
    if not _has_auto(agent):
        return None
    unknown = [name for name in handoff_words(output) if name not in pipeline.by_id]
    if not unknown:
        return None
    hints = [h for name in unknown if (h := suggest(name, pipeline.ids)).startswith("did you mean")]
    return (
        f"'{agent.id}' wrote HANDOFF: {', '.join(unknown)}, which names no agent of the pipeline "
        f"(its agents: {', '.join(pipeline.ids)})" + (f"; {'; '.join(hints)}" if hints else "")
    )


def _looser_reading(agent: Agent, output: str, pipeline: Pipeline) -> str | None:
    """Why aqm would have routed this output although no rule matched here, or None."""
    if _has_auto(agent):
        named = [n for n in loose_handoff_words(output) if n in pipeline.by_id]
        if named:
            return (
                f"'{agent.id}' wrote HANDOFF: {', '.join(named)} only inside a code block or after other "
                "text on its line; a HANDOFF counts at the start of a line, outside code blocks"
            )
    for handoff in agent.handoffs:
        key = _unanswered_key(condition_of(handoff.condition), output)
        if key is not None:
            return (
                f"no handoff of '{agent.id}' matched: its output has no '{key.upper()}: <value>' line "
                f"(nor a JSON field '{key}') for the condition `{handoff.condition}`, though it uses "
                f"the word; end the answer with a line such as '{key.upper()}: <value>'"
            )
    return None


def _unanswered_key(condition: Condition, output: str) -> str | None:
    """KEY of `KEY == V` / `KEY in [V, …]` when KEY is missing but some V is a word of the output."""
    values: tuple[str, ...]
    if isinstance(condition, Compare) and condition.op == "==":
        key, values = condition.key, (condition.value,)
    elif isinstance(condition, In) and not condition.negated:
        key, values = condition.key, condition.values
    else:
        return None
    if lookup(output, key) is not None:
        return None
    words = any(re.search(rf"(?<!\w){re.escape(v.strip())}(?!\w)", output, re.IGNORECASE) for v in values)
    return key if words else None


def _silent_auto(agent: Agent, output: str) -> str | None:
    if not _has_auto(agent) or handoff_words(output):
        return None
    return f"'{agent.id}' (condition: auto) named no agent with a HANDOFF: line, so its branch ends"


def handoff_decision(agent: Agent, pipeline: Pipeline) -> Decision | None:
    """The `HANDOFF:` choice of an agent with `condition: auto` rules: any agent of the pipeline."""
    if not _has_auto(agent):
        return None
    choices = pipeline.ids
    return Decision(
        kind="handoff",
        lines=tuple(f"HANDOFF: {name}" for name in choices),
        question=(
            "Which agent should take over next? Answer with one line `HANDOFF: <agent id>`, "
            f"the id being one of: {', '.join(choices)}."
        ),
    )
