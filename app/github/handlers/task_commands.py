"""Comment commands about a thread's existing tasks: approve, reject, answer, cancel, status,
restart, fix and chunks. Each names a task (else the thread's newest) and replies when there is none
or it does not wait for what the command gives.
"""

from __future__ import annotations

from typing import Any

from app import followups
from app.driver import load_state
from app.engine.events import CancelRequested, HumanAnswered, HumanDecided
from app.engine.spec import RunSpec
from app.engine.state import ENDED
from app.errors import StoreError, TaskError
from app.github import commands as grammar
from app.github import render
from app.github.gateway import GitHubGateway
from app.github.job import ENDED_NAMES, Job
from app.github.threads import Thread


async def decide_gate(job: Job, thread: Thread, gateway: GitHubGateway, command: Any) -> None:
    decision = "approved" if isinstance(command, grammar.ApproveCommand) else "rejected"
    found = await waiting(job, thread, gateway, command.task_id, "awaiting_gate", "approval")
    if found is not None:
        event = HumanDecided(decision, command.reason or "", by=thread.actor, agent_id=command.agent)
        await job.continue_task(thread, gateway, found, event)


async def answer(job: Job, thread: Thread, gateway: GitHubGateway, command: grammar.AnswerCommand) -> None:
    found = await waiting(job, thread, gateway, command.task_id, "awaiting_human_input", "an answer")
    if found is not None:
        await job.continue_task(thread, gateway, found, HumanAnswered(command.text, by=thread.actor))


async def waiting(
    job: Job, thread: Thread, gateway: GitHubGateway, task_id: str | None, status: str, what: str
) -> str | None:
    """The task a decision or answer is for, when it waits for one (as `aqm approve` and
    `aqm human-input` ask); else None, after a reply saying so — also while a fan-out task's
    gate or question waits but its other stages still run."""
    found = await job.find(thread, task_id)
    if found is not None and found[1] == status:
        return found[0].task_id
    text = f"No aqm task waits for {what} on this thread."
    if found is not None and found[1] == "in_progress":
        text = (
            f"Task {found[0].task_id} is still running stages; comment again when its card says "
            f"it waits for {what}. This comment was not used."
        )
    await job.reply(thread, gateway, render.escape_text(text))
    return None


async def cancel(job: Job, thread: Thread, gateway: GitHubGateway, task_id: str | None) -> None:
    found = await job.find(thread, task_id)
    if found is None or found[1] in {s.value for s in ENDED}:
        await job.reply(
            thread,
            gateway,
            render.escape_text("No running aqm task on this thread."),
        )
        return
    await job.continue_task(
        thread, gateway, found[0].task_id, CancelRequested(f"cancelled by @{thread.actor}")
    )


async def status(job: Job, thread: Thread, gateway: GitHubGateway, task_id: str | None) -> None:
    found = await job.find(thread, task_id)
    if found is None:
        await job.reply(
            thread,
            gateway,
            render.escape_text("No aqm task on this thread yet. Start one with `/aqm run`."),
        )
        return
    text = await job.tasks(gateway).reporting.card_text(found[0].task_id, found[0])
    await job.reply(thread, gateway, text)


async def restart(
    job: Job, thread: Thread, gateway: GitHubGateway, command: grammar.RestartCommand, comment_id: int
) -> None:
    found = await job.task_of(thread, gateway, command)
    if found is None:
        return
    link = found[0]
    try:
        got = await job.load_task(thread, gateway, link.task_id)
        if got is None:
            return
        loaded = got[1]
        tasks = job.tasks(gateway)
        await tasks.rewind(link, command.from_stage, requested_at=job.delivery.received_at)
    except (TaskError, StoreError) as problem:
        then = f"/aqm cancel {link.task_id}" if found[1] not in ENDED_NAMES else None
        reply = render.task_problem_reply(
            thread.actor, command, str(problem), then=then, then_words="To stop it, comment"
        )
        await job.reply(thread, gateway, reply)
        return
    await job.eyes(thread, gateway, comment_id)
    await tasks.run_rewound(link, loaded)  # like a new run: now, or when the thread's slot is free


async def fix(
    job: Job, thread: Thread, gateway: GitHubGateway, command: grammar.FixCommand, comment_id: int
) -> None:
    found = await job.task_of(thread, gateway, command)
    if found is None:
        return
    got = await job.load_task(thread, gateway, found[0].task_id)
    if got is None:
        return
    parent, loaded = got
    await job.eyes(thread, gateway, comment_id)
    repository = await gateway.repository(thread.owner, thread.repo)
    text = await followups.fix_description(job.services.store, parent, command.text)
    _, head_sha, clone_url = await job.task_text(thread, gateway, text, repository)
    await job.queue_task(
        thread,
        gateway,
        loaded,
        text=text,
        agent=None,
        head_sha=head_sha,
        clone_url=clone_url,
        parent=found[0],
    )


async def chunks(job: Job, thread: Thread, gateway: GitHubGateway, command: grammar.ChunksCommand) -> None:
    found = await job.task_of(thread, gateway, command)
    if found is None:
        return
    link = found[0]
    store = job.services.store
    task = await store.get_task(link.task_id)
    note = None
    if command.action == "list":
        state = await load_state(store, task)
    else:
        loaded = await job.load_for(thread, gateway, task)
        if loaded is None:
            return
        spec = RunSpec(loaded.pipeline, loaded.config)
        try:
            state = await followups.edit_chunks(store, spec, task, command.action, command.value)
        except (TaskError, StoreError) as problem:
            await job.reply(thread, gateway, render.task_problem_reply(thread.actor, command, str(problem)))
            return
        note = _chunk_note(command)
        tasks = job.tasks(gateway)
        tasks.specs[link.task_id] = spec
        await tasks.reporting.refresh_card(link, checks=False)
    await job.reply(thread, gateway, render.chunks_reply(link.task_id, state.chunks, note=note))


def _chunk_note(command: grammar.ChunksCommand) -> str:
    if command.action == "add":
        return f"Added a chunk: {command.value}"
    return f"Marked {command.value} done." if command.action == "done" else f"Removed {command.value}."
