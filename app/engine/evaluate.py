"""Evaluate a parsed handoff condition against one stage's output and gate result."""

from __future__ import annotations

from app.engine.directives import lookup
from app.spec.conditions import Always, And, Auto, Compare, Condition, GateIs, In, Not, Or


def holds(condition: Condition, output: str, gate_result: str | None) -> bool:
    """True when the condition holds. A missing KEY makes ==, in and comparisons false, != true."""
    match condition:
        case Always() | Auto():
            return True
        case GateIs(word="on_approve"):
            return gate_result == "approved"
        case GateIs(word="on_reject"):
            return gate_result == "rejected"
        case GateIs():  # on_pass: no gate, or the gate approved
            return gate_result in (None, "approved")
        case Compare():
            return _compare(condition, lookup(output, condition.key))
        case In():
            value = lookup(output, condition.key)
            inside = value is not None and any(_equal(value, v) for v in condition.values)
            return not inside if condition.negated else inside
        case Not():
            return not holds(condition.operand, output, gate_result)
        case And():
            return holds(condition.left, output, gate_result) and holds(condition.right, output, gate_result)
        case Or():
            return holds(condition.left, output, gate_result) or holds(condition.right, output, gate_result)
    raise AssertionError(condition)  # pragma: no cover - every node type is handled above


def _compare(condition: Compare, value: str | None) -> bool:
    if value is None:
        return condition.op == "!="
    if condition.op == "==":
        return _equal(value, condition.value)
    if condition.op == "!=":
        return not _equal(value, condition.value)
    left, right = _number(value), _number(condition.value)
    if left is None or right is None:
        a, b = value.strip().casefold(), condition.value.strip().casefold()
        return _order(condition.op, a, b)
    return _order(condition.op, left, right)


def _order(op: str, a: float | str, b: float | str) -> bool:
    if op == "<":
        return a < b  # type: ignore[operator]
    if op == "<=":
        return a <= b  # type: ignore[operator]
    if op == ">":
        return a > b  # type: ignore[operator]
    return a >= b  # type: ignore[operator]


def _equal(value: str, expected: str) -> bool:
    left, right = _number(value), _number(expected)
    if left is not None and right is not None:
        return left == right
    return _clean(value) == _clean(expected)


def _clean(text: str) -> str:
    return text.strip().strip("`*_'\"").rstrip(".").strip().casefold()


def _number(text: str) -> float | None:
    try:
        return float(_clean(text))
    except ValueError:
        return None
