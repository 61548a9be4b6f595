"""The validator rejects what aqm lets through, at file:line:column, with a fix."""

from __future__ import annotations

import pytest

from app.errors import SpecErrors
from app.spec.models import GateSettings, ProjectConfig

from .helpers import errors_of, load

# name -> (yaml, extra files, (file, line, column), text the message or fix must contain)
CASES: dict[str, tuple[str, dict[str, str], tuple[str, int, int], str]] = {
    "unknown agent key, with did-you-mean": (
        "agents:\n  - id: a\n    runtime: claude\n    handoff: []\n",
        {},
        ("agents.yaml", 4, 5),
        "did you mean 'handoffs'",
    ),
    "unknown top-level key": (
        "agent:\n  - {id: a}\nagents: []\n",
        {},
        ("agents.yaml", 1, 1),
        "did you mean 'agents'",
    ),
    "unknown handoff key": (
        "agents:\n  - id: a\n    runtime: claude\n    handoffs:\n      - {to: a, condtion: always}\n",
        {},
        ("agents.yaml", 5, 17),
        "did you mean 'condition'",
    ),
    "unknown gate key": (
        "agents:\n  - id: a\n    runtime: claude\n    gate: {type: llm, retries: 2}\n",
        {},
        ("agents.yaml", 4, 23),
        "max_retries",
    ),
    "unknown consensus key": (
        "agents:\n  - {id: x, runtime: claude}\n  - id: s\n    type: session\n    participants: [x]\n"
        "    consensus: {methd: vote}\n",
        {},
        ("agents.yaml", 6, 17),
        "did you mean 'method'",
    ),
    "unknown runtime": ("agents:\n  - id: a\n    runtime: claud\n", {}, ("agents.yaml", 3, 14), "'claude'"),
    "missing runtime": ("agents:\n  - id: a\n", {}, ("agents.yaml", 2, 9), "has no runtime"),
    "bad id": ("agents:\n  - id: 1abc\n    runtime: claude\n", {}, ("agents.yaml", 2, 9), "not a valid id"),
    "duplicate id": (
        "agents:\n  - {id: a, runtime: claude}\n  - {id: a, runtime: gemini}\n",
        {},
        ("agents.yaml", 3, 10),
        "duplicate agent id 'a'",
    ),
    "dangling handoff target names the agent": (
        "agents:\n  - id: a\n    runtime: claude\n    handoffs: [{to: developr}]\n  - {id: developer, runtime: claude}\n",
        {},
        ("agents.yaml", 4, 21),
        "did you mean 'developer'",
    ),
    "dangling fan-out target": (
        "agents:\n  - id: a\n    runtime: claude\n    handoffs: [{to: 'a, qa'}]\n",
        {},
        ("agents.yaml", 4, 21),
        "'qa' does not exist",
    ),
    "star target without auto": (
        "agents:\n  - id: a\n    runtime: claude\n    handoffs: [{to: '*'}]\n",
        {},
        ("agents.yaml", 4, 21),
        "condition: auto",
    ),
    "handoff to an abstract agent": (
        "agents:\n  - {id: base, abstract: true, runtime: claude}\n  - id: a\n    runtime: claude\n"
        "    handoffs: [{to: base}]\n",
        {},
        ("agents.yaml", 5, 21),
        "abstract",
    ),
    "participant that does not exist": (
        "agents:\n  - {id: x, runtime: claude}\n  - {id: s, type: session, participants: [x, ghost]}\n",
        {},
        ("agents.yaml", 3, 46),
        "'ghost' does not exist",
    ),
    "session without participants": (
        "agents:\n  - {id: s, type: session}\n",
        {},
        ("agents.yaml", 2, 10),
        "no participants",
    ),
    "session in a session": (
        "agents:\n  - {id: x, runtime: claude}\n  - {id: s, type: session, participants: [x]}\n"
        "  - {id: t, type: session, participants: [s]}\n",
        {},
        ("agents.yaml", 4, 43),
        "is a session",
    ),
    "summary agent not a participant": (
        "agents:\n  - {id: x, runtime: claude}\n  - {id: y, runtime: claude}\n"
        "  - {id: s, type: session, participants: [x], summary_agent: y}\n",
        {},
        ("agents.yaml", 4, 62),
        "not a participant",
    ),
    "require_chunks_done without chunks": (
        "agents:\n  - {id: x, runtime: claude}\n  - id: s\n    type: session\n    participants: [x]\n"
        "    consensus: {require_chunks_done: true}\n",
        {},
        ("agents.yaml", 6, 16),
        "no 'chunks:'",
    ),
    "runtime on a session": (
        "agents:\n  - {id: x, runtime: claude}\n  - {id: s, type: session, participants: [x], runtime: claude}\n",
        {},
        ("agents.yaml", 3, 47),
        "does not apply to a session",
    ),
    "participants on an agent": (
        "agents:\n  - {id: x, runtime: claude, participants: [x]}\n",
        {},
        ("agents.yaml", 2, 30),
        "only applies to type: session",
    ),
    "command runtime without command": (
        "agents:\n  - {id: t, runtime: command}\n",
        {},
        ("agents.yaml", 2, 22),
        "no 'command:'",
    ),
    "command on an llm agent": (
        "agents:\n  - {id: t, runtime: claude, command: [ls]}\n",
        {},
        ("agents.yaml", 2, 30),
        "only applies to runtime: command",
    ),
    "llm gate on a command agent without a gate runtime": (
        "agents:\n  - {id: t, runtime: command, command: [ls], gate: {type: llm}}\n",
        {},
        ("agents.yaml", 2, 52),
        "needs a runtime",
    ),
    "unclosed quote in a command line": (
        'agents:\n  - {id: t, runtime: command, command: "ls \'x"}\n',
        {},
        ("agents.yaml", 2, 40),
        "quotation",
    ),
    "condition that does not parse": (
        "agents:\n  - id: a\n    runtime: claude\n    handoffs:\n      - to: a\n        condition: severity = high\n",
        {},
        ("agents.yaml", 6, 29),
        "does not parse",
    ),
    "misspelt condition keyword": (
        "agents:\n  - id: a\n    runtime: claude\n    handoffs: [{to: a, condition: on_aprove}]\n",
        {},
        ("agents.yaml", 4, 35),
        "did you mean 'on_approve'",
    ),
    "jinja syntax error in a block prompt": (
        "agents:\n  - id: a\n    runtime: claude\n    system_prompt: |\n      Line one\n      Do {{ input }\n",
        {},
        ("agents.yaml", 6, 7),
        "template does not parse",
    ),
    "jinja syntax error in a payload": (
        "agents:\n  - id: a\n    runtime: claude\n    handoffs: [{to: a, payload: '{% if %}'}]\n",
        {},
        ("agents.yaml", 4, 33),
        "template does not parse",
    ),
    "missing required param": (
        "params:\n  key: {required: true, description: API key}\nagents:\n  - {id: a, runtime: claude}\n",
        {},
        ("agents.yaml", 2, 3),
        "--param key=",
    ),
    "unknown param reference": (
        "params: {model: x}\nagents:\n  - {id: a, runtime: claude, model: '${{ params.modl }}'}\n",
        {},
        ("agents.yaml", 3, 37),
        "did you mean 'model'",
    ),
    "import file missing": (
        "imports: [{from: nope.yaml}]\nagents:\n  - {id: a, runtime: claude}\n",
        {},
        ("agents.yaml", 1, 18),
        "file not found: nope.yaml",
    ),
    "import leaving .aqm": (
        "imports: [{from: ../../etc/x.yaml}]\nagents:\n  - {id: a, runtime: claude}\n",
        {},
        ("agents.yaml", 1, 18),
        "leaves the pipeline directory",
    ),
    "import cycle": (
        "imports: [{from: a.yaml}]\nagents:\n  - {id: m, runtime: claude}\n",
        {"a.yaml": "imports: [{from: agents.yaml}]\nagents: []\n"},
        ("a.yaml", 1, 18),
        "import cycle",
    ),
    "imported agent that does not exist": (
        "imports: [{from: a.yaml, agents: [revieer]}]\nagents:\n  - {id: m, runtime: claude}\n",
        {"a.yaml": "- {id: reviewer, runtime: claude}\n"},
        ("agents.yaml", 1, 35),
        "did you mean 'reviewer'",
    ),
    "error inside an imported file is reported there": (
        "imports: [{from: a.yaml}]\nagents:\n  - {id: m, runtime: claude}\n",
        {"a.yaml": "- id: r\n  runtime: claude\n  gatee: {}\n"},
        ("a.yaml", 3, 3),
        "did you mean 'gate'",
    ),
    "extends a missing parent": (
        "agents:\n  - {id: a, runtime: claude, extends: bse}\n  - {id: base, runtime: claude}\n",
        {},
        ("agents.yaml", 2, 39),
        "did you mean 'base'",
    ),
    "extends cycle": (
        "agents:\n  - {id: a, extends: b}\n  - {id: b, extends: a}\n",
        {},
        ("agents.yaml", 2, 22),
        "extends cycle",
    ),
    "error in an inherited field points at the parent": (
        "agents:\n  - id: base\n    abstract: true\n    runtime: claude\n    handoffs: [{to: nowhere}]\n"
        "  - {id: child, extends: base}\n",
        {},
        ("agents.yaml", 5, 21),
        "'nowhere' does not exist",
    ),
    "invalid yaml": ("agents:\n  - id: a\n   runtime: claude\n", {}, ("agents.yaml", 3, 4), "invalid YAML"),
    "duplicate yaml key": (
        "agents:\n  - id: a\n    runtime: claude\n    runtime: gemini\n",
        {},
        ("agents.yaml", 4, 5),
        "duplicate key 'runtime'",
    ),
    "top level is not a mapping": ("- a\n- b\n", {}, ("agents.yaml", 1, 1), "must be a mapping"),
    "agents is not a list": ("agents: {id: a}\n", {}, ("agents.yaml", 1, 9), "must be a list"),
    "no runnable agent": (
        "agents:\n  - {id: a, abstract: true, runtime: claude}\n",
        {},
        ("agents.yaml", 2, 3),
        "no runnable agent",
    ),
    "wrong apiVersion": (
        "apiVersion: v2\nagents:\n  - {id: a, runtime: claude}\n",
        {},
        ("agents.yaml", 1, 13),
        "aqm/v0.1",
    ),
    "negative context_window": (
        "agents:\n  - {id: a, runtime: claude, context_window: -1}\n",
        {},
        ("agents.yaml", 2, 46),
        "context_window",
    ),
    "zero max_rounds": (
        "agents:\n  - {id: x, runtime: claude}\n  - {id: s, type: session, participants: [x], max_rounds: 0}\n",
        {},
        ("agents.yaml", 3, 59),
        "max_rounds",
    ),
    "mcp server without a name": (
        "agents:\n  - {id: a, runtime: claude, mcp: [{command: node}]}\n",
        {},
        ("agents.yaml", 2, 36),
        "missing required key 'server'",
    ),
    "handoff without to": (
        "agents:\n  - {id: a, runtime: claude, handoffs: [{condition: always}]}\n",
        {},
        ("agents.yaml", 2, 41),
        "missing required key 'to'",
    ),
    "human_input with an unknown mode": (
        "agents:\n  - {id: a, runtime: claude, human_input: later}\n",
        {},
        ("agents.yaml", 2, 43),
        "'before', 'on_demand' or 'both'",
    ),
}


