"""PR reviews (`pull_request_review.submitted`): approve or reject the waiting human gate, when
given for the PR head the task paused at.
"""

from __future__ import annotations

from app.engine.events import HumanDecided
from app.github import events, render
from app.github.job import WRITE, Job
from app.github.threads import Thread


async def on_review(job: Job, event: events.ReviewEvent) -> str:
    review = event.review
    state = review.state.lower()
    if state not in ("approved", "changes_requested"):
        return "ignored"
    thread = job.thread(event)
    gateway = job.gateway(thread)
    links = await job.services.github_store.tasks_of_pull(thread.full_name, thread.number)
    waiting = [link for link, status in links if status == "awaiting_gate"]
    if not waiting:
        return "ignored"
    if await gateway.permission(thread.owner, thread.repo, thread.actor) not in WRITE:
        await job.reply(thread, gateway, render.refusal(thread.actor, "review"))
        return "done"
    link = waiting[0]
    # The review binds to the state the task paused at: on the task's own PR, its head after the
    # push before the pause; on the thread's PR, the head the task ran on.
    expected = link.gate_sha if link.pr_number == thread.number else link.head_sha
    if len(waiting) > 1 or review.commit_id != expected:
        await job.reply(
            thread,
            gateway,
            render.stale_review_reply(link.task_id, reviewed_sha=review.commit_id, gate_sha=expected or ""),
        )
        return "done"
    decision = "approved" if state == "approved" else "rejected"
    decided = HumanDecided(decision, review.body or "", by=thread.actor)
    # the task's own thread: a review on the task's PR continues the task of the issue it came from
    own = Thread(thread.owner, thread.repo, link.number, link.is_pull, thread.installation_id, thread.actor)
    await job.continue_task(own, gateway, link.task_id, decided)
    return "done"
