"""The agent graph of a pipeline as text (for `aqm agents`) or as a Mermaid flowchart."""

from __future__ import annotations

from app.spec.loader import Pipeline
from app.spec.models import Agent, Handoff


def _agent_summary(agent: Agent) -> str:
    if agent.type == "session":
        consensus = agent.consensus_config
        parts = [
            f"session of {', '.join(agent.participants)}",
            f"{agent.turn_order}",
            f"{consensus.method} ({consensus.require})",
            f"max {agent.max_rounds} rounds",
        ]
        if agent.chunks is not None:
            parts.append(f"chunks: {len(agent.chunks.initial)} initial")
        return "; ".join(parts)
    parts = [agent.runtime or "?"]
    if agent.model:
        parts.append(f"model {agent.model}")
    if agent.runtime == "command":
        parts.append(f"command {' '.join(agent.argv)}")
    if agent.gate is not None:
        parts.append(
            f"gate {agent.gate.type}" + (f" x{agent.gate.max_retries}" if agent.gate.type == "llm" else "")
        )
    if agent.context_strategy != "both":
        parts.append(f"context {agent.context_strategy}")
    human = agent.human_input_config
    if human is not None:
        parts.append(f"human input {human.mode}")
    return ", ".join(parts)


def render_text(pipeline: Pipeline) -> str:
    lines = [
        f"pipeline {pipeline.name} ({pipeline.file}), entry: {pipeline.entry_point}, "
        f"{len(pipeline.agents)} agents"
    ]
    for agent in pipeline.agents:
        lines.append(f"  {agent.id} [{_agent_summary(agent)}]")
        for handoff in agent.handoffs:
            targets = "any agent named by HANDOFF:" if _any_agent(handoff) else ", ".join(handoff.targets)
            lines.append(f"    -> {targets}  ({handoff.condition})")
        if not agent.handoffs:
            lines.append("    -> (end)")
    return "\n".join(lines)


def _any_agent(handoff: Handoff) -> bool:
    """`to: "*"`, or any `to` under condition: auto (ignored there, as in aqm): the agent names its target."""
    return handoff.targets == ("*",) or handoff.condition.strip() == "auto"


def _label(text: str) -> str:
    """Mermaid label text inside double quotes: quotes and markup become entities."""
    return (
        text.replace("&", "#amp;")
        .replace('"', "#quot;")
        .replace("<", "#lt;")
        .replace(">", "#gt;")
        .replace("|", "#124;")
    )


def render_mermaid(pipeline: Pipeline) -> str:
    lines = ["flowchart TD"]
    for agent in pipeline.agents:
        label = _label(f"{agent.display_name}\n{_agent_summary(agent)}").replace("\n", "<br/>")
        shape = ("{{", "}}") if agent.type == "session" else ("[", "]")
        lines.append(f'  {agent.id}{shape[0]}"{label}"{shape[1]}')
    if any(_any_agent(h) for a in pipeline.agents for h in a.handoffs):
        lines.append('  any_agent(["any agent (HANDOFF:)"])')
    for agent in pipeline.agents:
        for participant in agent.participants if agent.type == "session" else []:
            lines.append(f"  {agent.id} -.- {participant}")
        for handoff in agent.handoffs:
            for node in ("any_agent",) if _any_agent(handoff) else handoff.targets:
                lines.append(f'  {agent.id} -->|"{_label(handoff.condition)}"| {node}')
    return "\n".join(lines)
