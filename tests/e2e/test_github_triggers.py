"""Triggers, on_push, fork PRs and budgets end to end: the real app and the simulator (in process).

Each test commits its `.aqm/config.yaml` to the default branch, sends the signed deliveries a
person (or a bot) on GitHub would cause, waits for the app's queue and reads the thread as a user
would see it.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from app.playground.simulator import Deliverer, GitHubSimulator, Seeded
from tests.conftest import FakeClis
from tests.e2e.helpers import GATED_PIPELINE, seed_pipeline, settle

SLOW = """\
agents:
  - id: slow
    runtime: command
    command: ["sleep", "30"]
"""
COSTLY = """\
agents:
  - id: thinker
    runtime: claude
    handoffs: [{to: thinker}]
"""
TRIGGERS = """\
github:
  triggers:
    - {event: issues.opened, pipeline: default}
    - {event: issues.labeled, label: aqm, pipeline: default}
    - {event: pull_request.opened, pipeline: default}
"""


@pytest.fixture
def seeded(sim: GitHubSimulator) -> Seeded:
    more = {".aqm/pipelines/slow.yaml": SLOW, ".aqm/pipelines/costly.yaml": COSTLY}
    return seed_pipeline(sim, GATED_PIPELINE, more)


def configure(sim: GitHubSimulator, config: str) -> None:
    sim.commit("octo/demo", {".aqm/config.yaml": config}, message="aqm config")


def comments(sim: GitHubSimulator, number: int) -> list[str]:
    return [c.body or "" for c in sim.world.thread_comments("octo/demo", number)]


# ---- triggers ------------------------------------------------------------------------------------


async def test_an_opened_issue_runs_the_trigger_pipeline_for_anyone(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer
) -> None:
    configure(sim, TRIGGERS)
    delivery = await hooks.issue_opened("octo/demo", "Add greet()", "Please add it.", user="outsider")
    assert delivery.response_status == 202
    await settle(app)
    thread = sim.thread("octo/demo", delivery.subject_id or 0)
    assert "wrote greet.py" in thread and "Waiting for approval" in thread, thread
    assert "sorry" not in thread  # a declared trigger is the maintainers' authorisation:
    assert sim.traffic.count("repos.get_collaborator_permission_level") == 0  # nobody is asked
    task = app.state.services.store
    [record] = await task.list_tasks(limit=5)
    assert record.description == "Add greet()\n\nPlease add it."  # the title and body are the task


async def test_a_label_runs_only_when_it_is_the_triggers_label(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer
) -> None:
    configure(sim, "github:\n  triggers:\n    - {event: issues.labeled, label: aqm, pipeline: default}\n")
    issue = sim.open_issue("octo/demo", "Add greet()", "body", user="outsider")
    sim.ensure_label("octo/demo", "bug")
    sim.ensure_label("octo/demo", "aqm")
    await hooks.issue_labeled("octo/demo", issue.number, "bug", user="maintainer")
    await settle(app)
    assert comments(sim, issue.number) == []
    await hooks.issue_labeled("octo/demo", issue.number, "aqm", user="maintainer")
    await settle(app)
    assert "wrote greet.py" in sim.thread("octo/demo", issue.number)


async def test_no_triggers_or_no_aqm_folder_means_silence_and_a_broken_config_one_comment(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer
) -> None:
    quiet = await hooks.issue_opened("octo/demo", "No triggers declared", "body", user="maintainer")
    await settle(app)
    assert comments(sim, quiet.subject_id or 0) == []
    configure(sim, "github:\n  triggers:\n    - {event: issues.opend, pipeline: default}\n")
    broken = await hooks.issue_opened("octo/demo", "Broken config", "body", user="maintainer")
    await settle(app)
    [reply] = comments(sim, broken.subject_id or 0)
    assert ".aqm/config.yaml:3" in reply and "issues.opened" in reply, reply


async def test_a_bot_does_not_trigger_unless_allowlisted(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer
) -> None:
    configure(sim, TRIGGERS)
    sim.user("dependabot[bot]", type="Bot")
    sim.user("renovate[bot]", type="Bot")
    ignored = await hooks.issue_opened("octo/demo", "Bump a", "body", user="dependabot[bot]")
    await settle(app)
    assert comments(sim, ignored.subject_id or 0) == []
    configure(sim, TRIGGERS + '  allow_bots: ["renovate[bot]"]\n')
    allowed = await hooks.issue_opened("octo/demo", "Bump b", "body", user="renovate[bot]")
    await settle(app)
    assert "wrote greet.py" in sim.thread("octo/demo", allowed.subject_id or 0)


async def test_a_fork_pr_waits_for_a_maintainers_run(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer
) -> None:
    configure(sim, TRIGGERS)
    sim.fork_repo("octo/demo", "outsider")
    sim.commit("outsider/demo", {"feature.txt": "v1\n"}, branch="feature", message="feature")
    opened = await hooks.pull_request_opened(
        "octo/demo", head="outsider:feature", title="A feature", body="From a fork.", user="outsider"
    )
    await settle(app)
    number = opened.subject_id or 0
    [notice] = comments(sim, number)
    assert "comes from a fork" in notice and "`/aqm run`" in notice
    assert await app.state.services.store.list_tasks(limit=5) == []
    await hooks.comment_created("octo/demo", number, "outsider", "/aqm run")
    await settle(app)
    assert "@outsider, sorry: `/aqm run` needs write access" in sim.thread("octo/demo", number)
    await hooks.comment_created("octo/demo", number, "maintainer", "/aqm run")
    await settle(app)
    thread = sim.thread("octo/demo", number)
    assert "wrote greet.py" in thread and "Waiting for approval" in thread, thread


# ---- on_push -------------------------------------------------------------------------------------


async def paused_pull(sim: GitHubSimulator, app: FastAPI, hooks: Deliverer, config: str) -> int:
    configure(sim, config)
    sim.commit("octo/demo", {"feature.txt": "v1\n"}, branch="feature", message="feature")
    opened = await hooks.pull_request_opened(
        "octo/demo", head="feature", title="A feature", body="Adds a feature.", user="maintainer"
    )
    await settle(app)
    number = opened.subject_id or 0
    assert "Waiting for approval" in sim.thread("octo/demo", number)
    return number


async def test_a_push_cancels_the_paused_task_and_says_why(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer
) -> None:
    number = await paused_pull(sim, app, hooks, TRIGGERS)
    before = comments(sim, number)
    await hooks.pull_request_synchronize("octo/demo", number, user="maintainer")  # the same head again
    await settle(app)
    [task] = await app.state.services.store.list_tasks(limit=5)
    assert task.status == "awaiting_gate" and comments(sim, number) == before  # nothing new: no cancel
    push = await hooks.pull_request_synchronize(
        "octo/demo", number, user="maintainer", files={"feature.txt": "v2\n"}
    )
    await settle(app)
    head = push.payload["after"][:7]
    [task] = await app.state.services.store.list_tasks(limit=5)
    assert task.status == "cancelled"
    said = [c.replace("\u2060", "") for c in comments(sim, number)]  # commit ids are shown unlinked
    assert any(f"new commits were pushed to the pull request (head {head})" in c for c in said), said
    thread = sim.thread("octo/demo", number)
    assert "Cancelled" in thread and "Waiting for approval" not in thread, thread


async def test_on_push_restart_runs_the_pipeline_again_on_the_new_head(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer
) -> None:
    number = await paused_pull(sim, app, hooks, TRIGGERS + "  on_push: restart\n")
    push = await hooks.pull_request_synchronize(
        "octo/demo", number, user="maintainer", files={"feature.txt": "v2\n"}
    )
    await settle(app)
    new, old = await app.state.services.store.list_tasks(limit=5)
    assert (old.status, new.status) == ("cancelled", "awaiting_gate")
    assert new.description == old.description == "A feature\n\nAdds a feature."
    link = await app.state.services.github_store.get_link(new.id)
    assert link.head_sha == push.payload["after"]
    assert any("Starting it again on the new head." in c for c in comments(sim, number))


PARAMED = """\
params:
  target: {type: string, required: true}
