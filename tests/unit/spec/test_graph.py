"""`aqm agents`: the pipeline's graph as text and mermaid."""

from __future__ import annotations

from app.spec.graph import render_mermaid, render_text

from .helpers import load

AUTO_WITH_TO = (
    "agents:\n"
    "  - {id: a, runtime: claude, handoffs: [{to: b, condition: auto}]}\n"
    "  - {id: b, runtime: claude}\n"
)


def test_an_auto_handoff_shows_any_agent_whatever_its_to_names() -> None:
    pipeline = load(AUTO_WITH_TO)
    assert "    -> any agent named by HANDOFF:  (auto)" in render_text(pipeline)
    assert '  a -->|"auto"| any_agent' in render_mermaid(pipeline)
    assert '-->|"auto"| b' not in render_mermaid(pipeline)
