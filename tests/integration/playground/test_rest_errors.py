"""GitHub's error answers: 404 `basic-error`, 422 `validation-error`, 401 for bad or expired
credentials, 403 where GitHub refuses, API versions, and `Link` pagination."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import pytest
from githubkit import GitHub
from githubkit.exception import RequestFailed
from githubkit_schemas.latest.models import BasicError, ValidationError, ValidationErrorSimple
from pydantic import TypeAdapter

from app.playground.simulator import GitHubSimulator

OWNER, REPO = "octo", "demo"


async def failure(call: Any) -> httpx.Response:
    with pytest.raises(RequestFailed) as caught:
        await call
    return caught.value.response.raw_response


def basic_error(response: httpx.Response, status: int) -> BasicError:
    assert response.status_code == status
    assert "x-ratelimit-remaining" in response.headers
    return TypeAdapter(BasicError).validate_json(response.content, strict=True)


def validation_error(response: httpx.Response) -> ValidationError:
    assert response.status_code == 422
    return TypeAdapter(ValidationError).validate_json(response.content, strict=True)


def simple_validation_error(response: httpx.Response) -> ValidationErrorSimple:
    """`validation-error-simple`: reviews answer 422 with `errors` as plain strings."""
    assert response.status_code == 422
    return TypeAdapter(ValidationErrorSimple).validate_json(response.content, strict=True)


async def test_unknown_things_are_404_basic_errors(github_api: GitHub[Any]) -> None:
    for call in (
        github_api.rest.issues.async_get(OWNER, REPO, 99),
        github_api.rest.repos.async_get(OWNER, "missing"),
        github_api.rest.repos.async_get_content(OWNER, REPO, "no/such/file"),
        github_api.rest.git.async_get_ref(OWNER, REPO, "heads/nope"),
        github_api.rest.pulls.async_get(OWNER, REPO, 1),
    ):
        assert basic_error(await failure(call), 404).message == "Not Found"


async def test_an_unknown_route_is_a_404_basic_error(github_sim: GitHubSimulator) -> None:
    async with httpx.AsyncClient(transport=github_sim.transport(), base_url=github_sim.base_url) as client:
        response = await client.get("/no/such/route")
    assert basic_error(response, 404).documentation_url


async def test_a_comment_over_65536_characters_is_a_422(github_sim: GitHubSimulator) -> None:
    gh = github_sim.github(rest_api_validate_body=False)
    number = github_sim.open_issue("octo/demo", "An issue", user="maintainer").number
    error = validation_error(
        await failure(gh.rest.issues.async_create_comment(OWNER, REPO, number, body="x" * 65_537))
    )
    assert error.message == "Validation Failed"
    assert error.errors and "too long" in str(error.errors[0])


async def test_a_missing_field_is_a_422_naming_it(github_sim: GitHubSimulator) -> None:
    # githubkit validates bodies itself: plain HTTP reaches the simulator's own check
    async with httpx.AsyncClient(transport=github_sim.transport(), base_url=github_sim.base_url) as client:
        github_sim.add_token("ghp_maintainer", login="maintainer")
        response = await client.post(
            "/repos/octo/demo/issues/1/comments", json={}, headers={"Authorization": "token ghp_maintainer"}
        )
    error = validation_error(response)
    assert error.errors and error.errors[0].field == "body" and error.errors[0].code == "missing_field"


async def test_refs_and_pull_requests_refuse_what_github_refuses(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    sha = github_sim.repo("octo/demo").git.resolve("main") or ""
    existing = await failure(
        github_api.rest.git.async_create_ref(OWNER, REPO, ref="refs/heads/main", sha=sha)
    )
    assert validation_error(existing).message == "Reference already exists"
    github_sim.create_branch("octo/demo", "empty")
    no_commits = validation_error(
        await failure(github_api.rest.pulls.async_create(OWNER, REPO, head="empty", base="main", title="t"))
    )
    assert "No commits between main and empty" in str(no_commits.errors)
    github_sim.commit("octo/demo", {"a.txt": "a\n"}, branch="feature")
    await github_api.rest.pulls.async_create(OWNER, REPO, head="feature", base="main", title="t")
    duplicate = validation_error(
        await failure(github_api.rest.pulls.async_create(OWNER, REPO, head="feature", base="main", title="t"))
    )
    assert "already exists" in str(duplicate.errors)


async def test_a_review_needs_a_body_to_request_changes_and_cannot_approve_its_own_pr(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    github_sim.commit("octo/demo", {"a.txt": "a\n"}, branch="feature")
    own = (
        await github_api.rest.pulls.async_create(OWNER, REPO, head="feature", base="main", title="t")
    ).parsed_data
    mine = await failure(github_api.rest.pulls.async_create_review(OWNER, REPO, own.number, event="APPROVE"))
    assert simple_validation_error(mine).errors == ["Review Can not approve your own pull request"]
    gh = github_sim.github(rest_api_validate_body=False)
    no_body = await failure(gh.rest.pulls.async_create_review(OWNER, REPO, own.number, event="COMMENT"))
    assert simple_validation_error(no_body).errors == ["Body is required for COMMENT"]


async def test_an_expired_installation_token_is_401(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    await github_api.rest.repos.async_get(OWNER, REPO)  # githubkit now holds a token
    github_sim.expire_tokens()
    response = await failure(github_api.rest.repos.async_get(OWNER, REPO))
    assert basic_error(response, 401).message == "Bad credentials"


async def test_tokens_expire_on_the_simulators_clock(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    await github_api.rest.repos.async_get(OWNER, REPO)
    github_sim.world.clock.advance(3601)
    assert (
        basic_error(await failure(github_api.rest.repos.async_get(OWNER, REPO)), 401).message
        == "Bad credentials"
    )


async def test_a_fresh_client_gets_a_new_token_after_expiry(github_sim: GitHubSimulator) -> None:
    github_sim.token_lifetime_s = 30  # githubkit refreshes tokens that expire within a minute
    gh = github_sim.github()
    await gh.rest.repos.async_get(OWNER, REPO)
    await gh.rest.repos.async_get(OWNER, REPO)
    assert github_sim.traffic.count("apps.create_installation_access_token") == 2


async def test_unknown_tokens_are_401_and_a_known_pat_acts_as_its_user(github_sim: GitHubSimulator) -> None:
    stranger = GitHub(
        "ghp_unknown", base_url=github_sim.base_url, async_transport=github_sim.transport(), http_cache=False
    )
    assert (
        basic_error(await failure(stranger.rest.repos.async_get(OWNER, REPO)), 401).message
        == "Bad credentials"
    )
    github_sim.add_token("ghp_maintainer", login="maintainer")
    pat = github_sim.github("ghp_maintainer")
    number = github_sim.open_issue("octo/demo", "An issue", user="outsider").number
    comment = (await pat.rest.issues.async_create_comment(OWNER, REPO, number, body="hello")).parsed_data
    assert comment.user and (comment.user.login, comment.user.type) == ("maintainer", "User")
    assert comment.performed_via_github_app is None


async def test_a_pat_cannot_write_check_runs(github_sim: GitHubSimulator) -> None:
    github_sim.add_token("ghp_maintainer", login="maintainer")
    pat = github_sim.github("ghp_maintainer")
    sha = github_sim.repo("octo/demo").git.resolve("main") or ""
    response = await failure(pat.rest.checks.async_create(OWNER, REPO, name="aqm/default", head_sha=sha))
    assert basic_error(response, 403).message == "You must authenticate via a GitHub App."


async def test_app_routes_need_the_jwt_and_repo_routes_refuse_it(github_sim: GitHubSimulator) -> None:
    assert github_sim.seeded is not None
    now = int(time.time())
    claims = {"iss": str(github_sim.seeded.app.id), "iat": now - 60, "exp": now + 540}
    token = jwt.encode(claims, github_sim.seeded.key.private_pem, algorithm="RS256")
    async with httpx.AsyncClient(transport=github_sim.transport(), base_url=github_sim.base_url) as client:
        app = await client.get("/app", headers={"Authorization": f"Bearer {token}"})
        repo = await client.get("/repos/octo/demo", headers={"Authorization": f"Bearer {token}"})
        github_sim.add_token("ghp_maintainer", login="maintainer")
        pat_on_app = await client.get("/app", headers={"Authorization": "token ghp_maintainer"})
    assert app.status_code == 200
    assert "requires you to be authenticated as an installation" in str(basic_error(repo, 403).message)
    assert basic_error(pat_on_app, 401).message == "A JSON web token could not be decoded"


async def test_an_expired_jwt_is_401(github_sim: GitHubSimulator) -> None:
    assert github_sim.seeded is not None
    now = int(time.time())
    claims = {"iss": str(github_sim.seeded.app.id), "iat": now - 700, "exp": now - 100}
    token = jwt.encode(claims, github_sim.seeded.key.private_pem, algorithm="RS256")
    async with httpx.AsyncClient(transport=github_sim.transport(), base_url=github_sim.base_url) as client:
        response = await client.get("/app", headers={"Authorization": f"Bearer {token}"})
    assert "'Expiration time' claim ('exp')" in str(basic_error(response, 401).message)


async def test_a_jwt_signed_by_another_key_is_401(github_sim: GitHubSimulator) -> None:
    from githubkit import AppAuthStrategy

    from app.playground.simulator import generate_app_key

    assert github_sim.seeded is not None
    forged = github_sim.github(AppAuthStrategy(github_sim.seeded.app.id, generate_app_key().private_pem))
    assert basic_error(await failure(forged.rest.apps.async_get_authenticated()), 401).status == "401"


@pytest.mark.parametrize("version", ["2022-11-28", "2026-03-10", None])
async def test_both_api_versions_and_none_are_accepted(
    github_sim: GitHubSimulator, version: str | None
) -> None:
    headers = {"X-GitHub-Api-Version": version} if version else {}
    async with httpx.AsyncClient(transport=github_sim.transport(), base_url=github_sim.base_url) as client:
        response = await client.get("/repos/octo/demo", headers=headers)
    assert response.status_code == 200
    assert github_sim.traffic.log[-1].api_version == version


async def test_an_unknown_api_version_is_400(github_sim: GitHubSimulator) -> None:
    async with httpx.AsyncClient(transport=github_sim.transport(), base_url=github_sim.base_url) as client:
        response = await client.get("/repos/octo/demo", headers={"X-GitHub-Api-Version": "2020-01-01"})
    assert basic_error(response, 400).message == "API version '2020-01-01' is not supported."


async def test_lists_are_paginated_with_link_headers_from_the_base_url(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    number = github_sim.open_issue("octo/demo", "An issue", user="maintainer").number
    for i in range(5):
        github_sim.add_comment("octo/demo", number, user="maintainer", body=f"comment {i}")
    page = await github_api.rest.issues.async_list_comments(OWNER, REPO, number, per_page=2, page=2)
    assert [c["body"] for c in page.raw_response.json()] == ["comment 2", "comment 3"]
    link = page.headers["link"]
    base = f"http://github.test/repos/octo/demo/issues/{number}/comments?per_page=2"
    assert f'<{base}&page=3>; rel="next"' in link
    assert f'<{base}&page=3>; rel="last"' in link
    assert f'<{base}&page=1>; rel="first"' in link and f'<{base}&page=1>; rel="prev"' in link
    every: list[Any] = []
    pages: Any = github_api.rest.paginate(
        github_api.rest.issues.async_list_comments, owner=OWNER, repo=REPO, issue_number=number, per_page=2
    )
    async for comment in pages:
        every.append(comment.body)
    assert every == [f"comment {i}" for i in range(5)]


ONE_MB = 1024 * 1024


async def test_a_file_over_1_mb_is_a_403_too_large_unless_asked_raw(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    """GitHub's contents API: JSON up to 1 MB, raw up to 100 MB
    (https://docs.github.com/rest/repos/contents#get-repository-content)."""
    github_sim.commit("octo/demo", {"big.yaml": "x" * (ONE_MB + 1), "limit.yaml": "y" * ONE_MB})
    response = await failure(github_api.rest.repos.async_get_content(OWNER, REPO, "big.yaml"))
    error = basic_error(response, 403)
    assert error.message and error.message.startswith("This API returns blobs up to 1 MB in size.")
    assert response.json()["errors"] == [{"resource": "Blob", "field": "data", "code": "too_large"}]
    at_the_limit = await github_api.rest.repos.async_get_content(OWNER, REPO, "limit.yaml")
    assert at_the_limit.status_code == 200
    async with httpx.AsyncClient(transport=github_sim.transport(), base_url=github_sim.base_url) as client:
        github_sim.add_token("ghp_maintainer", login="maintainer")
        raw = await client.get(
            "/repos/octo/demo/contents/big.yaml",
            headers={"Authorization": "token ghp_maintainer", "Accept": "application/vnd.github.raw+json"},
        )
    assert (raw.status_code, len(raw.content)) == (200, ONE_MB + 1)
