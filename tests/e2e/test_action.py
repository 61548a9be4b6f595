"""The Action end to end: `python -m action` as the composite step runs it, one process per workflow
run (a fresh workspace, HOME and temp folder each), against the simulator on a real port.

The runner's variables are real (`GITHUB_EVENT_PATH`, `GITHUB_EVENT_NAME`, `GITHUB_REPOSITORY`,
`GITHUB_API_URL`, `GITHUB_WORKSPACE`, `RUNNER_TEMP`, `GITHUB_OUTPUT`); the token is an installation
token, as Actions' `GITHUB_TOKEN` is. Task state lives on GitHub between the runs
(`refs/aqm/threads/<n>`, action/state.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.playground.simulator import GitHubSimulator, Seeded
from app.playground.simulator.auth import mint_installation_token
from app.playground.simulator.deliverer import Delivery
from tests.e2e.helpers import GATED_PIPELINE, REPO, seed_pipeline
from tests.e2e.shells import DAY_S, Runner, action_token


@pytest.fixture
def seeded(sim: GitHubSimulator) -> Seeded:
    return seed_pipeline(sim, GATED_PIPELINE)


@pytest.fixture
def runner(sim: GitHubSimulator, seeded: Seeded, tmp_path: Path) -> Iterator[Runner]:
    with sim.serve() as url:
        yield Runner(sim, url, action_token(sim, seeded), tmp_path)


async def comment(sim: GitHubSimulator, number: int, user: str, body: str) -> Delivery:
    return await sim.deliverer().comment_created(REPO, number, user, body)


def writer_comments(sim: GitHubSimulator, number: int) -> int:
    """How many of the thread's comments show the first stage's output (once per run of it)."""
    return sum(
        1 for c in sim.world.comments.values() if c.issue_number == number and "wrote greet.py" in c.body
    )


async def test_a_run_pauses_at_the_gate_and_an_approve_in_a_later_run_finishes_it(
    sim: GitHubSimulator, runner: Runner
) -> None:
    issue = sim.open_issue(REPO, "Add greet()", "Please add a greet function.", user="maintainer")
    first = runner.run(await comment(sim, issue.number, "maintainer", "/aqm run"))
    assert first.returncode == 0, first.stderr
    thread = sim.thread(REPO, issue.number)
    assert "Waiting for approval" in thread and "wrote greet.py" in thread, thread
    paused = runner.outputs()
    assert paused["status"] == "awaiting_gate" and paused["task-id"].startswith("T-")
    assert paused["pr-url"].endswith("/pull/2")  # the agents' change was pushed before the pause
    assert sim.repo(REPO).git.ref_sha(f"refs/aqm/threads/{issue.number}") is not None

    second = runner.run(await comment(sim, issue.number, "maintainer", "/approve looks good"))
    assert second.returncode == 0, second.stderr
    thread = sim.thread(REPO, issue.number)
    assert "shipped" in thread and "Completed" in thread, thread
    assert runner.outputs() == {**paused, "status": "completed"}
    assert writer_comments(sim, issue.number) == 1  # earlier stages were not run again


async def test_an_approving_review_in_a_later_run_resumes_the_paused_task(
    sim: GitHubSimulator, runner: Runner
) -> None:
    sim.commit(REPO, {"feature.txt": "v1\n"}, branch="feature", message="feature")
    pull = sim.open_pull(REPO, head="feature", title="A feature", body="Adds a feature.", user="outsider")
    assert runner.run(await comment(sim, pull.number, "maintainer", "/aqm run review it")).returncode == 0
    assert "Waiting for approval" in sim.thread(REPO, pull.number)
    review = await sim.deliverer().review_submitted(REPO, pull.number, user="maintainer", state="approved")
    resumed = runner.run(review)
    assert resumed.returncode == 0, resumed.stderr
    thread = sim.thread(REPO, pull.number)
    assert "shipped" in thread and "Completed" in thread, thread
    assert writer_comments(sim, pull.number) == 1


async def test_state_written_by_someone_else_is_refused(sim: GitHubSimulator, runner: Runner) -> None:
    issue = sim.open_issue(REPO, "Add greet()", "", user="maintainer")
    assert runner.run(await comment(sim, issue.number, "maintainer", "/aqm run")).returncode == 0
    git = sim.repo(REPO).git
    ref = f"refs/aqm/threads/{issue.number}"
    # a maintainer (or anyone who can push) points the ref at a commit of their own, with aqm's message
    saved = git.commit(git.ref_sha(ref) or "")
    forged = git.git("commit-tree", saved.tree, "-m", saved.message).decode().strip()
    git.update_ref(ref, forged)
    refused = runner.run(await comment(sim, issue.number, "maintainer", "/approve"))
    assert refused.returncode == 1
    assert f"refs/aqm/threads/{issue.number}" in refused.stderr and "did not write" in refused.stderr
    assert "shipped" not in sim.thread(REPO, issue.number)


async def test_a_fork_runs_read_only_token_cannot_move_the_state(
    sim: GitHubSimulator, seeded: Seeded, runner: Runner
) -> None:
    issue = sim.open_issue(REPO, "Add greet()", "", user="maintainer")
    assert runner.run(await comment(sim, issue.number, "maintainer", "/aqm run")).returncode == 0
    ref = f"refs/aqm/threads/{issue.number}"
    before = sim.repo(REPO).git.ref_sha(ref)
    read_only = mint_installation_token(
        sim.world, seeded.installation, lifetime_s=DAY_S, repositories={"octo/elsewhere"}
    ).value
    attempt = runner.run(await comment(sim, issue.number, "maintainer", "/approve"), token=read_only)
    assert attempt.returncode == 1
    assert sim.repo(REPO).git.ref_sha(ref) == before
    assert "shipped" not in sim.thread(REPO, issue.number)


async def test_a_comment_from_a_user_without_write_access_gets_one_refusal(
    sim: GitHubSimulator, runner: Runner
) -> None:
    issue = sim.open_issue(REPO, "Add greet()", "", user="outsider")
    before = len(sim.world.comments)
    result = runner.run(await comment(sim, issue.number, "outsider", "/aqm run"))
    assert result.returncode == 0, result.stderr
    replies = [c for c in list(sim.world.comments.values())[before + 1 :]]
    assert len(replies) == 1 and "write access" in replies[0].body
    assert sim.repo(REPO).git.ref_sha(f"refs/aqm/threads/{issue.number}") is None  # no task, no state


async def test_a_missing_github_token_is_a_clear_error(sim: GitHubSimulator, runner: Runner) -> None:
    issue = sim.open_issue(REPO, "Add greet()", "", user="maintainer")
    result = runner.run(await comment(sim, issue.number, "maintainer", "/aqm run"), token="")
    assert result.returncode == 2
    assert "`github-token` input is empty" in result.stderr
    assert "Waiting" not in sim.thread(REPO, issue.number)


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("AQM_ACTION_TRIGGER", "/bot", "`trigger` input is '/bot'"),
        ("AQM_ACTION_MAX_COST_USD", "lots", "`max-cost-usd` input is 'lots'"),
        ("AQM_ACTION_MAX_COST_USD", "0", "`max-cost-usd` input is '0'"),
    ],
    ids=["another trigger word", "a cost that is no number", "a cost of nothing"],
)
async def test_an_unusable_input_is_refused_before_anything_is_done(
    sim: GitHubSimulator, runner: Runner, name: str, value: str, said: str
) -> None:
    issue = sim.open_issue(REPO, "Add greet()", "", user="maintainer")
    before = len(sim.world.comments)
    result = runner.run(await comment(sim, issue.number, "maintainer", "/aqm run"), **{name: value})
    assert result.returncode == 2 and said in result.stderr
    assert len(sim.world.comments) == before + 1  # the maintainer's comment, nothing from aqm


OTHER_PIPELINE = """\
agents:
  - id: other
    runtime: command
    command: ["echo", "the other pipeline ran"]
