"""Repositories are real git repositories: clone them, push to them, fork them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from githubkit import GitHub

from app.playground.simulator import DEMO_AGENTS_YAML, GitHubSimulator
from app.spec.loader import load_pipeline

OWNER, REPO = "octo", "demo"


def git(workdir: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=workdir, check=True, capture_output=True, text=True
    ).stdout.strip()


async def test_the_clone_url_clones_the_seeded_files(
    github_sim: GitHubSimulator, github_api: GitHub[Any], tmp_path: Path
) -> None:
    clone_url = (await github_api.rest.repos.async_get(OWNER, REPO)).parsed_data.clone_url
    subprocess.run(["git", "clone", "--quiet", clone_url, str(tmp_path / "wc")], check=True)
    assert (tmp_path / "wc" / ".aqm" / "agents.yaml").read_text() == DEMO_AGENTS_YAML


async def test_a_push_from_a_working_copy_moves_the_pull_requests_head(
    github_sim: GitHubSimulator, github_api: GitHub[Any], tmp_path: Path
) -> None:
    github_sim.commit("octo/demo", {"a.txt": "a\n"}, branch="feature")
    number = github_sim.open_pull("octo/demo", head="feature", title="A", user="maintainer").number
    work = github_sim.clone("octo/demo", tmp_path / "wc", branch="feature")
    (work / "a.txt").write_text("changed\n")
    git(work, "commit", "--quiet", "-am", "Change a")
    pushed = github_sim.push(work, "feature")
    pull = (await github_api.rest.pulls.async_get(OWNER, REPO, number)).parsed_data
    assert pull.head.sha == pushed
    assert pull.commits == 2
    assert github_sim.repo("octo/demo").git.ref_sha(f"refs/pull/{number}/head") == pushed


async def test_a_pull_request_from_a_fork_has_a_different_head_repository(
    github_sim: GitHubSimulator, github_api: GitHub[Any]
) -> None:
    github_sim.fork_repo("octo/demo", "contributor")
    head = github_sim.commit("contributor/demo", {"evil.sh": "echo hi\n"}, branch="patch")
    number = github_sim.open_pull(
        "octo/demo", head="contributor:patch", title="Patch", user="contributor"
    ).number
    pull = (await github_api.rest.pulls.async_get(OWNER, REPO, number)).parsed_data
    assert pull.head.repo and pull.base.repo
    assert (pull.head.repo.full_name, pull.head.repo.fork, pull.base.repo.full_name) == (
        "contributor/demo",
        True,
        "octo/demo",
    )
    assert (pull.head.label, pull.head.sha) == ("contributor:patch", head)
    fork = (await github_api.rest.repos.async_get("contributor", "demo")).parsed_data
    assert fork.parent and fork.parent.full_name == "octo/demo"
    # the base repository holds the PR's head commit, as GitHub's refs/pull/N/head
    assert github_sim.repo("octo/demo").git.ref_sha(f"refs/pull/{number}/head") == head


async def test_a_branch_can_be_pushed_by_git_and_opened_as_a_pull_request(
    github_sim: GitHubSimulator, github_api: GitHub[Any], tmp_path: Path
) -> None:
    work = github_sim.clone("octo/demo", tmp_path / "wc")
    git(work, "checkout", "--quiet", "-b", "aqm/T-ABC123")
    (work / "greet.py").write_text("def greet(): ...\n")
    git(work, "add", ".")
    git(work, "commit", "--quiet", "-m", "Add greet")
    sha = github_sim.push(work, "aqm/T-ABC123")
    created = await github_api.rest.pulls.async_create(
        OWNER, REPO, head="aqm/T-ABC123", base="main", title="T-ABC123"
    )
    assert created.parsed_data.head.sha == sha
    assert created.parsed_data.user and created.parsed_data.user.login == "aqm[bot]"


def test_the_demo_pipeline_is_a_valid_aqm_pipeline() -> None:
    class Files:
        def read_text(self, path: str) -> str:
            if path != "agents.yaml":
                raise FileNotFoundError(path)
            return DEMO_AGENTS_YAML

    assert [agent.id for agent in load_pipeline(Files(), "agents.yaml").agents]


def test_a_fork_refuses_a_push_that_is_not_its_owners(github_sim: GitHubSimulator, tmp_path: Path) -> None:
    """GitHub refuses the base repository's installation token on a contributor's fork (403)."""
    github_sim.fork_repo("octo/demo", "contributor")
    work = github_sim.clone("contributor/demo", tmp_path / "wc")
    (work / "a.txt").write_text("a\n")
    git(work, "add", ".")
    git(work, "commit", "--quiet", "-m", "A")
    app_push = subprocess.run(
        ["git", "push", "--quiet", "origin", "HEAD:refs/heads/aqm/T-ABC123"],
        cwd=work,
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"},
    )
    assert app_push.returncode != 0 and "Permission to contributor/demo.git denied" in app_push.stderr
    assert github_sim.push(work, "mine") == github_sim.repo("contributor/demo").git.resolve("mine")
