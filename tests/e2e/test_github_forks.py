"""A fork's pull request publishes to the base repository.

The app's installation token cannot push to a contributor's fork (GitHub answers 403; the
simulator's forks refuse every push but their owner's). So the task checks out the fork's head
from the base repository (`refs/pull/N/head`), pushes the agents' commit to `aqm/<task-id>` there,
opens a PR from it against the fork PR's base branch, and links it from the fork PR's thread.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from app.playground.simulator import GitHubSimulator, Seeded
from tests.e2e.helpers import GATED_PIPELINE, deliverer, seed_pipeline, settle


@pytest.fixture
def seeded(sim: GitHubSimulator) -> Seeded:
    return seed_pipeline(sim, GATED_PIPELINE)


async def test_a_fork_prs_task_pushes_to_the_base_repository_and_links_its_pr(
    sim: GitHubSimulator, app: FastAPI
) -> None:
    sim.fork_repo("octo/demo", "outsider")
    fork_files = {
        "feature.txt": "from the fork\n",
        "CLAUDE.md": "fork rules\n",
        ".claude/settings.json": "{}\n",
    }
    sim.commit("outsider/demo", fork_files, branch="feature", message="feature")
    fork_pull = sim.open_pull("octo/demo", head="outsider:feature", title="A feature", user="outsider")
    hooks = deliverer(sim, app)
    await hooks.comment_created("octo/demo", fork_pull.number, "maintainer", "/aqm run")
    await settle(app)
    base = sim.repo("octo/demo").git
    [branch] = [b for b in base.branches() if b.startswith("aqm/T-")]
    assert base.read_file(branch, "feature.txt") == b"from the fork\n"  # on top of the fork's head
    assert base.read_file(branch, "greet.py") == b"def greet(name):\n"
    # the stages saw the default branch's instruction files; the PR keeps the fork's own
    assert base.read_file(branch, "CLAUDE.md") == b"fork rules\n"
    assert base.read_file(branch, ".claude/settings.json") == b"{}\n"
    assert not [b for b in sim.repo("outsider/demo").git.branches() if b.startswith("aqm/")]
    [pull] = [i for i in sim.world.issues.values() if i.pull and i.pull.head_ref == branch]
    assert pull.repo == "octo/demo" and pull.pull is not None
    assert (pull.pull.head_repo, pull.pull.base_ref) == ("octo/demo", "main")
    thread = sim.thread("octo/demo", fork_pull.number)
    task_id = branch.removeprefix("aqm/")
    assert base.commit(base.resolve(branch) or "").message == f"aqm {task_id}: A feature"
    link = f"the changes of `{task_id}` are on `{branch}` in this repository, in #{pull.number}"
    assert link in thread and "Waiting for approval" in thread, thread
    await hooks.comment_created("octo/demo", fork_pull.number, "maintainer", "/approve")
    await settle(app)
    assert "shipped" in sim.thread("octo/demo", fork_pull.number)
    assert sim.thread("octo/demo", fork_pull.number).count("which aqm cannot push to") == 1
