"""Every REST endpoint the simulator serves, called through githubkit: status code, githubkit's
response model (lax and strict), GitHub's required keys, and rate-limit headers."""

from __future__ import annotations

import base64
from typing import Any

from githubkit import AppAuthStrategy, GitHub

from app.playground.simulator import DEMO_AGENTS_YAML, GitHubSimulator
from tests.integration.playground.shapes import check_shape

OWNER, REPO = "octo", "demo"


def app_client(sim: GitHubSimulator) -> GitHub[Any]:
    assert sim.seeded is not None
    return sim.github(AppAuthStrategy(sim.seeded.app.id, sim.seeded.key.private_pem))


async def test_get_app_answers_the_app_with_its_slug(github_sim: GitHubSimulator) -> None:
    gh = app_client(github_sim)  # keep a reference: githubkit's namespaces hold only a weakref
    app = check_shape(await gh.rest.apps.async_get_authenticated(), "apps.get_authenticated", 200)
    assert app.slug == "aqm"


async def test_installation_routes_answer_with_a_jwt(github_sim: GitHubSimulator) -> None:
    gh = app_client(github_sim)
    listed = check_shape(await gh.rest.apps.async_list_installations(), "apps.list_installations", 200)
    one = check_shape(await gh.rest.apps.async_get_installation(listed[0].id), "apps.get_installation", 200)
    by_repo = check_shape(
        await gh.rest.apps.async_get_repo_installation(OWNER, REPO), "apps.get_repo_installation", 200
    )
    assert one.id == by_repo.id == listed[0].id
    assert by_repo.app_slug == "aqm"


async def test_an_installation_token_is_created_with_expires_at_to_the_second(
    github_sim: GitHubSimulator,
) -> None:
    gh = app_client(github_sim)
    assert github_sim.seeded is not None
    response = await gh.rest.apps.async_create_installation_access_token(github_sim.seeded.installation.id)
    token = check_shape(response, "apps.create_installation_access_token", 201)
    assert token.token.startswith("ghs_")
    assert len(response.json()["expires_at"]) == len("2016-07-11T22:14:10Z")
    assert response.json()["expires_at"].endswith("Z")


async def test_a_narrowed_token_lists_its_repositories(github_sim: GitHubSimulator) -> None:
    gh = app_client(github_sim)
    assert github_sim.seeded is not None
    response = await gh.rest.apps.async_create_installation_access_token(
        github_sim.seeded.installation.id, repositories=["demo"]
    )
    token = check_shape(response, "apps.create_installation_access_token", 201)
    assert [repo.full_name for repo in token.repositories or []] == ["octo/demo"]


