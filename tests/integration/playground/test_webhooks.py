"""Webhook deliveries built from the simulator's state: they parse with githubkit, match the state,
carry GitHub's headers and a valid signature, reach the target, and can be redelivered."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from githubkit import GitHub
from githubkit.webhooks import parse, verify
from githubkit_schemas.latest.models import (
    WebhookCheckRunRequestedAction,
    WebhookIssueCommentCreated,
    WebhookIssueCommentEdited,
    WebhookIssuesLabeled,
    WebhookIssuesOpened,
    WebhookPullRequestOpened,
    WebhookPullRequestReviewSubmitted,
    WebhookPullRequestSynchronize,
)

from app.playground.simulator import Deliverer, Delivery, GitHubSimulator
from app.playground.simulator.templates import event_of, template, template_names

REPO = "octo/demo"


def parsed(delivery: Delivery) -> Any:
    return parse(delivery.event, delivery.body)


@pytest.fixture
def hooks(github_sim: GitHubSimulator) -> Deliverer:
    """Builds and records deliveries without posting them."""
    return github_sim.deliverer()


def model_name(event: str, action: str | None) -> str:
    """githubkit's model for an event and action: `issue_comment`, `created` -> WebhookIssueCommentCreated."""
    words = [*event.split("_"), *(action or "").split("_")]
    return "Webhook" + "".join(word.capitalize() for word in words if word)


@pytest.mark.parametrize("name", template_names())
def test_every_template_parses_with_githubkit_as_its_event_and_action(name: str) -> None:
    """The fixed upstream examples and the derived ones (slow the first time: githubkit builds its models)."""
    payload = template(name)
    event = parse(event_of(name), json.dumps(payload).encode())
    assert type(event).__name__ == model_name(event_of(name), payload.get("action"))
    assert getattr(event, "action", None) == payload.get("action")
    if "repository" in payload:
        assert event.repository.full_name == payload["repository"]["full_name"]  # type: ignore[union-attr]


async def test_comment_created_matches_the_state(github_sim: GitHubSimulator, hooks: Deliverer) -> None:
    issue = github_sim.open_issue(REPO, "Add rate limiting", user="maintainer")
    delivery = await hooks.comment_created(REPO, issue.number, "maintainer", "/aqm run")
    event = parsed(delivery)
    assert isinstance(event, WebhookIssueCommentCreated)
    comment = github_sim.comment(REPO, delivery.subject_id or 0)
    assert (event.comment.id, event.comment.body, event.comment.user and event.comment.user.login) == (
        comment.id,
        "/aqm run",
        "maintainer",
    )
    assert (event.issue.number, event.issue.title) == (issue.number, issue.title)
    assert not event.issue.pull_request
    assert event.repository.full_name == REPO
    assert event.repository.clone_url == github_sim.repo(REPO).git.clone_url
    assert event.sender.login == "maintainer"
    assert github_sim.seeded is not None
    assert event.installation and event.installation.id == github_sim.seeded.installation.id


async def test_a_comment_on_a_pull_request_has_issue_pull_request(
    github_sim: GitHubSimulator, hooks: Deliverer
) -> None:
    github_sim.commit(REPO, {"a.txt": "a\n"}, branch="feature")
    pull = github_sim.open_pull(REPO, head="feature", title="A", user="maintainer")
    event = parsed(await hooks.comment_created(REPO, pull.number, "maintainer", "/approve"))
    assert isinstance(event, WebhookIssueCommentCreated)
    assert event.issue.pull_request
    assert str(event.issue.pull_request.url).endswith(f"/pulls/{pull.number}")


async def test_comment_edited_carries_the_previous_body(
    github_sim: GitHubSimulator, hooks: Deliverer
) -> None:
    issue = github_sim.open_issue(REPO, "An issue", user="maintainer")
    comment = github_sim.add_comment(REPO, issue.number, user="maintainer", body="before")
    event = parsed(await hooks.comment_edited(REPO, comment.id, "/aqm run"))
    assert isinstance(event, WebhookIssueCommentEdited)
    assert (event.comment.body, event.changes.body and event.changes.body.from_) == ("/aqm run", "before")


async def test_issue_opened_and_labeled(github_sim: GitHubSimulator, hooks: Deliverer) -> None:
    opened = parsed(await hooks.issue_opened(REPO, "Crash on start", "trace", user="outsider"))
    assert isinstance(opened, WebhookIssuesOpened)
    assert (opened.issue.title, opened.issue.user and opened.issue.user.login) == (
        "Crash on start",
        "outsider",
    )
    labeled = parsed(await hooks.issue_labeled(REPO, opened.issue.number, "aqm", user="maintainer"))
    assert isinstance(labeled, WebhookIssuesLabeled)
    assert labeled.label and labeled.label.name == "aqm"
    assert [label.name for label in labeled.issue.labels or []] == ["aqm"]


