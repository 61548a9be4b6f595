"""The line-shaped choices a stage's output makes (`HANDOFF:` under condition auto, session votes),
handed to the runtime in RunStage.decision so that a runtime able to constrain generation can."""

from __future__ import annotations

import pytest

from app.engine.commands import Decision, RunStage
from tests.unit.engine.harness import Run, spec_of

AUTO = """
agents:
  - id: a
    runtime: local
    handoffs:
      - {to: "b, c", condition: auto}
      - {to: d, condition: always}
  - {id: b, runtime: local}
  - {id: c, runtime: local}
  - {id: d, runtime: local, handoffs: [{to: "*", condition: auto}]}
"""
SESSION = """
agents:
  - id: talk
    type: session
    participants: [x, y]
    consensus: {keyword: "WE AGREE"}
    max_rounds: 1
  - {id: x, runtime: local}
  - {id: y, runtime: local}
"""


def decisions(run: Run) -> dict[str, Decision | None]:
    return {c.agent_id: c.decision for c in run.commands if isinstance(c, RunStage)}


def test_an_agent_with_auto_handoffs_is_asked_for_any_agent_whatever_its_to_says() -> None:
    run = Run(spec_of(AUTO), answers={"a": ["HANDOFF: c"], "c": ["done"]}).start()
    decision = decisions(run)["a"]
    assert decision is not None and decision.kind == "handoff"
    assert decision.lines == ("HANDOFF: a", "HANDOFF: b", "HANDOFF: c", "HANDOFF: d")  # as in aqm
    assert "a, b, c, d" in decision.question


def test_a_star_rule_offers_every_agent_and_an_agent_without_auto_rules_gets_no_decision() -> None:
    run = Run(spec_of(AUTO), answers={"a": ["no choice"], "d": ["HANDOFF: nobody"]}).start()
    found = decisions(run)
    assert found["d"] is not None and found["d"].lines == tuple(f"HANDOFF: {i}" for i in "abcd")
    assert Run(spec_of(AUTO), answers={"a": ["HANDOFF: b"]}).start().agents == ["a", "b", "d"]
    assert decisions(Run(spec_of(AUTO), answers={"a": ["HANDOFF: b"]}).start())["b"] is None


def test_a_session_turn_is_asked_for_its_vote_with_the_consensus_keyword() -> None:
    run = Run(spec_of(SESSION), answers={"x": ["WE AGREE"], "y": ["WE AGREE"]}).start()
    decision = decisions(run)["x"]
    assert decision is not None and decision.kind == "vote"
    assert decision.lines[0] == "WE AGREE" and decision.lines[1] != "WE AGREE"


MADE_IN = {
    "a named allowed target is a choice": ("handoff", "text\nHANDOFF: b", True),
    "a target outside the choices is none": ("handoff", "HANDOFF: z", False),
    "a handoff quoted in a code block is none": ("handoff", "```\nHANDOFF: b\n```", False),
    "no handoff line is none": ("handoff", "I think b should go next", False),
    "the keyword on its own line is a vote": ("vote", "fine\nVOTE: AGREE", True),
    "the keyword inside a sentence is no vote": ("vote", "I will not VOTE: AGREE yet", False),
    "the other line is a choice too": ("vote", "not yet\nNO CONSENSUS YET", True),
}


@pytest.mark.parametrize(("kind", "output", "made"), list(MADE_IN.values()), ids=list(MADE_IN))
def test_whether_the_output_already_made_the_choice(kind: str, output: str, made: bool) -> None:
    lines = ("HANDOFF: b", "HANDOFF: c") if kind == "handoff" else ("VOTE: AGREE", "NO CONSENSUS YET")
    assert Decision(kind, lines, "?").made_in(output) is made


def test_the_vote_alternative_never_equals_the_keyword() -> None:
    spec = spec_of(SESSION.replace("WE AGREE", "no consensus yet"))
    decision = decisions(Run(spec).start())["x"]
    assert decision is not None and decision.lines == ("no consensus yet", "NOT YET")
