"""Arbitrary YAML never makes the validator raise anything but SpecErrors."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import SpecErrors
from app.spec.loader import load_config, load_pipeline
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
    reader = MappingReader({"agents.yaml": text, "config.yaml": text, "x.yaml": text})
    for load in (lambda: load_pipeline(reader, "agents.yaml"), lambda: load_config(reader, "config.yaml")):
        try:
            load()
        except SpecErrors as exc:
            assert exc.errors, "SpecErrors without any error"
            assert all(e.line >= 1 and e.column >= 1 for e in exc.errors)


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


def test_an_alias_bomb_is_refused_without_expanding_it() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    )
    try:
        load_pipeline(MappingReader({"agents.yaml": bomb}), "agents.yaml")
    except SpecErrors as exc:
        assert "too large" in str(exc)
    else:  # pragma: no cover - a failure
        raise AssertionError("an alias bomb was accepted")


def test_a_recursive_alias_is_an_error() -> None:
    try:
        load_pipeline(MappingReader({"agents.yaml": "agents: &a [*a]\n"}), "agents.yaml")
    except SpecErrors as exc:
        assert "recursive alias" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("a recursive alias was accepted")
