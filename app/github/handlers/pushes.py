"""New commits on a PR (`pull_request.synchronize`): `github.on_push` cancels, restarts or leaves
the tasks running or paused on it.
"""

from __future__ import annotations

from app.engine.events import CancelRequested
from app.engine.state import ENDED, TaskState
from app.github import render, triggers
from app.github.gateway import GitHubGateway
from app.github.job import Job
from app.github.threads import Thread
from app.spec.models import GitHubSettings


async def on_push(
    job: Job,
    thread: Thread,
    gateway: GitHubGateway,
    settings: GitHubSettings,
    facts: triggers.EventFacts,
    files: dict[str, str],
) -> tuple[str, bool]:
    """New commits on a PR: cancel (or restart, or leave) the tasks running or paused on it.

    A push of the app's own (the head is what it pushed for the task) changes nothing.
    Returns the outcome and whether a task was started again.
    """
    ended = {s.value for s in ENDED}
    links = await job.services.github_store.thread_tasks(thread.full_name, thread.number)
    active = [link for link, status in links if status not in ended and link.is_pull]
    if settings.on_push == "ignore" or not active:
        return "ignored", False
    sha = facts.head_sha or ""
    restarted = False
    outcome = "ignored"
    for link in active:
        if sha in (link.head_sha, link.gate_sha):
            continue  # the head the task runs on, or the app's own push for it
        reason = f"new commits were pushed to the pull request (head {sha[:7]})"
        await job.continue_task(thread, gateway, link.task_id, CancelRequested(f"cancelled: {reason}"))
        again = settings.on_push == "restart"
        message = f"Task {link.task_id} was cancelled: {reason}." + (
            " Starting it again on the new head." if again else ""
        )
        await job.reply(thread, gateway, render.escape_text(message))
        outcome = "done"
        if again:
            task = await job.services.store.get_task(link.task_id)
            state = TaskState.from_core(task.state)
            repository = await gateway.repository(thread.owner, thread.repo)
            await job.start_triggered(
                thread,
                gateway,
                repository,
                files,
                task.pipeline,
                state.entry_agent,
                text=task.description,
                again=task,
            )
            restarted = True
    return outcome, restarted
