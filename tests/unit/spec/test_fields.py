"""Every field, default and shorthand of agents.yaml loads to what aqm 1.3 means by it.

Each row is named after the field it covers; the closing note of the foundation issue
lists these ids.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.spec.loader import Pipeline
from app.spec.models import Chunks, Consensus, HumanInput, McpServer

from .helpers import load

Check = Callable[[Pipeline], bool]

ONE = """
agents:
  - id: a
    runtime: claude
{extra}
"""


def one(extra: str) -> str:
    return ONE.format(extra="\n".join("    " + line for line in extra.strip("\n").splitlines()))


FIELDS: dict[str, tuple[str, Check]] = {
    "top.apiVersion": ("apiVersion: aqm/v0.1\n" + ONE.format(extra=""), lambda p: p.first.id == "a"),
    "top.entry_point default first": (ONE.format(extra=""), lambda p: p.entry_point == "first"),
    "top.entry_point auto": ("entry_point: auto\n" + ONE.format(extra=""), lambda p: p.entry_point == "auto"),
    "agent.id": (ONE.format(extra=""), lambda p: p.ids == ("a",)),
    "agent.name default from id": (
        "agents:\n  - {id: code_review-bot, runtime: claude}\n",
        lambda p: p.first.display_name == "Code Review Bot",
    ),
    "agent.name": (one("name: Alice"), lambda p: p.first.display_name == "Alice"),
    "agent.type default agent": (ONE.format(extra=""), lambda p: p.first.type == "agent"),
    "agent.runtime claude": (ONE.format(extra=""), lambda p: p.first.runtime == "claude"),
    "agent.runtime gemini": (
        "agents:\n  - {id: a, runtime: gemini}\n",
        lambda p: p.first.runtime == "gemini",
    ),
    "agent.runtime codex": ("agents:\n  - {id: a, runtime: codex}\n", lambda p: p.first.runtime == "codex"),
    "agent.runtime local": (
        "agents:\n  - {id: a, runtime: local, model: ./m.gguf}\n",
        lambda p: p.first.runtime == "local" and p.first.model == "./m.gguf",
    ),
    "agent.runtime command (list)": (
        "agents:\n  - {id: t, runtime: command, command: [pytest, -q]}\n",
        lambda p: p.first.argv == ["pytest", "-q"],
    ),
    "agent.runtime command (line split like a shell)": (
        "agents:\n  - id: t\n    runtime: command\n    command: pytest -k 'slow and not db'\n",
        lambda p: p.first.argv == ["pytest", "-k", "slow and not db"],
    ),
    "agent.model default none": (ONE.format(extra=""), lambda p: p.first.model is None),
    "agent.model": (one("model: opus"), lambda p: p.first.model == "opus"),
    "agent.system_prompt": (
        one("system_prompt: 'Do: {{ input }}'"),
        lambda p: p.first.system_prompt == "Do: {{ input }}",
    ),
    "agent.system_prompt default empty": (ONE.format(extra=""), lambda p: p.first.system_prompt == ""),
    "agent.context_strategy default both": (
        ONE.format(extra=""),
        lambda p: p.first.context_strategy == "both",
    ),
    "agent.context_strategy": (
        one("context_strategy: last_only"),
        lambda p: p.first.context_strategy == "last_only",
    ),
    "agent.context_window default 3": (ONE.format(extra=""), lambda p: p.first.context_window == 3),
    "agent.context_window 0 = all": (one("context_window: 0"), lambda p: p.first.context_window == 0),
    "agent.human_input default none": (ONE.format(extra=""), lambda p: p.first.human_input_config is None),
    "agent.human_input true = on_demand": (
        one("human_input: true"),
        lambda p: p.first.human_input_config == HumanInput(mode="on_demand"),
    ),
    "agent.human_input false = off": (
        one("human_input: false"),
        lambda p: p.first.human_input_config is None,
    ),
    "agent.human_input mode string": (
        one("human_input: before"),
        lambda p: p.first.human_input_config == HumanInput(mode="before"),
    ),
    "agent.human_input object": (
        one("human_input: {mode: both, prompt: Which DB?}"),
        lambda p: p.first.human_input_config == HumanInput(mode="both", prompt="Which DB?"),
    ),
    "agent.human_input enabled false": (
        one("human_input: {enabled: false, mode: before}"),
        lambda p: p.first.human_input_config is None,
    ),
    "agent.gate default none": (ONE.format(extra=""), lambda p: p.first.gate is None),
    "agent.gate llm defaults": (
        one("gate: {type: llm}"),
        lambda p: p.first.gate is not None and (p.first.gate.max_retries, p.first.gate.prompt) == (3, ""),
    ),
    "agent.gate human": (
        one("gate: {type: human}"),
        lambda p: p.first.gate is not None and p.first.gate.type == "human",
    ),
    "agent.gate prompt model max_retries runtime": (
        one("gate: {prompt: 'OK?', model: m1, max_retries: 5, runtime: gemini}"),
        lambda p: (
            p.first.gate is not None
            and (p.first.gate.prompt, p.first.gate.model, p.first.gate.max_retries, p.first.gate.runtime)
            == ("OK?", "m1", 5, "gemini")
        ),
    ),
    "agent.mcp string shorthand": (
        one("mcp: [github]"),
        lambda p: p.first.servers == [McpServer(server="github")],
    ),
    "agent.mcp full form": (
        one("mcp:\n  - server: db\n    command: node\n    args: [srv.js]\n    env: {DB: x}"),
        lambda p: (
            p.first.servers == [McpServer(server="db", command="node", args=["srv.js"], env={"DB": "x"})]
        ),
    ),
    "agent.cli_flags": (
        one("cli_flags: [--allowedTools, Edit]"),
        lambda p: p.first.flags == ["--allowedTools", "Edit"],
    ),
    "agent.claude_code_flags (deprecated alias)": (
        one("claude_code_flags: [--verbose]"),
        lambda p: p.first.flags == ["--verbose"],
    ),
    "agent.cli_flags wins over claude_code_flags": (
        one("cli_flags: [--a]\nclaude_code_flags: [--b]"),
        lambda p: p.first.flags == ["--a"],
    ),
    "agent.retry": (
        one("retry: {max_retries: 2, backoff: 5, fallback_context_strategy: none}"),
        lambda p: (
            p.first.retry is not None
            and (p.first.retry.max_retries, p.first.retry.backoff, p.first.retry.fallback_context_strategy)
            == (2, 5, "none")
        ),
    ),
    "agent.retry defaults": (
        one("retry: {}"),
        lambda p: p.first.retry is not None and p.first.retry.max_retries == 0,
    ),
    "agent.abstract and extends": (
        "agents:\n  - {id: base, abstract: true, runtime: gemini, model: m}\n  - {id: child, extends: base}\n",
        lambda p: (
            p.ids == ("child",)
            and (p.first.runtime, p.first.model, p.first.abstract) == ("gemini", "m", False)
        ),
    ),
    "handoff.to static": (one("handoffs: [{to: a}]"), lambda p: p.first.handoffs[0].targets == ("a",)),
    "handoff.to comma fan-out": (
        "agents:\n  - {id: a, runtime: claude, handoffs: [{to: 'b, c'}]}\n  - {id: b, runtime: claude}\n"
        "  - {id: c, runtime: claude}\n",
        lambda p: p.first.handoffs[0].targets == ("b", "c"),
    ),
    "handoff.to * with condition auto": (
        one("handoffs: [{to: '*', condition: auto}]"),
        lambda p: p.first.handoffs[0].targets == ("*",),
    ),
    "handoff.condition default always": (
        one("handoffs: [{to: a}]"),
        lambda p: p.first.handoffs[0].condition == "always",
    ),
    "handoff.condition expression": (
        one("handoffs: [{to: a, condition: 'severity == critical'}]"),
        lambda p: p.first.handoffs[0].condition == "severity == critical",
    ),
    "handoff.payload default": (
        one("handoffs: [{to: a}]"),
        lambda p: p.first.handoffs[0].payload == "{{ output }}",
    ),
    "handoff.payload template": (
        one(
            "handoffs: [{to: a, condition: on_reject, payload: 'Fix: {{ reject_reason }} {{ gate_result }}'}]"
        ),
        lambda p: "reject_reason" in p.first.handoffs[0].payload,
    ),
    "handoff.task label": (
        one("handoffs: [{to: a, task: review}]"),
        lambda p: p.first.handoffs[0].task == "review",
    ),
    "session.participants turn_order max_rounds summary_agent": (
        """
        agents:
          - {id: x, runtime: claude}
          - {id: y, runtime: gemini}
          - id: s
            type: session
            participants: [x, y]
            turn_order: moderator
            max_rounds: 4
            summary_agent: x
        """,
        lambda p: (
            (
                p.agent("s").participants,
                p.agent("s").turn_order,
                p.agent("s").max_rounds,
                p.agent("s").summary_agent,
            )
            == (["x", "y"], "moderator", 4, "x")
        ),
    ),
    "session.defaults": (
        "agents:\n  - {id: x, runtime: claude}\n  - {id: s, type: session, participants: [x]}\n",
        lambda p: (
            (p.agent("s").turn_order, p.agent("s").max_rounds, p.agent("s").consensus_config)
            == ("round_robin", 10, Consensus())
        ),
    ),
    "session.consensus": (
        "agents:\n  - {id: x, runtime: claude}\n  - id: s\n    type: session\n    participants: [x]\n"
        "    summary_agent: x\n    chunks: {}\n"
        "    consensus: {method: moderator_decides, keyword: 'LGTM', require: majority, require_chunks_done: true}\n",
        lambda p: (
            p.agent("s").consensus_config
            == Consensus(
                method="moderator_decides", keyword="LGTM", require="majority", require_chunks_done=True
            )
        ),
    ),
    "session.chunks": (
        "agents:\n  - {id: x, runtime: claude}\n  - {id: s, type: session, participants: [x], "
        "chunks: {initial: [one, two]}}\n",
        lambda p: p.agent("s").chunks == Chunks(enabled=True, initial=["one", "two"]),
    ),
    "params bare scalar = default": (
        "params: {model: sonnet}\nagents:\n  - {id: a, runtime: claude, model: '${{ params.model }}'}\n",
        lambda p: p.first.model == "sonnet" and p.params["model"] == "sonnet",
    ),
    "params full form with default": (
        "params:\n  n: {type: number, default: 4, description: rounds}\nagents:\n"
        "  - {id: x, runtime: claude}\n  - {id: s, type: session, participants: [x], max_rounds: '${{ params.n }}'}\n",
        lambda p: p.agent("s").max_rounds == 4,
    ),
    "params in a prompt stay data (a Jinja variable)": (
        "params: {who: '{{ 7*7 }}'}\nagents:\n  - {id: a, runtime: claude, system_prompt: 'Hi ${{ params.who }}'}\n",
        lambda p: p.first.system_prompt == "Hi {{ params.who }}" and p.params["who"] == "{{ 7*7 }}",
    ),
}


@pytest.mark.parametrize(("text", "check"), list(FIELDS.values()), ids=list(FIELDS))
def test_field_loads_with_its_aqm_meaning(text: str, check: Check) -> None:
    assert check(load(text))


def test_param_overrides_are_coerced_to_the_declared_type() -> None:
    text = """
    params:
      rounds: {type: number, default: 2}
      strict: {type: boolean}
      model: {required: true}
    agents:
      - id: x
        runtime: claude
        model: ${{ params.model }}
        cli_flags: ["--strict=${{ params.strict }}"]
      - {id: s, type: session, participants: [x], max_rounds: "${{params.rounds}}"}
    """
    pipeline = load(text, params={"rounds": "7", "strict": "yes", "model": "opus"})
    assert pipeline.params == {"rounds": 7, "strict": True, "model": "opus"}
    assert pipeline.agent("s").max_rounds == 7
    assert pipeline.first.flags == ["--strict=true"]
    assert ("x", "model") in pipeline.param_fields and ("x", "cli_flags") in pipeline.param_fields


def test_params_file_values_are_used_when_no_override_is_given() -> None:
    pipeline = load(
        "params: {model: {required: true}}\nagents:\n  - {id: a, runtime: claude, model: '${{ params.model }}'}\n",
        extra={"params.yaml": "model: haiku\n"},
    )
    assert pipeline.first.model == "haiku"


def test_extends_merges_through_every_level_with_lists_replaced() -> None:
    text = """
    agents:
      - id: root
        abstract: true
        runtime: gemini
        model: m-root
        mcp: [github]
        gate: {type: llm, max_retries: 2}
      - id: middle
        abstract: true
        extends: root
        model: m-middle
        mcp: [filesystem]
      - id: leaf
        extends: middle
        system_prompt: hi
    """
    leaf = load(text).agent("leaf")
    assert (leaf.runtime, leaf.model, [s.server for s in leaf.servers]) == (
        "gemini",
        "m-middle",
        ["filesystem"],
    )
    assert leaf.gate is not None and leaf.gate.max_retries == 2


def test_imports_take_selected_agents_after_the_files_own_agents() -> None:
    main = """
    imports:
      - from: ./shared/reviewers.yaml
        agents: [security]
    agents:
      - {id: dev, runtime: claude, handoffs: [{to: security}]}
    """
    shared = """
    agents:
      - {id: security, runtime: gemini, model: '${{ params.model }}'}
      - {id: style, runtime: gemini}
    """
    pipeline = load(
        "params: {model: pro}\n" + main.replace("\n    ", "\n"), extra={"shared/reviewers.yaml": shared}
    )
    assert pipeline.ids == ("dev", "security")
    assert pipeline.agent("security").model == "pro"  # params reach imported files (aqm forgot them)


def test_an_imported_file_may_be_a_bare_list_and_import_further() -> None:
    files = {
        "lib/a.yaml": "imports: [{from: b.yaml}]\nagents:\n  - {id: a, runtime: codex}\n",
        "lib/b.yaml": "- {id: b, runtime: codex}\n",
    }
    pipeline = load("imports: [{from: lib/a.yaml}]\nagents:\n  - {id: main, runtime: claude}\n", extra=files)
    assert pipeline.ids == ("main", "a", "b")


def test_an_imported_agent_can_be_extended() -> None:
    text = "imports: [{from: base.yaml}]\nagents:\n  - {id: mine, extends: base, model: x}\n"
    pipeline = load(text, extra={"base.yaml": "- {id: base, abstract: true, runtime: gemini}\n"})
    assert pipeline.ids == ("mine",) and pipeline.first.runtime == "gemini"