async def test_pull_request_opened_has_head_and_base_from_git(
    github_sim: GitHubSimulator, hooks: Deliverer
) -> None:
    head = github_sim.commit(REPO, {"a.txt": "a\n"}, branch="feature")
    base = github_sim.repo(REPO).git.resolve("main")
    event = parsed(await hooks.pull_request_opened(REPO, head="feature", title="A change", user="maintainer"))
    assert isinstance(event, WebhookPullRequestOpened)
    pr = event.pull_request
    assert (pr.head.sha, pr.head.ref, pr.base.sha, pr.base.ref) == (head, "feature", base, "main")
    assert pr.head.repo and pr.head.repo.full_name == REPO


async def test_pull_request_synchronize_reports_before_and_after(
    github_sim: GitHubSimulator, hooks: Deliverer
) -> None:
    first = github_sim.commit(REPO, {"a.txt": "a\n"}, branch="feature")
    number = parsed(
        await hooks.pull_request_opened(REPO, head="feature", title="A", user="maintainer")
    ).number
    event = parsed(
        await hooks.pull_request_synchronize(REPO, number, user="maintainer", files={"a.txt": "b\n"})
    )
    assert isinstance(event, WebhookPullRequestSynchronize)
    after = github_sim.repo(REPO).git.resolve("feature")
    assert (event.before, event.after, event.pull_request.head.sha) == (first, after, after)


async def test_reviews_parse_in_each_state(github_sim: GitHubSimulator, hooks: Deliverer) -> None:
    github_sim.commit(REPO, {"a.txt": "a\n"}, branch="feature")
    number = github_sim.open_pull(REPO, head="feature", title="A", user="octo").number
    states = {}
    for state in ("approved", "changes_requested", "commented"):
        delivery = await hooks.review_submitted(REPO, number, user="maintainer", state=state, body="because")
        event = parsed(delivery)
        assert isinstance(event, WebhookPullRequestReviewSubmitted)
        assert event.review.commit_id == github_sim.repo(REPO).git.resolve("feature")
        states[state] = event.review.state
    assert states == {
        "approved": "approved",
        "changes_requested": "changes_requested",
        "commented": "commented",
    }


async def test_a_stale_review_names_the_old_commit(github_sim: GitHubSimulator, hooks: Deliverer) -> None:
    old = github_sim.commit(REPO, {"a.txt": "a\n"}, branch="feature")
    number = github_sim.open_pull(REPO, head="feature", title="A", user="octo").number
    github_sim.commit(REPO, {"a.txt": "b\n"}, branch="feature")
    event = parsed(
        await hooks.review_submitted(REPO, number, user="maintainer", state="approved", commit_id=old)
    )
    assert event.review.commit_id == old
    assert event.pull_request.head.sha != old


async def test_check_run_requested_action(
    github_sim: GitHubSimulator, hooks: Deliverer, github_api: GitHub[Any]
) -> None:
    sha = github_sim.commit(REPO, {"a.txt": "a\n"}, branch="feature")
    github_sim.open_pull(REPO, head="feature", title="A", user="maintainer")
    run = (
        await github_api.rest.checks.async_create(
            "octo",
            "demo",
            name="aqm/default",
            head_sha=sha,
            status="in_progress",
            output={"title": "Waiting", "summary": "a gate waits"},
            actions=[{"label": "Approve", "description": "Approve the gate", "identifier": "approve"}],
        )
    ).parsed_data
    event = parsed(await hooks.check_run_requested_action(REPO, run.id, "approve", user="maintainer"))
    assert isinstance(event, WebhookCheckRunRequestedAction)
    assert (event.check_run.id, event.requested_action and event.requested_action.identifier) == (
        run.id,
        "approve",
    )
    assert [p.number for p in event.check_run.pull_requests] == [1]
    assert event.check_run.app and event.check_run.app.slug == "aqm"


async def test_deliveries_carry_githubs_headers_and_signature(
    github_sim: GitHubSimulator, hooks: Deliverer
) -> None:
    issue = github_sim.open_issue(REPO, "An issue", user="maintainer")
    delivery = await hooks.comment_created(REPO, issue.number, "maintainer", "hi")
    headers = delivery.headers
    assert github_sim.seeded is not None
    assert headers["X-GitHub-Event"] == "issue_comment"
    assert len(headers["X-GitHub-Delivery"]) == 36
    assert headers["User-Agent"].startswith("GitHub-Hookshot/")
    assert headers["X-GitHub-Hook-Installation-Target-Type"] == "integration"
    assert headers["X-GitHub-Hook-Installation-Target-ID"] == str(github_sim.seeded.app.id)
    assert verify(github_sim.seeded.app.webhook_secret, delivery.body, headers["X-Hub-Signature-256"])
    assert not verify("another secret", delivery.body, headers["X-Hub-Signature-256"])


