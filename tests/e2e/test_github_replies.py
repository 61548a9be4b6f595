"""The thread side of the trust boundary, end to end on the simulator: replies are bounded (one per
comment, at most ten commands run), poison deliveries end after bounded attempts without repeating
what they said and without starving newer ones, the same event under another GUID does nothing,
edits and hidden blocks run nothing, and the text the app posts links nothing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi import FastAPI

from app.engine.state import TaskState
from app.github.replies import MAX_COMMANDS_PER_COMMENT
from app.github.retries import MAX_PERMANENT_ATTEMPTS
from app.playground.simulator import Deliverer, Delivery, GitHubSimulator, Seeded
from tests.e2e.helpers import GATED_PIPELINE, REPO, app_settings, deliverer, running, seed_pipeline, settle

BOT = "aqm[bot]"


@pytest.fixture
def seeded(sim: GitHubSimulator) -> Seeded:
    return seed_pipeline(sim, GATED_PIPELINE)


@pytest.fixture
async def retrying(sim: GitHubSimulator, seeded: Seeded, tmp_path: Path) -> AsyncIterator[FastAPI]:
    """The app with no wait before a retry and no reconciler of its own: the test reconciles."""
    settings = app_settings(seeded, tmp_path, sim.base_url, redeliver_after_s=0, reconcile_interval_s=3600)
    async with running(settings, sim.transport()) as application:
        yield application


def bot_comments(sim: GitHubSimulator, number: int) -> list[str]:
    return [
        c.body
        for c in sim.world.comments.values()
        if c.issue_number == number and c.user.login.endswith("[bot]")
    ]


async def reconcile(app: FastAPI, rounds: int) -> None:
    """What the reconciler does every AQM_RECONCILE_INTERVAL_S, `rounds` times, each handled in full."""
    for _ in range(rounds):
        await app.state.queue.reconcile()
        await settle(app)


async def deleted_comment_delivery(
    sim: GitHubSimulator, hooks: Deliverer, number: int, body: str
) -> Delivery:
    """A maintainer's comment, deleted before the app handles its delivery (its 👀 reaction is a 404)."""
    comment = sim.add_comment(REPO, number, user="maintainer", body=body)
    payload = hooks.payloads.issue_comment("created", comment, comment.user)
    sim.delete_comment(REPO, comment.id)
    return hooks.build("issue_comment", payload, subject_id=comment.id)


# ---- bounded replies ----------------------------------------------------------------------------


async def test_an_outsiders_thousand_line_comment_gets_exactly_one_reply(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer
) -> None:
    issue = sim.open_issue(REPO, "Spam", "body", user="outsider")
    lines = ["/aqm run", "/aqm help", "/aqm rnu", "/approve", "/aqm frobnicate", "/aqm run --pipline x"]
    body = "\n".join(lines[n % len(lines)] for n in range(1_000))
    await hooks.comment_created(REPO, issue.number, "outsider", body)
    await settle(app)
    [reply] = bot_comments(sim, issue.number)
    assert "@outsider, sorry: `/aqm run`, `/approve` need write access" in reply
    assert reply.count("**aqm commands**") == 1  # the help, once, for every help and unknown line
    assert reply.count("is not an aqm command") == 2 and "did you mean --pipeline?" in reply
    assert sim.traffic.count("issues.create_comment") == 1
    assert await app.state.services.store.list_tasks(limit=5) == []


async def test_a_maintainers_comment_runs_the_first_ten_commands_and_says_the_rest_were_ignored(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer
) -> None:
    issue = sim.open_issue(REPO, "Many runs", "body", user="maintainer")
    extra = 3
    body = "\n".join(f"/aqm run --pipeline missing-{n}" for n in range(MAX_COMMANDS_PER_COMMENT + extra))
    await hooks.comment_created(REPO, issue.number, "maintainer", body)
    await settle(app)
    [reply] = bot_comments(sim, issue.number)
    assert f"Only the first {MAX_COMMANDS_PER_COMMENT} commands of a comment are run" in reply
    assert f"the other {extra} were ignored" in reply
    assert "missing-9" in reply and "missing-10" not in reply  # each run said why it did not start
    assert sim.traffic.count("reactions.create_for_issue_comment") == 1  # 👀 once, not once per run


# ---- poison deliveries --------------------------------------------------------------------------


async def test_a_404_on_the_eyes_reaction_ends_the_delivery_after_bounded_attempts_with_one_reply(
    sim: GitHubSimulator, retrying: FastAPI
) -> None:
    hooks = deliverer(sim, retrying)
    issue = sim.open_issue(REPO, "Gone", "body", user="maintainer")
    delivery = await hooks.post(
        await deleted_comment_delivery(sim, hooks, issue.number, "/aqm status\n/aqm run")
    )
    await settle(retrying)
    await reconcile(retrying, rounds=MAX_PERMANENT_ATTEMPTS + 2)
    record = await retrying.state.services.github_store.get_delivery(delivery.guid)
    assert (record.status, record.attempts) == ("failed", MAX_PERMANENT_ATTEMPTS)
    assert record.error == "react: GitHub answered 404"
    [reply] = bot_comments(sim, issue.number)  # one in total, not one per attempt
    assert "No aqm task on this thread yet" in reply  # what /aqm status said, on the first attempt
    assert f"aqm gave up on this after {MAX_PERMANENT_ATTEMPTS} attempts: react: GitHub answered 404" in reply
    assert sim.traffic.count("reactions.create_for_issue_comment") == MAX_PERMANENT_ATTEMPTS


