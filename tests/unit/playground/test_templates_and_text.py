"""Pure parts of the GitHub simulator: the fixed webhook templates and the thread's text."""

from __future__ import annotations

import pytest

from app.playground.simulator.examples import Urls, rehome, webhook_example_names
from app.playground.simulator.templates import template, template_names
from app.playground.simulator.thread import readable


def test_every_upstream_example_is_a_template_plus_the_missing_ones() -> None:
    assert len(webhook_example_names()) == 24
    assert set(template_names()) - set(webhook_example_names()) == {
        "pull_request_review.submitted.changes_requested",
        "issue_comment.created.pull_request",
        "issue_comment.deleted",
        "check_run.created",
        "check_run.completed",
    }


def test_the_derived_templates_say_what_github_would() -> None:
    assert (
        template("pull_request_review.submitted.changes_requested")["review"]["state"] == "changes_requested"
    )
    assert template("issue_comment.created.pull_request")["issue"]["pull_request"]["url"].endswith("/pulls/1")


def test_templates_are_fresh_copies() -> None:
    template("issues.opened")["issue"]["title"] = "changed"
    assert template("issues.opened")["issue"]["title"] != "changed"


def test_rehome_points_example_urls_at_the_simulator() -> None:
    urls = Urls("http://127.0.0.1:9/", "http://127.0.0.1:9/")
    moved = rehome({"a": ["https://api.github.com/repos/octocat/Hello-World/issues/1"]}, urls, "octo/demo")
    assert moved == {"a": ["http://127.0.0.1:9/repos/octo/demo/issues/1"]}


READABLE_CASES = {
    "html comments are hidden": ("<!-- aqm:run-card T-1 -->\n### Run", "### Run"),
    "markup-only tags are dropped": ("<sub>command · 0.1s</sub>", "command · 0.1s"),
    "a details block shows its summary": (
        "<details><summary>Transcript</summary>\nbody\n</details>",
        "▸ Transcript\nbody",
    ),
    "escapes are shown as the characters": ("awaiting\\_gate", "awaiting_gate"),
    "code blocks are left alone": ("```\na\\_b <!-- x -->\n```", "```\na\\_b <!-- x -->\n```"),
}


@pytest.mark.parametrize(("markdown", "shown"), list(READABLE_CASES.values()), ids=list(READABLE_CASES))
def test_readable_shows_markdown_as_the_page_does(markdown: str, shown: str) -> None:
    assert readable(markdown) == shown