"""


async def test_the_pipeline_input_is_what_aqm_run_starts_when_the_comment_names_none(
    sim: GitHubSimulator, runner: Runner
) -> None:
    sim.commit(REPO, {".aqm/pipelines/other.yaml": OTHER_PIPELINE}, branch="main", message="another pipeline")
    issue = sim.open_issue(REPO, "Say something", "", user="maintainer")
    result = runner.run(
        await comment(sim, issue.number, "maintainer", "/aqm run"), AQM_ACTION_PIPELINE="other"
    )
    assert result.returncode == 0, result.stderr
    thread = sim.thread(REPO, issue.number)
    assert "the other pipeline ran" in thread and "Completed" in thread, thread
    assert runner.outputs()["status"] == "completed"


async def test_state_a_person_wrote_through_the_api_is_refused(sim: GitHubSimulator, runner: Runner) -> None:
    """A maintainer's own token can make a signed commit with aqm's message: its author is no bot."""
    issue = sim.open_issue(REPO, "Add greet()", "", user="maintainer")
    assert runner.run(await comment(sim, issue.number, "maintainer", "/aqm run")).returncode == 0
    sim.add_token("ghp_maintainer", login="maintainer")
    git = sim.repo(REPO).git
    ref = f"refs/aqm/threads/{issue.number}"
    saved = git.commit(git.ref_sha(ref) or "")
    api = f"{runner.url.rstrip('/')}/repos/{REPO}/git"
    headers = {"Authorization": "Bearer ghp_maintainer"}
    async with httpx.AsyncClient(headers=headers) as client:
        made = await client.post(
            f"{api}/commits", json={"message": saved.message, "tree": saved.tree, "parents": [saved.sha]}
        )
        assert made.status_code == 201 and made.json()["verification"]["verified"]
        moved = await client.patch(f"{api}/refs/aqm/threads/{issue.number}", json={"sha": made.json()["sha"]})
        assert moved.status_code == 200
    refused = runner.run(await comment(sim, issue.number, "maintainer", "/approve"))
    assert refused.returncode == 1
    assert "by 'maintainer'" in refused.stderr and "did not write" in refused.stderr
    assert "shipped" not in sim.thread(REPO, issue.number)


async def test_a_github_failure_part_way_keeps_the_task_for_the_next_run(
    sim: GitHubSimulator, runner: Runner
) -> None:
    """GitHub refuses the task's PR at the pause: the step fails saying so, and what the task did is
    saved all the same, so the next run's /approve goes on from the gate."""
    issue = sim.open_issue(REPO, "Add greet()", "", user="maintainer")
    sim.traffic.fail_next(1, status=403, operation="pulls.create")
    failed = runner.run(await comment(sim, issue.number, "maintainer", "/aqm run"))
    assert failed.returncode == 1 and "open pull request" in failed.stderr
    assert sim.repo(REPO).git.ref_sha(f"refs/aqm/threads/{issue.number}") is not None
    resumed = runner.run(await comment(sim, issue.number, "maintainer", "/approve"))
    assert resumed.returncode == 0, resumed.stderr
    thread = sim.thread(REPO, issue.number)
    assert "shipped" in thread and "Completed" in thread, thread
    assert thread.count("wrote greet.py") == 1


async def test_a_paused_tasks_check_run_offers_no_buttons_no_run_would_take(
    sim: GitHubSimulator, runner: Runner
) -> None:
    """On the App, Approve / Reject on the check run come back as check_run events; a workflow run
    has ended by then, so the Action's check runs show none (the card says /approve instead)."""
    sim.commit(REPO, {"feature.txt": "v1\n"}, branch="feature", message="feature")
    pull = sim.open_pull(REPO, head="feature", title="A feature", body="", user="outsider")
    assert runner.run(await comment(sim, pull.number, "maintainer", "/aqm run")).returncode == 0
    [check] = list(sim.world.check_runs.values())
    assert check.status == "in_progress" and check.actions == []
    assert "/approve T-" in sim.thread(REPO, pull.number)
