"""Fault injection, per-operation counts, the request log and rate limits, as githubkit sees them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from githubkit import GitHub
from githubkit.exception import PrimaryRateLimitExceeded, RequestFailed, SecondaryRateLimitExceeded

from app.playground.simulator import GitHubSimulator

OWNER, REPO = "octo", "demo"


async def test_the_next_calls_answer_502_then_the_api_recovers(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    await github_api.rest.repos.async_get(
        OWNER, REPO
    )  # the token call is made: faults hit the calls we count
    github_sim.traffic.fail_next(2)
    for _ in range(2):
        with pytest.raises(RequestFailed) as caught:
            await github_api.rest.repos.async_get(OWNER, REPO)
        assert caught.value.response.status_code == 502
        assert "x-ratelimit-remaining" in caught.value.response.headers
    assert (await github_api.rest.repos.async_get(OWNER, REPO)).status_code == 200


async def test_a_fault_can_target_one_operation(github_sim: GitHubSimulator, github_api: GitHub[Any]) -> None:
    number = github_sim.open_issue("octo/demo", "An issue", user="maintainer").number
    github_sim.traffic.fail_next(1, status=503, operation="issues.create_comment")
    assert (await github_api.rest.repos.async_get(OWNER, REPO)).status_code == 200
    with pytest.raises(RequestFailed) as caught:
        await github_api.rest.issues.async_create_comment(OWNER, REPO, number, body="x")
    assert caught.value.response.status_code == 503
    assert github_sim.world.thread_comments("octo/demo", number) == []
    assert (
        await github_api.rest.issues.async_create_comment(OWNER, REPO, number, body="x")
    ).status_code == 201


async def test_a_fault_can_let_the_first_matching_calls_through(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    number = github_sim.open_issue("octo/demo", "An issue", user="maintainer").number
    github_sim.traffic.fail_next(1, status=422, operation="issues.create_comment", skip=1)
    assert (
        await github_api.rest.issues.async_create_comment(OWNER, REPO, number, body="a")
    ).status_code == 201
    with pytest.raises(RequestFailed) as caught:
        await github_api.rest.issues.async_create_comment(OWNER, REPO, number, body="b")
    assert caught.value.response.status_code == 422
    assert [c.body for c in github_sim.world.thread_comments("octo/demo", number)] == ["a"]


async def test_a_fault_can_target_a_route_template(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    github_sim.traffic.fail_next(1, operation="GET /repos/{owner}/{repo}")
    with pytest.raises(RequestFailed):
        await github_api.rest.repos.async_get(OWNER, REPO)


async def test_a_secondary_rate_limit_has_retry_after(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    await github_api.rest.repos.async_get(OWNER, REPO)
    github_sim.traffic.rate_limit_next(1, status=403, retry_after_s=7)
    with pytest.raises(SecondaryRateLimitExceeded) as caught:
        await github_api.rest.repos.async_get(OWNER, REPO)
    assert caught.value.retry_after == timedelta(seconds=7)
    assert caught.value.response.headers["retry-after"] == "7"


async def test_a_primary_rate_limit_has_remaining_zero(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    await github_api.rest.repos.async_get(OWNER, REPO)
    github_sim.traffic.rate_limit_next(1, status=429)
    with pytest.raises(PrimaryRateLimitExceeded) as caught:
        await github_api.rest.repos.async_get(OWNER, REPO)
    assert caught.value.response.status_code == 429
    assert caught.value.response.headers["x-ratelimit-remaining"] == "0"
    assert timedelta(seconds=0) < caught.value.retry_after <= timedelta(seconds=61)


async def test_exhausting_the_hourly_limit_is_a_403(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    github_sim.traffic.core_limit = 3
    for _ in range(3):
        response = await github_api.rest.repos.async_get(OWNER, REPO)
    assert response.headers["x-ratelimit-remaining"] == "0"
    with pytest.raises(PrimaryRateLimitExceeded):
        await github_api.rest.repos.async_get(OWNER, REPO)
    assert (await github_api.rest.rate_limit.async_get()).status_code == 200  # GET /rate_limit is free


async def test_calls_are_counted_per_operation_and_logged(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    number = github_sim.open_issue("octo/demo", "An issue", user="maintainer").number
    mark = github_sim.traffic.mark()
    await github_api.rest.issues.async_create_comment(OWNER, REPO, number, body="one")
    await github_api.rest.issues.async_create_comment(OWNER, REPO, number, body="two")
    await github_api.rest.repos.async_get(OWNER, REPO)
    traffic = github_sim.traffic
    assert traffic.count("issues.create_comment") == 2
    assert traffic.count("POST /repos/{owner}/{repo}/issues/{issue_number}/comments") == 2
    assert traffic.calls["apps.create_installation_access_token"] == 1
    assert traffic.since(mark) == {
        "apps.create_installation_access_token": 1,
        "issues.create_comment": 2,
        "repos.get": 1,
    }
    last = traffic.log[-1]
    assert (last.method, last.path, last.status, last.actor) == ("GET", "/repos/octo/demo", 200, "aqm[bot]")
    assert traffic.log[mark].actor == "app"  # the token request, signed with the App's JWT
