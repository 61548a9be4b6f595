"""The grammar of handoff conditions: parsed here (validation), evaluated by the engine.

    condition  := 'always' | 'auto' | expr
    expr       := and_expr ('or' and_expr)*
    and_expr   := not_expr ('and' not_expr)*
    not_expr   := 'not' not_expr | atom
    atom       := '(' expr ')' | 'on_approve' | 'on_reject' | 'on_pass' | comparison
    comparison := KEY ('=='|'!='|'<'|'<='|'>'|'>=') value | KEY ['not'] 'in' '[' value (',' value)* ']'
    value      := quoted string ('…' or "…") | number | bare word (a literal, as in `severity == critical`)

Nothing here is ever passed to `eval`, and a comparison never matches a word found
elsewhere in the output: `severity == critical` asks for the value of the key `severity`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

GATE_WORDS = ("on_approve", "on_reject", "on_pass")
Operator = Literal["==", "!=", "<", "<=", ">", ">="]


@dataclass(frozen=True, slots=True)
class Always:
    pass


@dataclass(frozen=True, slots=True)
class Auto:
    pass


@dataclass(frozen=True, slots=True)
class GateIs:
    word: str  # on_approve | on_reject | on_pass


@dataclass(frozen=True, slots=True)
class Compare:
    key: str
    op: Operator
    value: str


@dataclass(frozen=True, slots=True)
class In:
    key: str
    values: tuple[str, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr


@dataclass(frozen=True, slots=True)
class And:
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Or:
    left: Expr
    right: Expr


Expr = GateIs | Compare | In | Not | And | Or
Condition = Always | Auto | Expr


class ConditionSyntaxError(ValueError):
    """The condition does not parse; `column` is 1-based within the condition text."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.column = column


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<op>==|!=|<=|>=|<|>)
      | (?P<punct>[()\[\],])
      | (?P<quoted>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<word>[^\s()\[\],'"=!<>]+)
      | (?P<bad>\S)
    )""",
    re.VERBOSE,
)
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_KEYWORDS = {"and", "or", "not", "in"}


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # op, punct, quoted, word, end
    text: str
    column: int


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:  # only trailing whitespace is left
            break
        kind = match.lastgroup or "bad"
        value = match.group(kind)
        column = match.start(kind) + 1
        if kind == "bad":
            hint = "unterminated string" if value in "'\"" else f"unexpected character {value!r}"
            raise ConditionSyntaxError(hint, column)
        tokens.append(_Tok(kind, value, column))
        pos = match.end()
    tokens.append(_Tok("end", "", len(text) + 1))
    return tokens


def parse_condition(text: str) -> Condition:
    """Parse a handoff condition; raise ConditionSyntaxError naming the column."""
    stripped = text.strip()
    if stripped in ("", "always"):
        return Always()
    if stripped == "auto":
        return Auto()
    parser = _Parser(_tokenize(text))
    expr = parser.expr()
    parser.expect_end()
    return expr


class _Parser:
    def __init__(self, tokens: list[_Tok]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> _Tok:
        return self.tokens[self.pos]

    def take(self) -> _Tok:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def at_word(self, word: str) -> bool:
        token = self.peek()
        return token.kind == "word" and token.text == word

    def expect(self, kind: str, text: str, what: str) -> _Tok:
        token = self.peek()
        if token.kind != kind or token.text != text:
            raise ConditionSyntaxError(f"expected {what}, found {_describe(token)}", token.column)
        return self.take()

    def expect_end(self) -> None:
        token = self.peek()
        if token.kind != "end":
            raise ConditionSyntaxError(
                f"unexpected {_describe(token)}; join conditions with 'and' / 'or'", token.column
            )

    def expr(self) -> Expr:
        left = self.and_expr()
        while self.at_word("or"):
            self.take()
            left = Or(left, self.and_expr())
        return left

    def and_expr(self) -> Expr:
        left = self.not_expr()
        while self.at_word("and"):
            self.take()
            left = And(left, self.not_expr())
        return left

    def not_expr(self) -> Expr:
        if self.at_word("not"):
            self.take()
            return Not(self.not_expr())
        return self.atom()

    def atom(self) -> Expr:
        token = self.peek()
        if token.kind == "punct" and token.text == "(":
            self.take()
            inner = self.expr()
            self.expect("punct", ")", "')'")
            return inner
        if token.kind == "word" and token.text in GATE_WORDS:
            self.take()
            return GateIs(token.text)
        return self.comparison()

    def comparison(self) -> Expr:
        key = self.take()
        if key.kind != "word" or key.text in _KEYWORDS or not _KEY.match(key.text):
            raise ConditionSyntaxError(
                f"expected a key such as 'severity' or one of always, on_approve, on_reject, on_pass, "
                f"auto; found {_describe(key)}",
                key.column,
            )
        token = self.peek()
        if token.kind == "op":
            self.take()
            return Compare(key.text, token.text, self.value())  # type: ignore[arg-type]
        negated = self.at_word("not")
        if negated:
            self.take()
        if self.at_word("in"):
            self.take()
            return In(key.text, self.value_list(), negated)
        raise ConditionSyntaxError(
            f"expected ==, !=, <, <=, >, >= or 'in' after '{key.text}', found {_describe(token)}",
            token.column,
        )

    def value(self) -> str:
        token = self.take()
        if token.kind == "quoted":
            return _unquote(token.text)
        if token.kind == "word" and token.text not in _KEYWORDS:
            return token.text
        raise ConditionSyntaxError(f"expected a value, found {_describe(token)}", token.column)

    def value_list(self) -> tuple[str, ...]:
        self.expect("punct", "[", "'[' to start the list of values")
        values = [self.value()]
        while self.peek().kind == "punct" and self.peek().text == ",":
            self.take()
            values.append(self.value())
        self.expect("punct", "]", "',' or ']'")
        return tuple(values)


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _describe(token: _Tok) -> str:
    return "the end of the condition" if token.kind == "end" else f"'{token.text}'"
