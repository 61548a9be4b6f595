"""Handoff routing: which agents come next, each with its rendered payload.

Every rule whose condition holds contributes its targets, in order; targets are
deduplicated (the first payload wins). `condition: auto` takes its targets from the
output's line-anchored `HANDOFF: <id>` lines, limited to the rule's `to` list unless it is
`*`; ids that name no agent are ignored.
"""

from __future__ import annotations

from functools import lru_cache

from app.engine.commands import Decision
from app.engine.directives import handoff_targets
from app.engine.evaluate import holds
from app.engine.prompts import render
from app.spec.conditions import Auto, Condition, parse_condition
from app.spec.loader import Pipeline
from app.spec.models import Agent


@lru_cache(maxsize=1024)
def condition_of(text: str) -> Condition:
    return parse_condition(text)  # validated at load time: it parses


def route(
    agent: Agent, stage_input: str, output: str, verdict: str | None, reason: str | None, pipeline: Pipeline
) -> list[tuple[str, str]]:
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
        names = (
            _auto_targets(handoff.targets, output, pipeline)
            if isinstance(condition, Auto)
            else handoff.targets
        )
        fresh = [name for name in names if name not in chosen]
        if fresh:
            payload = render(handoff.payload, variables)
            chosen.update((name, payload) for name in fresh)
    return list(chosen.items())


def _auto_targets(allowed: tuple[str, ...], output: str, pipeline: Pipeline) -> list[str]:
    named = handoff_targets(output)
    ids = set(pipeline.ids)
    if allowed == ("*",):
        return [n for n in named if n in ids]
    return [n for n in named if n in allowed and n in ids]


def handoff_decision(agent: Agent, pipeline: Pipeline) -> Decision | None:
    """The `HANDOFF:` choice of an agent with `condition: auto` rules (their targets, `*` = any agent)."""
    choices: list[str] = []
    for handoff in agent.handoffs:
        if not isinstance(condition_of(handoff.condition), Auto):
            continue
        allowed = pipeline.ids if handoff.targets == ("*",) else handoff.targets
        choices += [name for name in allowed if name in pipeline.ids and name not in choices]
    if not choices:
        return None
    return Decision(
        kind="handoff",
        lines=tuple(f"HANDOFF: {name}" for name in choices),
        question=(
            "Which agent should take over next? Answer with one line `HANDOFF: <agent id>`, "
            f"the id being one of: {', '.join(choices)}."
        ),
    )
