"""The GitHub App end to end: the real app (FastAPI) and the simulator over HTTP (in process).

A maintainer comments `/aqm run` on an issue; the app records and acknowledges the delivery,
runs the pipeline (command stages write a file), posts the run card and stage comments, pauses
at the human gate after pushing the agents' changes as a PR, refuses an outsider's `/approve`,
and continues on the maintainer's `/approve`.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from app.playground.simulator import GitHubSimulator, Seeded
from tests.e2e.helpers import GATED_PIPELINE, deliverer, seed_pipeline, settle


@pytest.fixture
def seeded(sim: GitHubSimulator) -> Seeded:
    return seed_pipeline(sim, GATED_PIPELINE)


async def test_run_gate_refusal_and_approval_on_an_issue(sim: GitHubSimulator, app: FastAPI) -> None:
    issue = sim.open_issue("octo/demo", "Add greet()", "Please add a greet function.", user="maintainer")
    hooks = deliverer(sim, app)
    delivery = await hooks.comment_created("octo/demo", issue.number, "maintainer", "/aqm run")
    assert delivery.response_status == 202
    await settle(app)
    thread = sim.thread("octo/demo", issue.number)
    assert "Waiting for approval" in thread and "/approve T-" in thread, thread
    assert "wrote greet.py" in thread
    await hooks.comment_created("octo/demo", issue.number, "outsider", "/approve")
    await settle(app)
    thread = sim.thread("octo/demo", issue.number)
    assert "write access" in thread
    await hooks.comment_created("octo/demo", issue.number, "maintainer", "/approve looks good")
    await settle(app)
    thread = sim.thread("octo/demo", issue.number)
    assert "shipped" in thread and "Completed" in thread, thread
    assert "aqm/T-" in thread and "→ main, open, by @aqm[bot]" in thread  # the agents' commit as a PR


async def test_a_review_of_the_paused_head_approves_and_a_stale_one_is_refused(
    sim: GitHubSimulator, app: FastAPI
) -> None:
    old_head = sim.commit("octo/demo", {"feature.txt": "v1\n"}, branch="feature", message="feature")
    pull = sim.open_pull(
        "octo/demo", head="feature", title="A feature", body="Adds a feature.", user="outsider"
    )
    hooks = deliverer(sim, app)
    await hooks.comment_created("octo/demo", pull.number, "maintainer", "/aqm run review it")
    await settle(app)
    assert "Waiting for approval" in sim.thread("octo/demo", pull.number)
    sim.commit("octo/demo", {"feature.txt": "v2\n"}, branch="feature", message="newer")
    await hooks.review_submitted(
        "octo/demo", pull.number, user="maintainer", state="approved"
    )  # the new head
    await settle(app)
    thread = sim.thread("octo/demo", pull.number)
    assert "Waiting for approval" in thread and "shipped" not in thread
    await hooks.review_submitted(
        "octo/demo", pull.number, user="maintainer", state="approved", commit_id=old_head
    )
    await settle(app)
    thread = sim.thread("octo/demo", pull.number)
    assert "shipped" in thread and "Completed" in thread, thread
    assert "aqm/T-" in thread and "→ feature" in thread  # a child PR into the thread PR's branch


async def test_github_answering_502_then_200_loses_nothing(sim: GitHubSimulator, app: FastAPI) -> None:
    issue = sim.open_issue("octo/demo", "Add greet()", "body", user="maintainer")
    hooks = deliverer(sim, app)
    sim.traffic.fail_next(2, status=502)
    await hooks.comment_created("octo/demo", issue.number, "maintainer", "/aqm run")
    await settle(app)
    thread = sim.thread("octo/demo", issue.number)
    assert "Waiting for approval" in thread and "wrote greet.py" in thread, thread