class Receiver:
    """The other end of a delivery: records what arrives (a test target, not a GitHub double)."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.app = FastAPI()
        self.app.add_api_route("/webhook", self.receive, methods=["POST"], status_code=202)

    async def receive(self, request: Request) -> dict[str, str]:
        self.received.append((dict(request.headers), await request.body()))
        return {"status": "accepted"}


async def test_deliveries_are_posted_and_can_be_redelivered_with_the_same_guid(
    github_sim: GitHubSimulator,
) -> None:
    receiver = Receiver()
    hooks = github_sim.deliverer("http://aqm.test/webhook", transport=httpx.ASGITransport(app=receiver.app))
    issue = github_sim.open_issue(REPO, "An issue", user="maintainer")
    first = await hooks.comment_created(REPO, issue.number, "maintainer", "/aqm run")
    again = await hooks.redeliver(first)
    assert (first.response_status, again.response_status) == (202, 202)
    (headers_1, body_1), (headers_2, body_2) = receiver.received
    assert headers_1["x-github-delivery"] == headers_2["x-github-delivery"] == first.guid
    assert body_1 == body_2 == first.body
    assert len(github_sim.world.thread_comments(REPO, issue.number)) == 1


async def test_the_apps_own_comments_are_delivered_as_bot_events(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    receiver = Receiver()
    hooks = github_sim.deliverer(
        "http://aqm.test/webhook", transport=httpx.ASGITransport(app=receiver.app), api_events=True
    )
    issue = github_sim.open_issue(REPO, "An issue", user="maintainer")
    created = (
        await github_api.rest.issues.async_create_comment("octo", "demo", issue.number, body="run card")
    ).parsed_data
    await github_api.rest.issues.async_update_comment("octo", "demo", created.id, body="run card, edited")
    delivered = await hooks.drain()
    events = [parse(d.event, d.body) for d in delivered]
    assert [type(e).__name__ for e in events] == ["WebhookIssueCommentCreated", "WebhookIssueCommentEdited"]
    first = events[0]
    assert isinstance(first, WebhookIssueCommentCreated) and first.sender
    assert (first.sender.login, first.sender.type) == ("aqm[bot]", "Bot")
    assert first.comment.performed_via_github_app and first.comment.performed_via_github_app.slug == "aqm"
    assert len(receiver.received) == 2


async def test_rest_events_are_not_delivered_unless_asked(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    hooks = github_sim.deliverer()
    issue = github_sim.open_issue(REPO, "An issue", user="maintainer")
    await github_api.rest.issues.async_create_comment("octo", "demo", issue.number, body="run card")
    assert await hooks.drain() == []
    assert hooks.sent == []


async def test_every_event_a_rest_call_causes_parses(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    hooks = github_sim.deliverer(api_events=True)  # recorded, not posted
    sha = github_sim.commit(REPO, {"a.txt": "a\n"}, branch="feature")
    issue = (await github_api.rest.issues.async_create("octo", "demo", title="Found a bug")).parsed_data
    await github_api.rest.issues.async_add_labels("octo", "demo", issue.number, labels=["aqm"])
    comment = (
        await github_api.rest.issues.async_create_comment("octo", "demo", issue.number, body="card")
    ).parsed_data
    await github_api.rest.issues.async_update_comment("octo", "demo", comment.id, body="card, edited")
    await github_api.rest.issues.async_delete_comment("octo", "demo", comment.id)
    pull = (
        await github_api.rest.pulls.async_create("octo", "demo", head="feature", base="main", title="Fix")
    ).parsed_data
    github_sim.add_token("ghp_maintainer", login="maintainer")
    maintainer = github_sim.github("ghp_maintainer")
    await maintainer.rest.pulls.async_create_review(
        "octo", "demo", pull.number, event="REQUEST_CHANGES", body="not yet"
    )
    run = (
        await github_api.rest.checks.async_create("octo", "demo", name="aqm/default", head_sha=sha)
    ).parsed_data
    await github_api.rest.checks.async_update("octo", "demo", run.id, conclusion="success")
    await github_api.rest.pulls.async_update("octo", "demo", pull.number, state="closed")
    await hooks.drain()
    kinds = [(d.event, d.action, type(parse(d.event, d.body)).__name__) for d in hooks.sent]
    assert kinds == [
        ("issues", "opened", "WebhookIssuesOpened"),
        ("issues", "labeled", "WebhookIssuesLabeled"),
        ("issue_comment", "created", "WebhookIssueCommentCreated"),
        ("issue_comment", "edited", "WebhookIssueCommentEdited"),
        ("issue_comment", "deleted", "WebhookIssueCommentDeleted"),
        ("pull_request", "opened", "WebhookPullRequestOpened"),
        ("pull_request_review", "submitted", "WebhookPullRequestReviewSubmitted"),
        ("check_run", "created", "WebhookCheckRunCreated"),
        ("check_run", "completed", "WebhookCheckRunCompleted"),
        ("pull_request", "closed", "WebhookPullRequestClosed"),
    ]
    senders = {d.payload["sender"]["login"] for d in hooks.sent if d.event != "pull_request_review"}
    assert senders == {"aqm[bot]"}
