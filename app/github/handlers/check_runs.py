"""Check-run buttons (`check_run.requested_action`): Approve / Reject on a task waiting at a gate."""

from __future__ import annotations

from app.driver import load_state
from app.engine.events import HumanDecided
from app.engine.state import TaskStatus
from app.github import events, render
from app.github.job import WRITE, Job
from app.github.threads import Thread


async def on_check_run_action(job: Job, event: events.CheckRunActionEvent) -> str:
    """Approve / Reject on the check run of a task waiting at a human gate
    (https://docs.github.com/rest/guides/using-the-rest-api-to-interact-with-checks#check-runs-and-requested-actions)."""
    action = event.requested_action
    identifier = None if action is None else action.identifier
    if identifier not in ("approve", "reject"):
        return "ignored"
    owner, repo = event.repository.full_name.split("/", 1)
    link = await job.services.github_store.task_of_check_run(event.repository.full_name, event.check_run.id)
    if link is None:
        return "ignored"
    thread = Thread(owner, repo, link.number, link.is_pull, event.installation_id, event.sender.login)
    gateway = job.gateway(thread)
    verb = "Approve" if identifier == "approve" else "Reject"
    if await gateway.permission(owner, repo, thread.actor) not in WRITE:
        await job.reply(thread, gateway, render.refusal(thread.actor, f"{verb} (check run)"))
        return "done"
    task = await job.services.store.get_task(link.task_id)
    state = await load_state(job.services.store, task)
    gates = [gate for _, gate in render.waiting_gates(state)]
    if state.status != TaskStatus.AWAITING_GATE or len(gates) != 1:
        await job.reply(thread, gateway, render.waiting_gates_reply(link.task_id, gates))
        return "done"
    decision = "approved" if identifier == "approve" else "rejected"
    reason = f"{decision} by @{thread.actor} via the check run"
    event_ = HumanDecided(decision, reason, by=thread.actor, agent_id=gates[0].agent_id)
    await job.continue_task(thread, gateway, link.task_id, event_)
    return "done"