async def test_installation_repositories_lists_the_repositories(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    response = await github_api.rest.apps.async_list_repos_accessible_to_installation()
    listed = check_shape(response, "apps.list_repos_accessible_to_installation", 200)
    assert [repo.full_name for repo in listed.repositories] == ["octo/demo"]


async def test_rate_limit_reports_the_core_window(github_api: GitHub[Any]) -> None:
    overview = check_shape(await github_api.rest.rate_limit.async_get(), "rate_limit.get", 200)
    assert overview.resources.core.limit == 5000


async def test_get_repo_has_clone_url_and_default_branch(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    repo = check_shape(await github_api.rest.repos.async_get(OWNER, REPO), "repos.get", 200)
    assert repo.clone_url.startswith("file:///") and repo.clone_url.endswith("/octo/demo.git")
    assert repo.default_branch == "main"
    assert repo.url == "http://github.test/repos/octo/demo"


async def test_get_content_of_a_file_is_base64_with_a_newline_every_60_chars(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    text = "x" * 200 + "\n"
    github_sim.commit("octo/demo", {"long.txt": text})
    response = await github_api.rest.repos.async_get_content(OWNER, REPO, "long.txt", ref="main")
    content = check_shape(response, "repos.get_content", 200)
    assert content.type == "file"
    assert all(len(line) == 60 for line in content.content.split("\n")[:-2])
    assert content.content.endswith("\n")
    assert base64.b64decode(content.content).decode() == text


async def test_get_content_of_a_directory_lists_it(github_api: GitHub[Any]) -> None:
    response = await github_api.rest.repos.async_get_content(OWNER, REPO, ".aqm")
    listing = check_shape(response, "repos.get_content", 200)
    assert [(item.type, item.path) for item in listing] == [("file", ".aqm/agents.yaml")]


async def test_get_content_at_a_ref_reads_that_commit(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    first = github_sim.repo("octo/demo").git.resolve("main")
    assert first is not None
    github_sim.commit("octo/demo", {"README.md": "changed\n"})
    old = check_shape(
        await github_api.rest.repos.async_get_content(OWNER, REPO, "README.md", ref=first),
        "repos.get_content",
        200,
    )
    assert base64.b64decode(old.content) == b"# demo\n"


async def test_branches_and_commits_name_the_tip(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    sha = github_sim.commit("octo/demo", {"a.txt": "a\n"}, branch="aqm/T-ABC123", message="Add a")
    branch = check_shape(
        await github_api.rest.repos.async_get_branch(OWNER, REPO, "aqm/T-ABC123"), "repos.get_branch", 200
    )
    assert (branch.name, branch.commit.sha, branch.protected) == ("aqm/T-ABC123", sha, False)
    commit = check_shape(
        await github_api.rest.repos.async_get_commit(OWNER, REPO, "aqm/T-ABC123"), "repos.get_commit", 200
    )
    assert (commit.sha, commit.commit.message, len(commit.parents)) == (sha, "Add a", 1)


async def test_get_and_create_git_refs(github_sim: GitHubSimulator, github_api: GitHub[Any]) -> None:
    main = check_shape(await github_api.rest.git.async_get_ref(OWNER, REPO, "heads/main"), "git.get_ref", 200)
    created = await github_api.rest.git.async_create_ref(
        OWNER, REPO, ref="refs/heads/feature", sha=main.object_.sha
    )
    ref = check_shape(created, "git.create_ref", 201)
    assert ref.ref == "refs/heads/feature"
    assert github_sim.repo("octo/demo").git.branches()["feature"] == main.object_.sha


async def test_git_trees_and_blobs_read_the_aqm_folder_in_two_calls(github_api: GitHub[Any]) -> None:
    tree = check_shape(
        await github_api.rest.git.async_get_tree(OWNER, REPO, "main", recursive="1"), "git.get_tree", 200
    )
    paths = {item.path: item for item in tree.tree}
    assert set(paths) == {".aqm", ".aqm/agents.yaml", "README.md"}
    blob_sha = paths[".aqm/agents.yaml"].sha
    assert blob_sha is not None
    blob = check_shape(await github_api.rest.git.async_get_blob(OWNER, REPO, blob_sha), "git.get_blob", 200)
    assert base64.b64decode(blob.content).decode() == DEMO_AGENTS_YAML


async def test_collaborator_permission_levels(github_api: GitHub[Any]) -> None:
    levels = {}
    for login in ("maintainer", "outsider", "octo"):
        response = await github_api.rest.repos.async_get_collaborator_permission_level(OWNER, REPO, login)
        levels[login] = check_shape(response, "repos.get_collaborator_permission_level", 200).permission
    assert levels == {"maintainer": "write", "outsider": "read", "octo": "admin"}


async def test_commit_statuses_are_created_and_listed(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    sha = github_sim.repo("octo/demo").git.resolve("main")
    assert sha is not None
    response = await github_api.rest.repos.async_create_commit_status(
        OWNER, REPO, sha, state="pending", context="aqm/default", description="running"
    )
    status = check_shape(response, "repos.create_commit_status", 201)
    assert status.creator is not None and status.creator.login == "aqm[bot]"
    listed = await github_api.rest.repos.async_list_commit_statuses_for_ref(OWNER, REPO, sha)
    assert [s.context for s in check_shape(listed, "repos.list_commit_statuses_for_ref", 200)] == [
        "aqm/default"
    ]


async def test_issues_are_created_read_and_labelled(github_api: GitHub[Any]) -> None:
    created = check_shape(
        await github_api.rest.issues.async_create(OWNER, REPO, title="Add rate limiting", body="please"),
        "issues.create",
        201,
    )
    got = check_shape(await github_api.rest.issues.async_get(OWNER, REPO, created.number), "issues.get", 200)
    assert (got.title, got.user and got.user.login) == ("Add rate limiting", "aqm[bot]")
    labels = await github_api.rest.issues.async_add_labels(OWNER, REPO, created.number, labels=["aqm"])
    assert [label.name for label in check_shape(labels, "issues.add_labels", 200)] == ["aqm"]


async def test_comments_are_created_listed_read_updated_and_deleted(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    number = github_sim.open_issue("octo/demo", "An issue", user="maintainer").number
    created = await github_api.rest.issues.async_create_comment(OWNER, REPO, number, body="first")
    comment = check_shape(created, "issues.create_comment", 201)
    assert created.headers["location"] == comment.url
    listed = check_shape(
        await github_api.rest.issues.async_list_comments(OWNER, REPO, number), "issues.list_comments", 200
    )
    assert [c.body for c in listed] == ["first"]
    got = check_shape(
        await github_api.rest.issues.async_get_comment(OWNER, REPO, comment.id), "issues.get_comment", 200
    )
    assert got.id == comment.id
    updated = await github_api.rest.issues.async_update_comment(OWNER, REPO, comment.id, body="edited")
    assert check_shape(updated, "issues.update_comment", 200).body == "edited"
    deleted = await github_api.rest.issues.async_delete_comment(OWNER, REPO, comment.id)
    assert deleted.status_code == 204 and deleted.content == b""


async def test_reactions_are_201_when_new_and_200_when_repeated(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    number = github_sim.open_issue("octo/demo", "An issue", user="maintainer").number
    comment = github_sim.add_comment("octo/demo", number, user="maintainer", body="/aqm run")
    first = await github_api.rest.reactions.async_create_for_issue_comment(
        OWNER, REPO, comment.id, content="eyes"
    )
    again = await github_api.rest.reactions.async_create_for_issue_comment(
        OWNER, REPO, comment.id, content="eyes"
    )
    assert (
        check_shape(first, "reactions.create_for_issue_comment", 201).id
        == check_shape(again, "reactions.create_for_issue_comment", 200).id
    )
    on_issue = await github_api.rest.reactions.async_create_for_issue(OWNER, REPO, number, content="+1")
    assert check_shape(on_issue, "reactions.create_for_issue", 201).content == "+1"


async def test_pull_requests_are_created_listed_read_and_updated(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    head = github_sim.commit("octo/demo", {"greet.py": "def greet(): ...\n"}, branch="feature")
    created = check_shape(
        await github_api.rest.pulls.async_create(OWNER, REPO, title="Greet", head="feature", base="main"),
        "pulls.create",
        201,
    )
    assert (created.head.sha, created.head.ref, created.base.ref) == (head, "feature", "main")
    assert (created.commits, created.changed_files) == (1, 1)
    listed = check_shape(await github_api.rest.pulls.async_list(OWNER, REPO), "pulls.list", 200)
    assert [p.number for p in listed] == [created.number]
    got = check_shape(await github_api.rest.pulls.async_get(OWNER, REPO, created.number), "pulls.get", 200)
    assert got.head.repo is not None and got.head.repo.full_name == "octo/demo"
    closed = await github_api.rest.pulls.async_update(OWNER, REPO, created.number, state="closed")
    assert check_shape(closed, "pulls.update", 200).state == "closed"


async def test_pull_request_files_list_the_changes(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    github_sim.commit("octo/demo", {"greet.py": "a\nb\n", "README.md": None}, branch="feature")
    number = github_sim.open_pull("octo/demo", head="feature", title="Greet", user="maintainer").number
    files = check_shape(
        await github_api.rest.pulls.async_list_files(OWNER, REPO, number), "pulls.list_files", 200
    )
    assert {(f.filename, f.status, f.additions, f.deletions) for f in files} == {
        ("greet.py", "added", 2, 0),
        ("README.md", "removed", 0, 1),
    }


async def test_reviews_are_created_with_200_and_listed(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    head = github_sim.commit("octo/demo", {"greet.py": "x\n"}, branch="feature")
    number = github_sim.open_pull("octo/demo", head="feature", title="Greet", user="maintainer").number
    created = await github_api.rest.pulls.async_create_review(
        OWNER, REPO, number, event="COMMENT", body="looks fine"
    )
    review = check_shape(created, "pulls.create_review", 200)
    assert (review.state, review.commit_id) == ("COMMENTED", head)
    github_sim.submit_review("octo/demo", number, user="outsider", event="APPROVE")
    listed = check_shape(
        await github_api.rest.pulls.async_list_reviews(OWNER, REPO, number), "pulls.list_reviews", 200
    )
    assert [r.state for r in listed] == ["COMMENTED", "APPROVED"]


async def test_check_runs_are_created_updated_read_and_listed(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    sha = github_sim.commit("octo/demo", {"greet.py": "x\n"}, branch="feature")
    github_sim.open_pull("octo/demo", head="feature", title="Greet", user="maintainer")
    created = await github_api.rest.checks.async_create(
        OWNER,
        REPO,
        name="aqm/default",
        head_sha=sha,
        status="in_progress",
        output={"title": "Running", "summary": "stage 1 of 2"},
        actions=[{"label": "Approve", "description": "Approve the gate", "identifier": "approve"}],
    )
    run = check_shape(created, "checks.create", 201)
    assert [p.number for p in run.pull_requests] == [1]
    updated = await github_api.rest.checks.async_update(
        OWNER, REPO, run.id, conclusion="success", output={"title": "Done", "summary": "all stages passed"}
    )
    done = check_shape(updated, "checks.update", 200)
    assert (done.status, done.conclusion, done.output.title) == ("completed", "success", "Done")
    got = check_shape(await github_api.rest.checks.async_get(OWNER, REPO, run.id), "checks.get", 200)
    assert got.completed_at is not None
    listed = check_shape(
        await github_api.rest.checks.async_list_for_ref(OWNER, REPO, sha), "checks.list_for_ref", 200
    )
    assert [r.id for r in listed.check_runs] == [run.id]
