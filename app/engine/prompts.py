"""Render prompts: agent system_prompt templates, handoff payloads, gate and entry messages.

Templates run in Jinja2's sandbox with every value passed as a variable, never spliced into
template source: an output that contains `{{ 7*7 }}` stays that text. Undefined names
render as empty strings, as in aqm.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import Template
from jinja2.sandbox import SandboxedEnvironment

from app.engine.commands import PromptPlan
from app.engine.context import render_context

DEFAULT_TEMPLATE = "{{ input }}"


@lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)


@lru_cache(maxsize=512)
def _template(source: str) -> Template:
    return _environment().from_string(source)


def render(source: str, variables: Mapping[str, Any]) -> str:
    """Render one template (compiled once per distinct source)."""
    return _template(source).render(**variables)


def render_prompt(plan: PromptPlan, outputs: Mapping[int, str]) -> str:
    """The prompt of one stage, from its plan and the stored outputs the plan names."""
    variables = {
        "input": plan.input,
        "context": render_context(plan.context, outputs),
        "transcript": render_transcript(plan.transcript, outputs),
        "chunks": plan.chunks,
        "params": plan.params,
        "output": "",
        "reject_reason": "",
        "gate_result": "",
    }
    text = render(plan.template or DEFAULT_TEMPLATE, variables)
    return f"{text}\n\n{plan.summary_request}" if plan.summary_request else text


def render_transcript(turns: tuple[tuple[int, str, int], ...], outputs: Mapping[int, str]) -> str:
    lines: list[str] = []
    current = 0
    for number, agent_id, round_no in turns:
        if round_no != current:
            lines.append(f"## Round {round_no}")
            current = round_no
        lines.append(f"### [{agent_id}]\n{outputs.get(number, '')}\n")
    return "\n".join(lines)