async def test_a_hundred_poison_deliveries_do_not_starve_a_new_one(
    sim: GitHubSimulator, retrying: FastAPI
) -> None:
    hooks = deliverer(sim, retrying)
    store = retrying.state.services.github_store
    issue = sim.open_issue(REPO, "Poison", "body", user="maintainer")
    poison = await deleted_comment_delivery(sim, hooks, issue.number, "/aqm run")
    for n in range(100):  # recorded, their jobs lost: only the reconciler hands them out
        await store.record_delivery(
            f"poison-{n}", event="issue_comment", action="created", body=poison.body.decode()
        )
    fresh = sim.add_comment(REPO, issue.number, user="maintainer", body="/aqm status")
    payload = hooks.payloads.issue_comment("created", fresh, fresh.user)
    await store.record_delivery("fresh", event="issue_comment", action="created", body=json.dumps(payload))
    await reconcile(retrying, rounds=2)  # a batch is 100 deliveries: the poisons fill the first
    assert (await store.get_delivery("fresh")).status == "done"
    assert "No aqm task on this thread yet" in sim.thread(REPO, issue.number)


# ---- de-duplication, edits, hidden commands -----------------------------------------------------


async def test_a_signed_body_resent_under_a_new_guid_does_nothing(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer
) -> None:
    issue = sim.open_issue(REPO, "Replay", "body", user="maintainer")
    first = await hooks.comment_created(REPO, issue.number, "maintainer", "/aqm status")
    await settle(app)
    headers = dict(first.headers) | {"X-GitHub-Delivery": "an-attackers-new-guid"}
    again = await hooks.post(
        replace(first, guid="an-attackers-new-guid", headers=headers, response_status=None)
    )
    await settle(app)
    assert (first.response_status, again.response_status) == (202, 202)
    assert json.loads(again.response_body)["duplicate"] is True
    record = await app.state.services.github_store.get_delivery("an-attackers-new-guid")
    assert record.status == "duplicate" and first.guid in (record.error or "")
    assert len(bot_comments(sim, issue.number)) == 1


async def test_an_edit_that_does_not_change_the_body_runs_nothing(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer
) -> None:
    issue = sim.open_issue(REPO, "Edit", "body", user="maintainer")
    comment = sim.add_comment(REPO, issue.number, user="maintainer", body="/aqm run\n/aqm status")
    payload = hooks.payloads.issue_comment("edited", comment, comment.user, before=comment.body)
    payload["changes"] = {}  # an edit of something other than the body: no `changes.body`
    delivery = await hooks.send("issue_comment", payload, subject_id=comment.id)
    await settle(app)
    assert (await app.state.services.github_store.get_delivery(delivery.guid)).status == "ignored"
    assert bot_comments(sim, issue.number) == []
    assert sim.traffic.count("reactions.create_for_issue_comment") == 0


async def test_commands_inside_details_or_pre_are_not_run(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer
) -> None:
    issue = sim.open_issue(REPO, "Hidden", "body", user="maintainer")
    body = "<details><summary>log</summary>\n\n/aqm run\n\n</details>\n<pre>\n/aqm status\n</pre>\nthanks"
    delivery = await hooks.comment_created(REPO, issue.number, "maintainer", body)
    await settle(app)
    assert (await app.state.services.github_store.get_delivery(delivery.guid)).status == "ignored"
    assert bot_comments(sim, issue.number) == []
    assert await app.state.services.store.list_tasks(limit=5) == []


# ---- what the app posts links nothing -----------------------------------------------------------


async def test_a_title_with_an_issue_number_and_a_url_is_posted_unlinked(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer
) -> None:
    issue = sim.open_issue(REPO, "Fix #1, see https://evil.example/x", "cc @octocat", user="maintainer")
    await hooks.comment_created(REPO, issue.number, "maintainer", "/aqm run")
    await settle(app)
    card = next(c for c in bot_comments(sim, issue.number) if c.startswith("<!-- aqm:run-card"))
    assert "Fix #\u20601, see https:\u2060//evil.example/x" in card and "@\u2060octocat" in card
    assert "#1" not in card and "https://evil" not in card and "@octocat" not in card


async def test_a_retried_delivery_does_not_repeat_a_command_it_performed(
    sim: GitHubSimulator, retrying: FastAPI
) -> None:
    hooks = deliverer(sim, retrying)
    issue = sim.open_issue(REPO, "Chunks", "body", user="maintainer")
    await hooks.comment_created(REPO, issue.number, "maintainer", "/aqm run")
    await settle(retrying)
    [task] = await retrying.state.services.store.list_tasks(limit=5)
    before = len(bot_comments(sim, issue.number))
    body = "/aqm chunks add write the docs\n/aqm run"  # the run's 👀 is a 404 on every attempt
    await hooks.post(await deleted_comment_delivery(sim, hooks, issue.number, body))
    await settle(retrying)
    await reconcile(retrying, rounds=MAX_PERMANENT_ATTEMPTS + 2)
    state = TaskState.from_core((await retrying.state.services.store.get_task(task.id)).state)
    assert [chunk.description for chunk in state.chunks] == ["write the docs"]  # added once, not thrice
    [reply] = bot_comments(sim, issue.number)[before:]
    assert reply.count("Added a chunk: write the docs") == 1 and "aqm gave up on this" in reply
