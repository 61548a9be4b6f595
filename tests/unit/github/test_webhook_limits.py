"""The intake's measure of JSON depth: exact on valid JSON, strings skipped, no recursion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.github.webhook import MAX_JSON_DEPTH, BadDelivery, json_depth, read_payload

FIXTURES = Path(__file__).parents[3] / "app" / "playground" / "fixtures" / "webhooks"

DEPTHS = {
    "a scalar": (b"1", 0),
    "an empty object": (b"{}", 1),
    "an object in a list": (b'[{"a": 1}]', 2),
    "brackets in a string": (b'{"a": "[[[{{{"}', 1),
    "an escaped quote before brackets": (b'{"a": "\\"[[["}', 1),
    "an escaped backslash, then the string ends": (b'{"a": "\\\\", "b": [[]]}', 3),
    "non-ASCII text around brackets": ('{"a": ["é[", {"ü": "]]"}]}'.encode(), 3),
    "ten thousand deep, without recursion": (b"[" * 10_000 + b"]" * 10_000, 10_000),
}


@pytest.mark.parametrize(("body", "depth"), list(DEPTHS.values()), ids=list(DEPTHS))
def test_json_depth(body: bytes, depth: int) -> None:
    assert json_depth(body) == depth


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    return 0


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ aé\n'),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\a'), inner, max_size=3)
    ),
    max_leaves=20,
)


@given(JSON, st.booleans())
def test_json_depth_is_the_depth_of_any_json_value(value: Any, ascii_only: bool) -> None:
    assert json_depth(json.dumps(value, ensure_ascii=ascii_only).encode()) == depth_of(value)


def test_githubs_recorded_payloads_are_far_below_the_limit() -> None:
    depths = {path.name: json_depth(path.read_bytes()) for path in FIXTURES.glob("*.json")}
    assert depths and max(depths.values()) < 20 < MAX_JSON_DEPTH, depths


def test_a_deep_payload_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(BadDelivery, match="nested deeper") as refused:
        read_payload(b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert refused.value.status == 400
