"""Agent instruction files in a PR's workspace come from the default branch, read in one listing.

A pull request changes `CLAUDE.md` and adds `GEMINI.md`; the agents must see the default branch's
`CLAUDE.md` and `AGENTS.md` and no `GEMINI.md`. The app learns which files exist from one listing
of the repository's root: no read of a file that is not there.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from app.playground.simulator import GitHubSimulator, Seeded
from tests.e2e.helpers import deliverer, settle

PIPELINE = """\
agents:
  - id: look
    runtime: command
    command: ["sh", "-c", "cat CLAUDE.md AGENTS.md; test -e GEMINI.md && echo gemini-present || echo gemini-absent"]
"""


@pytest.fixture
def seeded(sim: GitHubSimulator) -> Seeded:
    return sim.seed_standard(
        files={
            "README.md": "# demo\n",
            "CLAUDE.md": "default-claude-rules\n",
            "AGENTS.md": "default-agents-rules\n",
            ".aqm/agents.yaml": PIPELINE,
        }
    )


async def test_a_pull_requests_instruction_files_are_replaced_by_the_default_branchs(
    sim: GitHubSimulator, app: FastAPI
) -> None:
    sim.commit(
        "octo/demo",
        {"CLAUDE.md": "pr-claude-rules\n", "GEMINI.md": "pr-gemini-rules\n", "feature.txt": "v1\n"},
        branch="feature",
        message="feature",
    )
    pull = sim.open_pull("octo/demo", head="feature", title="A feature", user="outsider")
    hooks = deliverer(sim, app)
    await hooks.comment_created("octo/demo", pull.number, "maintainer", "/aqm run")
    await settle(app)
    thread = sim.thread("octo/demo", pull.number)
    assert "default-claude-rules" in thread and "default-agents-rules" in thread, thread
    assert "gemini-absent" in thread and "pr-claude-rules" not in thread, thread
    reads = [c for c in sim.traffic.log if c.operation == "repos.get_content"]
    assert [c.status for c in reads if c.status != 200] == []  # no read of an absent file
    root = [c for c in reads if c.path.rstrip("/").endswith("/contents")]
    assert len(root) == 1  # the root is listed once
