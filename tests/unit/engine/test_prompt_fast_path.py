"""Prompts of text and `{{ name }}` references are filled in without Jinja, exactly as Jinja would."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from app.engine.prompts import _name_references, render

JINJA = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
PIECES = st.sampled_from(
    [
        *("{{ input }}", "{{input}}", "{{  context  }}", "{{ missing }}", "{{ true }}", "{{ None }}"),
        *("{{ range }}", "{{ input|upper }}", "{{- input }}", "{{ input.x }}", "{{\tinput }}"),
        *("{{", "}}", "{%", "%}", "{#", "#}", "{", "}", "{ {", "} }"),
        *("text", " ", "\n", "\r\n", "\r", "é", "{{ params }}", "{{ n }}", "{% if input %}x{% endif %}"),
    ]
)
VALUES = st.one_of(st.text(max_size=20), st.none(), st.integers(), st.booleans())


def jinja_render(source: str, variables: dict[str, Any]) -> str | None:
    try:
        return JINJA.from_string(source).render(**variables)
    except TemplateSyntaxError:
        return None


@settings(max_examples=800, deadline=None)
@given(
    st.lists(PIECES, max_size=10).map("".join),
    st.fixed_dictionaries({"input": VALUES, "context": VALUES, "n": VALUES}),
)
def test_the_direct_fill_agrees_with_jinja(source: str, variables: dict[str, Any]) -> None:
    expected = jinja_render(source, variables)
    if expected is None:
        assert _name_references(source) is None  # whatever Jinja rejects is Jinja's to report
        with pytest.raises(TemplateSyntaxError):
            render(source, variables)
        return
    assert render(source, variables) == expected


@pytest.mark.parametrize(
    "source",
    [
        "{{ input | trim }}",
        "{{ input.x }}",
        "{%- if x %}{% endif %}",
        "{# note #}",
        "{{- input }}",
        "{{ true }}",
    ],
)
def test_anything_but_bare_names_goes_to_jinja(source: str) -> None:
    assert _name_references(source) is None


def test_a_plain_prompt_is_split_into_text_and_names_and_values_stay_data() -> None:
    assert _name_references("Review:\r\n{{ input }}\n\n{{context}}") == (
        "Review:\n",
        "input",
        "\n\n",
        "context",
        "",
    )
    assert render("Task: {{ input }}", {"input": "{{ 7*7 }}"}) == "Task: {{ 7*7 }}"  # values are data