@pytest.mark.parametrize(("text", "files", "where", "words"), list(CASES.values()), ids=list(CASES))
def test_each_problem_is_reported_at_its_node(
    text: str, files: dict[str, str], where: tuple[str, int, int], words: str
) -> None:
    errors = errors_of(text, extra=files)
    located = [(e.path, e.line, e.column) for e in errors]
    assert where in located, "\n".join(e.render() for e in errors)
    error = errors[located.index(where)]
    assert words in error.render()


def test_every_error_of_a_file_is_reported_at_once() -> None:
    text = """
    agents:
      - id: a
        runtime: claud
        handoffs: [{to: b}]
      - id: c
        runtime: claude
        handof: []
      - {id: d, runtime: gemini, context_strategy: everything}
    """
    errors = errors_of(text)
    assert [e.line for e in errors] == [4, 5, 8, 9]


def test_a_condition_never_matches_by_substring_at_validation_either() -> None:
    assert load(
        "agents:\n  - {id: a, runtime: claude, handoffs: [{to: a, condition: 'not_critical == yes'}]}\n"
    )


def test_an_llm_gate_on_a_command_agent_is_valid_when_config_names_a_gate_runtime() -> None:
    config = ProjectConfig(gate=GateSettings(runtime="gemini"))
    pipeline = load(
        "agents:\n  - {id: t, runtime: command, command: [ls], gate: {type: llm}}\n", config=config
    )
    assert pipeline.first.gate is not None