agents:
  - id: writer
    runtime: claude
    system_prompt: "Aim at {{ params.target }}: {{ input }}"
    gate: {type: human}
    handoffs: [{to: done, condition: on_approve}]
  - id: done
    runtime: claude
    system_prompt: "Done at {{ params.target }}"
"""


async def paramed_pull(sim: GitHubSimulator, app: FastAPI, hooks: Deliverer, config: str) -> int:
    """A PR whose `/aqm run --param target=moon` waits at the writer's gate."""
    configure(sim, config)
    sim.commit("octo/demo", {".aqm/pipelines/paramed.yaml": PARAMED}, message="paramed pipeline")
    sim.commit("octo/demo", {"feature.txt": "v1\n"}, branch="feature", message="feature")
    opened = await hooks.pull_request_opened(
        "octo/demo", head="feature", title="A feature", body="", user="maintainer"
    )
    number = opened.subject_id or 0
    run = "/aqm run --pipeline paramed --param target=moon aim"
    await hooks.comment_created("octo/demo", number, "maintainer", run)
    await settle(app)
    assert "[claude] Aim at moon: aim" in sim.thread("octo/demo", number)
    return number


async def test_on_push_restart_keeps_the_params_the_task_ran_with(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer, fake_clis: FakeClis
) -> None:
    number = await paramed_pull(sim, app, hooks, "github:\n  on_push: restart\n")
    await hooks.pull_request_synchronize(
        "octo/demo", number, user="maintainer", files={"feature.txt": "v2\n"}
    )
    await settle(app)
    new, old = await app.state.services.store.list_tasks(limit=5)
    assert (old.status, new.status) == ("cancelled", "awaiting_gate"), sim.thread("octo/demo", number)
    assert (new.pipeline, new.description, new.state["params"]) == ("paramed", "aim", {"target": "moon"})
    first, again = fake_clis.calls("claude")
    assert first["stdin_sha256"] == again["stdin_sha256"]  # the same prompt: "Aim at moon: aim"
    assert "not set" not in sim.thread("octo/demo", number)  # the cancel found its params too


