"""Comments (`issue_comment` created or edited): the command lines of app/github/commands.py.

Every command but `/aqm help` and `/aqm status` needs write access, asked of GitHub (cached for a
minute). An edit counts only the command lines it adds. A comment runs at most its first
MAX_COMMANDS_PER_COMMENT commands; each one performed is logged as a step of the delivery (with
what it replied), so a retry performs and says nothing twice.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

from app.github import commands as grammar
from app.github import events, render
from app.github.config import (
    ConfigProblem,
    load_from_default_branch,
)
from app.github.gateway import GitHubGateway
from app.github.handlers.task_commands import answer, cancel, chunks, decide_gate, fix, restart, status
from app.github.job import WRITE, Job
from app.github.replies import MAX_COMMANDS_PER_COMMENT
from app.github.threads import Thread


async def on_comment(job: Job, event: events.CommentEvent) -> str:
    comment = event.comment
    previous = None
    if job.delivery.action == "edited":
        if event.changes is None or event.changes.body is None:
            return "ignored"  # something else was edited: every line is as it was
        previous = event.changes.body.from_
    parsed = grammar.parse_comment(comment.body or "", previous=previous)
    if not parsed:
        return "ignored"
    thread = job.thread(event)
    gateway = job.gateway(thread)
    job.answer_to = (thread, gateway)
    job.replies.login = thread.actor
    performed = await sort_commands(job, thread, gateway, parsed)
    done = await job.services.github_store.delivery_steps(job.delivery.id)
    for step, command in enumerate(performed):
        job.step = step
        perform = functools.partial(on_command, job, thread, gateway, command, comment.id)
        await perform_once(job, f"command:{step}", done, perform)
    return "done"


async def sort_commands(
    job: Job, thread: Thread, gateway: GitHubGateway, parsed: list[grammar.CommentCommand]
) -> list[grammar.CommentCommand]:
    """The commands to perform, at most MAX_COMMANDS_PER_COMMENT; the others (refused, help,
    unknown, unreadable, past the cap) go to the one reply."""
    writer = True
    if any(grammar.needs_write(command) for command in parsed):
        writer = await gateway.permission(thread.owner, thread.repo, thread.actor) in WRITE
    performed: list[grammar.CommentCommand] = []
    for command in parsed:
        if isinstance(command, grammar.HelpCommand | grammar.Unknown):
            job.replies.ask_help(command if isinstance(command, grammar.Unknown) else None)
        elif isinstance(command, grammar.Invalid):
            job.replies.misread(command)
        elif not writer and grammar.needs_write(command):
            job.replies.refuse(command)
        else:
            performed.append(command)
    job.replies.ignored = max(len(performed) - MAX_COMMANDS_PER_COMMENT, 0)
    return performed[:MAX_COMMANDS_PER_COMMENT]


async def perform_once(
    job: Job, step: str, done: dict[str, str | None], action: Callable[[], Awaitable[None]]
) -> None:
    """Run `action` unless a former attempt of this delivery did; what it replied is logged with
    the step, so a retry's one reply still says it."""
    if step in done:
        job.replies.parts.extend(json.loads(done[step] or "[]"))
        return
    before = len(job.replies.parts)
    await action()
    said = json.dumps(job.replies.parts[before:])
    await job.services.github_store.record_step(job.delivery.id, step, said)


async def on_command(job: Job, thread: Thread, gateway: GitHubGateway, command: Any, comment_id: int) -> None:
    if isinstance(command, grammar.RunCommand):
        await job.eyes(thread, gateway, comment_id)
        await start_run(job, thread, gateway, command)
    elif isinstance(command, grammar.ApproveCommand | grammar.RejectCommand):
        await decide_gate(job, thread, gateway, command)
    elif isinstance(command, grammar.AnswerCommand):
        await answer(job, thread, gateway, command)
    elif isinstance(command, grammar.CancelCommand):
        await cancel(job, thread, gateway, command.task_id)
    elif isinstance(command, grammar.StatusCommand):
        await status(job, thread, gateway, command.task_id)
    elif isinstance(command, grammar.RestartCommand):
        await restart(job, thread, gateway, command, comment_id)
    elif isinstance(command, grammar.FixCommand):
        await fix(job, thread, gateway, command, comment_id)
    elif isinstance(command, grammar.ChunksCommand):
        await chunks(job, thread, gateway, command)
    else:
        message = f"`{_verb(command)}` is not available on GitHub yet."
        await job.reply(thread, gateway, render.help_reply(None) + "\n\n" + render.escape_text(message))


async def start_run(job: Job, thread: Thread, gateway: GitHubGateway, command: Any) -> None:
    repository = await gateway.repository(thread.owner, thread.repo)
    try:
        loaded = await load_from_default_branch(
            gateway,
            thread,
            repository,
            command.pipeline or job.services.default_pipeline,
            command.params,
            max_cost_usd=job.services.max_cost_usd,
        )
    except ConfigProblem as problem:
        await job.reply(thread, gateway, problem.reply)
        return
    if command.agent is not None and command.agent not in loaded.pipeline.ids:
        await job.reply(
            thread,
            gateway,
            render.escape_text(f"No agent `{command.agent}` in pipeline `{loaded.pipeline.name}`."),
        )
        return
    text, head_sha, clone_url = await job.task_text(thread, gateway, command.text, repository)
    await job.queue_task(
        thread, gateway, loaded, text=text, agent=command.agent, head_sha=head_sha, clone_url=clone_url
    )


def _verb(command: Any) -> str:
    return type(command).__name__.removesuffix("Command").lower()
