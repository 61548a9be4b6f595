"""Template syntax checks: the fast path never accepts what Jinja2 rejects."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from app.spec.validate import SIMPLE_TEMPLATE, template_problem

PIECES = st.sampled_from(
    [
        "{{",
        "}}",
        "{%",
        "%}",
        "{#",
        "#}",
        "{",
        "}",
        " ",
        "input",
        "|",
        "upper",
        ".",
        "x",
        "\n",
        "{{ input }}",
        "{{ a.b | trim }}",
        "if",
        "endif",
        "-",
        "'",
        "1",
    ]
)


def jinja_accepts(source: str) -> bool:
    try:
        SandboxedEnvironment().parse(source)
    except TemplateSyntaxError:
        return False
    return True


@settings(max_examples=500, deadline=None)
@given(st.lists(PIECES, max_size=12).map("".join))
def test_the_fast_path_only_accepts_templates_jinja_accepts(source: str) -> None:
    if SIMPLE_TEMPLATE.fullmatch(source):
        assert jinja_accepts(source), source
    assert (template_problem(source) is None) == jinja_accepts(source)


def test_a_broken_template_reports_its_line() -> None:
    assert template_problem("one\ntwo\nthree {{ x }\n") == (3, "unexpected '}'")


@pytest.mark.parametrize(
    "source", ["{{input.}}", "{{ in }}", "{{ not }}", "{{ a..b }}", "{{ a | }}", "{{ 1a }}"]
)
def test_near_misses_are_left_to_jinja(source: str) -> None:
    assert not SIMPLE_TEMPLATE.fullmatch(source)
    assert (template_problem(source) is None) == jinja_accepts(source)


def test_plain_variables_and_filters_take_the_fast_path() -> None:
    assert SIMPLE_TEMPLATE.fullmatch("Review {{ input }} with {{ context | trim }}; {not a tag}")