async def test_an_approval_goes_on_with_the_params_the_task_started_with(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer, fake_clis: FakeClis
) -> None:
    number = await paramed_pull(sim, app, hooks, "github: {}\n")
    await hooks.comment_created("octo/demo", number, "maintainer", "/approve")
    await settle(app)
    thread = sim.thread("octo/demo", number)
    assert "[claude] Done at moon" in thread, thread
    [task] = await app.state.services.store.list_tasks(limit=5)
    assert task.status == "completed"


async def test_a_pipeline_changed_to_put_comment_params_into_a_command_stops_the_task(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer, fake_clis: FakeClis
) -> None:
    number = await paramed_pull(sim, app, hooks, "github: {}\n")
    risky = PARAMED.replace('system_prompt: "Done at {{ params.target }}"', 'model: "${{ params.target }}"')
    sim.commit("octo/demo", {".aqm/pipelines/paramed.yaml": risky}, message="model from a param")
    await hooks.comment_created("octo/demo", number, "maintainer", "/approve")
    await settle(app)
    said = comments(sim, number)[-1]
    assert "now puts params into `model`" in said and "started with params from a comment" in said, said
    [task] = await app.state.services.store.list_tasks(limit=5)
    assert task.status == "awaiting_gate"  # nothing ran with the comment's text as a model name


async def test_on_push_ignore_leaves_the_task_waiting(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer
) -> None:
    number = await paused_pull(sim, app, hooks, TRIGGERS + "  on_push: ignore\n")
    before = comments(sim, number)
    await hooks.pull_request_synchronize(
        "octo/demo", number, user="maintainer", files={"feature.txt": "v2\n"}
    )
    await settle(app)
    [task] = await app.state.services.store.list_tasks(limit=5)
    assert task.status == "awaiting_gate" and comments(sim, number) == before


# ---- budgets -------------------------------------------------------------------------------------


async def test_the_time_budget_stops_a_running_stage(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer
) -> None:
    configure(sim, "github:\n  budget: {max_minutes: 0.02}\n")
    issue = sim.open_issue("octo/demo", "Take your time", "body", user="maintainer")
    await hooks.comment_created("octo/demo", issue.number, "maintainer", "/aqm run --pipeline slow")
    await settle(app)
    [task] = await app.state.services.store.list_tasks(limit=5)
    assert task.status == "failed"
    assert task.error is not None and task.error.endswith("s: budget max_minutes 0.02"), task.error
    [stage] = await app.state.services.store.list_stages(task.id, texts=False)
    assert stage.status == "cancelled" and stage.finished_at is not None
    assert stage.started_at is not None and (stage.finished_at - stage.started_at).total_seconds() < 10
    thread = sim.thread("octo/demo", issue.number)
    assert "budget max_minutes 0.02" in thread and "**Budget**" in thread, thread


async def test_the_cost_budget_stops_the_task_with_the_figures(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer, fake_clis: FakeClis
) -> None:
    fake_clis.script(default={"text": "thinking", "usage": {"cost_usd": 0.3}})
    configure(sim, "github:\n  budget: {max_cost_usd: 0.5}\n")
    issue = sim.open_issue("octo/demo", "Think hard", "body", user="maintainer")
    await hooks.comment_created("octo/demo", issue.number, "maintainer", "/aqm run --pipeline costly")
    await settle(app)
    [task] = await app.state.services.store.list_tasks(limit=5)
    assert (task.status, task.error) == ("failed", "stopped after $0.60 spent: budget max_cost_usd 0.5")
    assert len(fake_clis.calls("claude")) == 2
    assert "stopped after $0.60 spent: budget max_cost_usd 0.5" in sim.thread("octo/demo", issue.number)


async def test_a_synchronize_trigger_runs_on_the_new_head_after_the_old_task_is_cancelled(
    sim: GitHubSimulator, app: FastAPI, hooks: Deliverer
) -> None:
    config = TRIGGERS + "    - {event: pull_request.synchronize, pipeline: default}\n"
    number = await paused_pull(sim, app, hooks, config)
    push = await hooks.pull_request_synchronize(
        "octo/demo", number, user="outsider", files={"feature.txt": "v2\n"}
    )
    await settle(app)
    new, old = await app.state.services.store.list_tasks(limit=5)
    assert (old.status, new.status) == ("cancelled", "awaiting_gate")
    assert (await app.state.services.github_store.get_link(new.id)).head_sha == push.payload["after"]
