"""Arbitrary YAML never makes the validator raise anything but SpecErrors, what it accepts is a
consistent pipeline, and every well-formed pipeline is accepted as it was written."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import SpecErrors
from app.spec.conditions import Auto, parse_condition
from app.spec.loader import Pipeline, load_config, load_pipeline
from app.spec.models import ProjectConfig
from app.spec.source import MappingReader

KEYS = st.sampled_from(
    [
        "agents",
        "id",
        "runtime",
        "handoffs",
        "to",
        "condition",
        "gate",
        "type",
        "participants",
        "params",
        "imports",
        "from",
        "extends",
        "abstract",
        "human_input",
        "mcp",
        "command",
        "consensus",
        "chunks",
        "summary_agent",
        "system_prompt",
        "payload",
        "max_retries",
        "context_window",
        "github",
        "triggers",
        "pipeline",
        "<<",
    ]
) | st.text(max_size=8)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | st.sampled_from(
        ["claude", "session", "auto", "on_approve", "a == b", "{{ x", "${{ params.p }}", "*", "a, b"]
    )
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=25,
)
DOCUMENTS = st.dictionaries(KEYS, VALUES, max_size=5) | VALUES


def _validate(text: str) -> None:
    """Load `text` as a pipeline and as a config: each is consistent, or SpecErrors with positions."""
    reader = MappingReader({"agents.yaml": text, "config.yaml": text, "x.yaml": text})
    try:
        _assert_consistent(load_pipeline(reader, "agents.yaml"))
    except SpecErrors as exc:
        _assert_positioned(exc)
    try:
        assert isinstance(load_config(reader, "config.yaml"), ProjectConfig)
    except SpecErrors as exc:
        _assert_positioned(exc)


def _assert_positioned(exc: SpecErrors) -> None:
    assert exc.errors, "SpecErrors without any error"
    assert all(e.line >= 1 and e.column >= 1 for e in exc.errors)


def _assert_consistent(pipeline: Pipeline) -> None:
    """What the engine relies on in an accepted pipeline: ids unique, every reference resolves."""
    ids = [agent.id for agent in pipeline.agents]
    assert ids and len(set(ids)) == len(ids), ids
    assert pipeline.entry_point in ("first", "auto")
    for agent in pipeline.agents:
        assert agent.runtime is not None or agent.type == "session", agent.id
        assert set(agent.participants) <= set(ids) - {agent.id}
        for handoff in agent.handoffs:
            condition = parse_condition(handoff.condition)  # accepted conditions parse
            if not isinstance(condition, Auto):
                assert set(handoff.targets) <= set(ids), (agent.id, handoff.to)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENTS)
def test_any_yaml_structure_is_valid_or_a_spec_error(document: object) -> None:
    _validate(yaml.safe_dump(document))


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("agents:- {}[]&*!<>|'\"#%@`\n\t ,?:=idrunt\\\x00\x85")), max_size=80
    )
)
def test_any_text_is_valid_or_a_spec_error(text: str) -> None:
    _validate(text)


IDS = st.from_regex(r"[a-z_][a-z0-9_-]{0,7}", fullmatch=True)
CONDITIONS = st.sampled_from(["always", "on_pass", "on_approve", "on_reject", "severity == high", "auto"])


@st.composite
def well_formed(draw: st.DrawFn) -> list[dict[str, object]]:
    """A pipeline as its author writes it: unique ids, runtimes, handoffs naming agents of it."""
    ids = draw(st.lists(IDS, min_size=1, max_size=5, unique=True))
    agents: list[dict[str, object]] = []
    for agent_id in ids:
        handoffs = [
            {"to": "*" if condition == "auto" else ", ".join(targets), "condition": condition}
            for targets, condition in draw(
                st.lists(
                    st.tuples(
                        st.lists(st.sampled_from(ids), min_size=1, max_size=2, unique=True), CONDITIONS
                    ),
                    max_size=2,
                )
            )
        ]
        runtime = draw(st.sampled_from(["claude", "gemini", "codex"]))
        agents.append({"id": agent_id, "runtime": runtime, "handoffs": handoffs})
    return agents


@settings(max_examples=200, deadline=None)
@given(well_formed())
def test_a_well_formed_pipeline_loads_as_written(agents: list[dict[str, object]]) -> None:
    pipeline = load_pipeline(
        MappingReader({"agents.yaml": yaml.safe_dump({"agents": agents})}), "agents.yaml"
    )
    _assert_consistent(pipeline)
    loaded = [
        {
            "id": a.id,
            "runtime": a.runtime,
            "handoffs": [{"to": h.to, "condition": h.condition} for h in a.handoffs],
        }
        for a in pipeline.agents
    ]
    assert loaded == agents


def test_an_alias_bomb_is_refused_without_expanding_it() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    )
    with pytest.raises(SpecErrors, match="too large"):
        load_pipeline(MappingReader({"agents.yaml": bomb}), "agents.yaml")


def test_a_recursive_alias_is_an_error() -> None:
    with pytest.raises(SpecErrors, match="recursive alias"):
        load_pipeline(MappingReader({"agents.yaml": "agents: &a [*a]\n"}), "agents.yaml")
