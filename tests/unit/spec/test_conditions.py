"""The condition grammar: what parses to what, and where a bad condition breaks."""

from __future__ import annotations

import pytest

from app.spec.conditions import (
    Always,
    And,
    Auto,
    Compare,
    Condition,
    ConditionSyntaxError,
    GateIs,
    In,
    Not,
    Or,
    parse_condition,
)

PARSES: dict[str, tuple[str, Condition]] = {
    "empty is always": ("", Always()),
    "always": ("always", Always()),
    "auto": ("auto", Auto()),
    "gate words": ("on_approve", GateIs("on_approve")),
    "bare word value is a literal": ("severity == critical", Compare("severity", "==", "critical")),
    "quoted value keeps spaces": ('status == "needs work"', Compare("status", "==", "needs work")),
    "single quotes and escapes": (r"msg == 'it\'s'", Compare("msg", "==", "it's")),
    "no spaces around the operator": ("score>=7", Compare("score", ">=", "7")),
    "not equal": ("kind != bug", Compare("kind", "!=", "bug")),
    "ordering operators": ("n < 3", Compare("n", "<", "3")),
    "in a list": ("severity in [high, critical]", In("severity", ("high", "critical"))),
    "not in a list": ("severity not in ['low']", In("severity", ("low",), negated=True)),
    "and binds tighter than or": (
        "a == 1 or b == 2 and c == 3",
        Or(Compare("a", "==", "1"), And(Compare("b", "==", "2"), Compare("c", "==", "3"))),
    ),
    "parentheses": (
        "(a == 1 or b == 2) and not c == 3",
        And(Or(Compare("a", "==", "1"), Compare("b", "==", "2")), Not(Compare("c", "==", "3"))),
    ),
    "gate word inside an expression": (
        "on_reject and tries < 3",
        And(GateIs("on_reject"), Compare("tries", "<", "3")),
    ),
    "dotted and dashed keys": ("review.verdict-final == ok", Compare("review.verdict-final", "==", "ok")),
}


@pytest.mark.parametrize(("text", "expected"), list(PARSES.values()), ids=list(PARSES))
def test_condition_parses_to_its_tree(text: str, expected: Condition) -> None:
    assert parse_condition(text) == expected


FAILS: dict[str, tuple[str, int, str]] = {
    "a lone key": ("severity", 9, "expected ==, !="),
    "python's triple equals": ("a === b", 5, "unexpected character '='"),
    "assignment instead of comparison": ("a = b", 3, "unexpected character '='"),
    "missing value": ("a ==", 5, "expected a value"),
    "two values": ("a == b c", 8, "join conditions with 'and' / 'or'"),
    "unclosed list": ("a in [x, y", 11, "expected ',' or ']'"),
    "in without a list": ("a in x", 6, "'[' to start the list"),
    "unclosed parenthesis": ("(a == b", 8, "expected ')'"),
    "unterminated string": ('a == "x', 6, "unterminated string"),
    "keyword as a value": ("a == and", 6, "expected a value"),
    "dangling and": ("a == b and", 11, "expected a key"),
    "function call": ("len(x) > 2", 4, "expected ==, !="),
}


@pytest.mark.parametrize(("text", "column", "words"), list(FAILS.values()), ids=list(FAILS))
def test_bad_condition_names_the_column(text: str, column: int, words: str) -> None:
    with pytest.raises(ConditionSyntaxError) as caught:
        parse_condition(text)
    assert (caught.value.column, words in str(caught.value)) == (column, True), str(caught.value)
