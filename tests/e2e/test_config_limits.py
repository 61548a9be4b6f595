"""`.aqm/` from the default branch, end to end: a file over GitHub's 1 MB contents limit gets a
reply naming it (for a command and for a trigger) and starts nothing; YAML is parsed off the
event loop, so a big pipeline never stalls /healthz or other deliveries."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import pytest
from fastapi import FastAPI

from app.github.gateway import CONTENTS_MAX_BYTES
from app.playground.simulator import Deliverer, GitHubSimulator, Seeded
from tests.e2e.helpers import GATED_PIPELINE, REPO, seed_pipeline, settle

TRIGGERS = "github:\n  triggers:\n    - {event: issues.opened, pipeline: default}\n"
PADDING = "# a comment line to make the file large\n"
OVER_THE_LIMIT = GATED_PIPELINE + PADDING * (CONTENTS_MAX_BYTES // len(PADDING) + 1)


@pytest.fixture
def seeded(sim: GitHubSimulator) -> Seeded:
    return seed_pipeline(sim, GATED_PIPELINE)


def thread_of(sim: GitHubSimulator, number: int) -> str:
    return sim.thread(REPO, number)


async def test_a_pipeline_over_1_mb_is_refused_with_a_reply_naming_it(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer
) -> None:
    sim.commit(REPO, {".aqm/agents.yaml": OVER_THE_LIMIT}, message="a huge pipeline")
    issue = sim.open_issue(REPO, "Hello", "text", user="maintainer")
    delivery = await hooks.comment_created(REPO, issue.number, "maintainer", "/aqm run add greet()")
    await settle(app)
    assert delivery.response_status == 202
    thread = thread_of(sim, issue.number)
    assert f"`.aqm/agents.yaml` is too large ({len(OVER_THE_LIMIT):,} bytes)" in thread, thread
    assert "up to 1 MB (1,048,576 bytes)" in thread, thread
    assert await app.state.services.store.list_tasks() == []
    assert (await app.state.services.github_store.get_delivery(delivery.guid)).status == "done"


async def test_a_config_over_1_mb_is_refused_on_a_trigger_too(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer
) -> None:
    sim.commit(REPO, {".aqm/config.yaml": TRIGGERS + PADDING * (CONTENTS_MAX_BYTES // len(PADDING) + 1)})
    delivery = await hooks.issue_opened(REPO, "Add greet()", "Please add it.", user="maintainer")
    await settle(app)
    thread = thread_of(sim, delivery.subject_id or 0)
    assert "`.aqm/config.yaml` is too large" in thread, thread
    assert await app.state.services.store.list_tasks() == []


@contextmanager
def calls_on_this_thread(path_fragment: str) -> Iterator[list[str]]:
    """The functions of files whose path contains `path_fragment` that run on this thread (the
    event loop's) meanwhile. `sys.setprofile` watches only the thread that sets it."""
    seen: list[str] = []

    def watch(frame: FrameType, event: str, _: Any) -> None:
        if event == "call" and path_fragment in frame.f_code.co_filename:
            seen.append(frame.f_code.co_name)

    assert threading.current_thread() is threading.main_thread()
    sys.setprofile(watch)
    try:
        yield seen
    finally:
        sys.setprofile(None)


async def test_yaml_is_parsed_off_the_event_loop(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer
) -> None:
    sim.commit(REPO, {".aqm/config.yaml": TRIGGERS})
    issue = sim.open_issue(REPO, "Hello", "text", user="maintainer")
    with calls_on_this_thread("app/spec/source.py") as on_the_loop:
        await hooks.comment_created(REPO, issue.number, "maintainer", "/aqm run add greet()")
        await hooks.issue_opened(REPO, "Add greet()", "Please add it.", user="maintainer")
        await settle(app)
    assert len(await app.state.services.store.list_tasks()) == 2  # both pipelines were loaded and ran
    assert on_the_loop == []