def test_unknown_param_given_on_the_command_line_is_an_error() -> None:
    errors = errors_of("params: {model: x}\nagents:\n  - {id: a, runtime: claude}\n", params={"modle": "y"})
    assert "did you mean 'model'" in errors[0].render()


def test_a_non_number_for_a_number_param_is_an_error() -> None:
    errors = errors_of(
        "params: {n: {type: number}}\nagents:\n  - {id: a, runtime: claude}\n", params={"n": "many"}
    )
    assert "'many' is not a number" in errors[0].render()


def test_chunks_on_an_agent_is_a_warning_not_an_error() -> None:
    pipeline = load("agents:\n  - {id: a, runtime: claude, chunks: {initial: [x]}}\n")
    assert [w.message for w in pipeline.warnings] == ["'chunks' only has an effect on sessions"]


def test_to_under_condition_auto_is_a_note_not_an_error_even_when_it_names_no_agent() -> None:
    pipeline = load(
        "agents:\n"
        "  - {id: a, runtime: claude, handoffs: [{to: router, condition: auto}, {to: '*', condition: auto}]}\n"
        "  - {id: b, runtime: claude}\n"
    )
    assert pipeline.warnings == ()
    assert [(n.line, n.column, n.message) for n in pipeline.notes] == [
        (
            2,
            46,
            "to: 'router' is ignored under condition: auto (in agent 'a'): "
            "the agent's HANDOFF: line may name any agent of the pipeline",
        )
    ]


def test_spec_errors_render_file_line_column_and_fix() -> None:
    with pytest.raises(SpecErrors) as caught:
        load("agents:\n  - id: a\n    runtime: claude\n    handoff: []\n")
    assert str(caught.value) == "agents.yaml:4:5: unknown key 'handoff'\n    fix: did you mean 'handoffs'?"
