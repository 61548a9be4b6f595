"""Render prompts: agent system_prompt templates, handoff payloads, gate and entry messages.

Templates run in Jinja2's sandbox with every value passed as a variable, never spliced into
template source: an output that contains `{{ 7*7 }}` stays that text. Undefined names
render as empty strings, as in aqm.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from app.engine.commands import PromptPlan
from app.engine.context import render_context

if TYPE_CHECKING:
    from jinja2 import Template
    from jinja2.sandbox import SandboxedEnvironment

DEFAULT_TEMPLATE = "{{ input }}"
# `{{ name }}` and nothing else: most prompts are text and such references, which need no Jinja
NAME_REFERENCE = re.compile(r"\{\{ *([A-Za-z_][A-Za-z0-9_]*) *\}\}")
JINJA_MARKERS = ("{{", "}}", "{%", "%}", "{#", "#}")
JINJA_WORDS = frozenset(
    {"true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if"}
)
Parts = tuple[str, ...]  # text, name, text, name, ..., text


@lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)


@lru_cache(maxsize=512)
def _template(source: str) -> Template:
    return _environment().from_string(source)


@lru_cache(maxsize=512)
def _name_references(source: str) -> Parts | None:
    """The template split into text and bare names, when that is all it holds; else None.

    Text is taken as Jinja takes it: its line breaks become "\\n". Anything else — filters,
    attributes, whitespace control, statements, comments, a stray marker — is left to Jinja.
    """
    parts = NAME_REFERENCE.split(source)
    texts = parts[0::2]
    if any(marker in text for text in texts for marker in JINJA_MARKERS):
        return None
    if any(name in JINJA_WORDS for name in parts[1::2]):
        return None  # literals and operators to Jinja, never variables
    if any(text.endswith("{") for text in texts[:-1]) or any(text.startswith("}") for text in texts[1:]):
        return None  # `{{{ x }}`: Jinja's tag starts at the first brace pair
    parts[0::2] = [text.replace("\r\n", "\n").replace("\r", "\n") for text in texts]
    return tuple(parts)


def render(source: str, variables: Mapping[str, Any]) -> str:
    """Render one template (compiled once per distinct source).

    A template of text and `{{ name }}` references to given variables is filled in directly,
    exactly as Jinja would fill it (a property test holds the two together); the rest goes to
    Jinja's sandbox, which is then imported and compiles the template once.
    """
    parts = _name_references(source)
    if parts is not None and all(name in variables for name in parts[1::2]):
        return "".join(part if index % 2 == 0 else str(variables[part]) for index, part in enumerate(parts))
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
