"""Semantic checks of a pipeline after imports and extends: what a schema cannot say.

Dangling handoff targets, references to abstract agents, session rules, runtimes and their
required keys, condition syntax and Jinja syntax. Each problem is reported at the node
its author wrote (following `extends` to the parent that supplied the field).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from app.errors import SpecError
from app.spec.models import Agent, ProjectConfig
from app.spec.source import Mark, Path
from app.spec.suggest import suggest

if TYPE_CHECKING:
    from app.spec.conditions import ConditionSyntaxError
    from app.spec.loader import RawAgent

RUNTIMES = ("claude", "gemini", "codex", "command", "local")
CONDITION_WORDS = ("always", "auto", "on_approve", "on_reject", "on_pass")


@dataclass(frozen=True, slots=True)
class CheckContext:
    config: ProjectConfig
    raws: dict[str, RawAgent]  # agent id -> merged raw agent, with field origins
    abstract: set[str]
    known: set[str]  # every id written, abstract or not, valid or not

    def error(self, agent: Agent, sub: Path, message: str, *, fix: str = "", key: bool = False) -> SpecError:
        raw = self.raws[agent.id]
        located = raw.where(str(sub[0])) if sub else raw.at
        return located.error(sub, message, fix=fix, key=key)

    def mark(self, agent: Agent, sub: Path) -> Mark:
        raw = self.raws[agent.id]
        located = raw.where(str(sub[0])) if sub else raw.at
        return located.positions.at((*located.prefix, *sub))


@dataclass(frozen=True, slots=True)
class Problem:
    """One semantic problem of an agent, at `sub` (a path inside the agent's mapping)."""

    sub: Path
    message: str
    fix: str = ""
    key: bool = False  # point at the key rather than its value


SESSION_ONLY = ("participants", "summary_agent", "consensus")
AGENT_ONLY = (
    "runtime",
    "gate",
    "command",
    "model",
    "human_input",
    "mcp",
    "cli_flags",
    "claude_code_flags",
    "retry",
)


def check_pipeline(
    agents: list[Agent], context: CheckContext, warnings: list[SpecError], notes: list[SpecError]
) -> list[SpecError]:
    """The errors of a pipeline; `warnings` (--strict fails on them) and `notes` (never) are added to."""
    ids = {a.id for a in agents}
    errors: list[SpecError] = []
    for agent in agents:
        checks = _session_problems if agent.type == "session" else _agent_problems
        for problem in (*checks(agent, context, ids), *_handoff_problems(agent, context, ids)):
            errors.append(
                context.error(agent, problem.sub, problem.message, fix=problem.fix, key=problem.key)
            )
        errors += _check_conditions(agent, context) + _check_templates(agent, context)
        notes += _ignored_targets(agent, context)
        if agent.type == "agent" and agent.chunks is not None:
            warnings.append(
                context.error(agent, ("chunks",), "'chunks' only has an effect on sessions", key=True)
            )
    return errors


def _agent_problems(agent: Agent, ctx: CheckContext, ids: set[str]) -> Iterator[Problem]:
    if "runtime" in ctx.raws[agent.id].dropped:
        return  # an invalid runtime is already reported; the checks below depend on it
    if agent.runtime is None:
        yield Problem(
            ("id",), f"agent '{agent.id}' has no runtime", f"add 'runtime:' with one of {', '.join(RUNTIMES)}"
        )
    if agent.runtime == "command" and not agent.argv:
        yield Problem(
            ("runtime",),
            f"agent '{agent.id}' has runtime: command but no 'command:'",
            'add command: ["pytest", "-q"] (argv words) or a command line',
        )
    if agent.runtime != "command" and agent.command is not None:
        yield Problem(
            ("command",),
            "'command' only applies to runtime: command",
            "set runtime: command, or remove command:",
            key=True,
        )
    gate = agent.gate
    if (
        gate
        and gate.type == "llm"
        and agent.runtime == "command"
        and not (gate.runtime or ctx.config.gate.runtime)
    ):
        yield Problem(
            ("gate",),
            f"the llm gate of command agent '{agent.id}' needs a runtime",
            "add gate: {runtime: claude} (or set gate.runtime in config.yaml)",
        )
    for name in SESSION_ONLY:
        if name in ctx.raws[agent.id].data:
            yield Problem(
                (name,), f"'{name}' only applies to type: session", "add 'type: session' or remove it", True
            )


def _session_problems(agent: Agent, ctx: CheckContext, ids: set[str]) -> Iterator[Problem]:
    if not agent.participants:
        yield Problem(
            ("id",), f"session '{agent.id}' has no participants", "add participants: [agent_a, agent_b]"
        )
    for i, participant in enumerate(agent.participants):
        problem = _reference_problem(participant, ctx, ids, _agents_except(agent, ctx))
        if problem:
            yield Problem(("participants", i), f"participant {problem[0]}", problem[1])
        elif participant in ids and ctx.raws[participant].data.get("type") == "session":
            yield Problem(
                ("participants", i),
                f"participant '{participant}' is a session; a session cannot take part in another session",
            )
    yield from _summary_problems(agent, ctx, ids)
    for name in AGENT_ONLY:
        if name in ctx.raws[agent.id].data:
            yield Problem(
                (name,), f"'{name}' does not apply to a session; set it on its participants", key=True
            )


def _summary_problems(agent: Agent, ctx: CheckContext, ids: set[str]) -> Iterator[Problem]:
    summary = agent.summary_agent
    if summary is not None:
        problem = _reference_problem(summary, ctx, ids, [p for p in agent.participants if p in ids])
        if problem:
            yield Problem(("summary_agent",), f"summary_agent {problem[0]}", problem[1])
        elif summary not in agent.participants:
            yield Problem(
                ("summary_agent",),
                f"summary_agent '{summary}' is not a participant",
                "add it to participants",
            )
    elif agent.turn_order == "moderator":
        yield Problem(("turn_order",), "turn_order: moderator needs a summary_agent (the moderator)")
    if summary is None and agent.consensus_config.method == "moderator_decides":
        yield Problem(("consensus",), "consensus method moderator_decides needs a summary_agent")
    if agent.consensus_config.require_chunks_done and agent.chunks is None:
        yield Problem(
            ("consensus",),
            "require_chunks_done is true but the session has no 'chunks:'",
            "add chunks: {initial: [...]}",
        )


def _agents_except(session: Agent, ctx: CheckContext) -> list[str]:
    """Agents a session may name: neither sessions nor itself."""
    return [i for i, raw in ctx.raws.items() if i != session.id and raw.data.get("type") != "session"]


def _reference_problem(
    target: str, ctx: CheckContext, ids: set[str], candidates: list[str] | None = None
) -> tuple[str, str] | None:
    """Why `target` cannot be referenced (message, fix), or None when it can."""
    if target in ids:
        return None
    if target in ctx.abstract:
        return (
            f"'{target}' is abstract (a template for extends), so it never runs",
            f"reference an agent that extends '{target}'",
        )
    if target in ctx.known:
        return None  # it exists but is invalid: its own errors say why
    choices = sorted(ctx.known - ctx.abstract) if candidates is None else candidates
    return f"'{target}' does not exist", suggest(target, choices) or "define an agent with that id"


def _ignored_targets(agent: Agent, ctx: CheckContext) -> list[SpecError]:
    """A note for each `to` other than '*' under condition: auto, which aqm and we ignore."""
    return [
        ctx.error(
            agent,
            ("handoffs", i, "to"),
            f"to: '{', '.join(handoff.targets)}' is ignored under condition: auto (in agent '{agent.id}'): "
            "the agent's HANDOFF: line may name any agent of the pipeline",
            fix="write to: '*' to say so",
        )
        for i, handoff in enumerate(agent.handoffs)
        if handoff.condition.strip() == "auto" and handoff.targets != ("*",)
    ]


def _handoff_problems(agent: Agent, ctx: CheckContext, ids: set[str]) -> Iterator[Problem]:
    for i, handoff in enumerate(agent.handoffs):
        if handoff.condition.strip() == "auto":
            continue  # its `to` is ignored (a note, above); the HANDOFF line is checked at run time
        for target in handoff.targets:
            if target == "*":
                if handoff.condition.strip() != "auto":
                    yield Problem(
                        ("handoffs", i, "to"),
                        "to: '*' needs condition: auto",
                        "add condition: auto (the agent names its target with HANDOFF: <id>)",
                    )
                continue
            problem = _reference_problem(target, ctx, ids)
            if problem:
                yield Problem(
                    ("handoffs", i, "to"), f"handoff target {problem[0]} (in agent '{agent.id}')", problem[1]
                )


def _check_conditions(agent: Agent, ctx: CheckContext) -> list[SpecError]:
    errors = []
    for i, handoff in enumerate(agent.handoffs):
        problem = _condition_problem(handoff.condition)
        if problem is not None:
            errors.append(_condition_error(agent, ctx, i, handoff.condition, problem))
    return errors


def _condition_problem(text: str) -> ConditionSyntaxError | None:
    if text.strip() in ("", *CONDITION_WORDS):
        return None  # the common case needs no parser
    from app.spec.conditions import ConditionSyntaxError, parse_condition

    try:
        parse_condition(text)
    except ConditionSyntaxError as exc:
        return exc
    return None


def _condition_error(
    agent: Agent, ctx: CheckContext, index: int, text: str, exc: ConditionSyntaxError
) -> SpecError:
    sub: Path = ("handoffs", index, "condition")
    word = text.strip()
    fix = ""
    if " " not in word:
        fix = suggest(word, CONDITION_WORDS) + " (or an expression such as 'severity == critical')"
    mark = ctx.mark(agent, sub)
    quoted = 1 if mark.style in ('"', "'") else 0
    column = mark.column if " " not in word else mark.column + quoted + exc.column - 1
    return SpecError(
        f"condition {text!r} does not parse: {exc}", ctx.error(agent, sub, "").path, mark.line, column, fix
    )


def _check_templates(agent: Agent, ctx: CheckContext) -> list[SpecError]:
    fields: list[tuple[Path, str]] = [(("system_prompt",), agent.system_prompt)]
    fields += [(("handoffs", i, "payload"), h.payload) for i, h in enumerate(agent.handoffs)]
    if agent.gate is not None:
        fields.append((("gate", "prompt"), agent.gate.prompt))
    errors = []
    for sub, source in fields:
        if "{" not in source:
            continue
        problem = template_problem(source)
        if problem is not None:
            line, message = problem
            mark = ctx.mark(agent, sub)
            block = mark.style in ("|", ">")
            errors.append(
                SpecError(
                    f"template does not parse: {message}",
                    ctx.error(agent, sub, "").path,
                    mark.line + line if block else mark.line,
                    mark.indent + 1 if block else mark.column,
                    "check the {{ }} and {% %} pairs (Jinja2 syntax)",
                )
            )
    return errors


SIMPLE_TEMPLATE = re.compile(
    r"(?:[^{}]|\{(?![{%#])|\}(?!\}))*"  # text without Jinja delimiters
    r"(?:\{\{\s*(?!(?:and|or|not|in|is|if|else)\b)[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"  # {{ a.b
    r"\s*(?:\|\s*[A-Za-z_]\w*\s*)*\}\}"  # | filter }}
    r"(?:[^{}]|\{(?![{%#])|\}(?!\}))*)*"
)


def template_problem(source: str) -> tuple[int, str] | None:
    """(line within the template, message) when the Jinja2 source does not parse, else None."""
    if SIMPLE_TEMPLATE.fullmatch(source):
        return None  # only {{ variable }} expressions: valid for sure, no need to import jinja2 (~40 ms)
    from jinja2 import TemplateSyntaxError

    try:
        _environment()(source)
    except TemplateSyntaxError as exc:
        return exc.lineno or 1, exc.message or "syntax error"
    return None


@cache
def _environment() -> Callable[[str], object]:
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment().parse
