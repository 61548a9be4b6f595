"""The thread as a person reads it, and the simulator on a real socket."""

from __future__ import annotations

from typing import Any

import httpx
from githubkit import AppInstallationAuthStrategy, GitHub

from app.playground.simulator import GitHubSimulator

OWNER, REPO = "octo", "demo"


async def test_the_thread_shows_comments_reviews_check_runs_and_pull_requests(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    sha = github_sim.commit("octo/demo", {"a.txt": "a\n"}, branch="feature")
    number = github_sim.open_pull(
        "octo/demo", head="feature", title="Add a", body="Adds a.", user="octo"
    ).number
    github_sim.add_comment("octo/demo", number, user="maintainer", body="/aqm run")
    card = (
        await github_api.rest.issues.async_create_comment(OWNER, REPO, number, body="Run card: waiting")
    ).parsed_data
    await github_api.rest.issues.async_update_comment(OWNER, REPO, card.id, body="Run card: approved")
    await github_api.rest.checks.async_create(
        OWNER,
        REPO,
        name="aqm/default",
        head_sha=sha,
        status="in_progress",
        output={"title": "Waiting for approval", "summary": "developer waits for /approve"},
        actions=[{"label": "Approve", "description": "Approve the gate", "identifier": "approve"}],
    )
    github_sim.submit_review("octo/demo", number, user="maintainer", event="APPROVE", body="ship it")
    text = github_sim.thread("octo/demo", number)
    order = [
        "octo/demo#1  Add a",
        "Adds a.",
        "@maintainer commented",
        "/aqm run",
        "@aqm[bot] commented (edited)",
        "Run card: approved",
        f"@maintainer approved at {sha[:7]}",
        "ship it",
        f"Check runs on {sha[:7]}:",
        "aqm/default  in_progress — Waiting for approval",
        "developer waits for /approve",
        "buttons: [Approve] (approve)",
        "Pull requests in octo/demo:",
        "#1  Add a  (feature → main, open, by @octo",
    ]
    positions = [text.index(fragment) for fragment in order]
    assert positions == sorted(positions), text


def test_an_issue_thread_lists_the_repositorys_pull_requests(github_sim: GitHubSimulator) -> None:
    issue = github_sim.open_issue("octo/demo", "Crash", "It crashes.", user="outsider", labels=["bug"])
    github_sim.commit("octo/demo", {"fix.txt": "x\n"}, branch="aqm/T-000001")
    github_sim.open_pull("octo/demo", head="aqm/T-000001", title="Fix the crash", user="aqm[bot]")
    text = github_sim.thread("octo/demo", issue.number)
    assert "[issue, open] opened by @outsider" in text
    assert "labels: bug" in text
    assert "#2  Fix the crash  (aqm/T-000001 → main, open, by @aqm[bot]" in text


async def test_the_simulator_serves_a_real_socket(github_sim: GitHubSimulator) -> None:
    assert github_sim.seeded is not None
    number = github_sim.open_issue("octo/demo", "An issue", user="maintainer").number
    for i in range(3):
        github_sim.add_comment("octo/demo", number, user="maintainer", body=str(i))
    with github_sim.serve() as url:
        assert url.startswith("http://127.0.0.1:") and url != "http://127.0.0.1:0/"
        seeded = github_sim.seeded
        auth = AppInstallationAuthStrategy(seeded.app.id, seeded.key.private_pem, seeded.installation.id)
        async with GitHub(auth, base_url=url, http_cache=False, auto_retry=False) as gh:
            repo = (await gh.rest.repos.async_get(OWNER, REPO)).parsed_data
            page = await gh.rest.issues.async_list_comments(OWNER, REPO, number, per_page=1)
        assert repo.url == f"{url}repos/octo/demo"
        assert page.headers["link"].startswith(f"<{url}repos/octo/demo/issues/{number}/comments?")
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{url}rate_limit")).status_code == 200
    assert github_sim.base_url == "http://github.test/"
