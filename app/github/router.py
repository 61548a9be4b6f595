"""Handing one event to the module of its kind (app/github/handlers/), then posting its one reply.

Dispatch is on the event's name and action: app/github/events.py reads the events aqm acts on
through models of the fields it uses (refused, in one line of the log, when one lacks a field aqm
uses) and ignores the others unread. Events of bots (our own comments included) are ignored,
except issue and PR events, which `github.allow_bots` judges. Nothing here raises for bad input:
every path ends in a reply, in "ignored" or in "refused".
"""

from __future__ import annotations

import logging

from app.github import events
from app.github.handlers.check_runs import on_check_run_action
from app.github.handlers.comments import on_comment
from app.github.handlers.reviews import on_review
from app.github.handlers.triggers import on_thread_event
from app.github.job import Job

log = logging.getLogger("aqm.github")


async def handle_event(job: Job) -> str:
    outcome = await dispatch(job)
    await job.post_reply()
    return outcome


async def dispatch(job: Job) -> str:
    """Read the delivery if aqm acts on its event (app/github/events.py) and hand it to its
    handler; a payload without a field aqm uses is refused, in one line of the log."""
    name, action = job.delivery.event, job.delivery.action
    try:
        event = events.read_event(name, action, job.delivery.body)
    except events.UnreadableEvent as exc:
        job.note = str(exc)
        log.warning("delivery %s refused: %s", job.delivery.id, job.note)
        return "refused"
    if event is None:
        return "ignored"
    kind = f"{name}.{action}"
    if isinstance(event, events.IssueEvent | events.PullRequestEvent):
        return await on_thread_event(job, kind, event)  # bots are judged against github.allow_bots
    if event.sender.is_bot:
        return "ignored"
    if isinstance(event, events.CommentEvent):
        return await on_comment(job, event)
    if isinstance(event, events.ReviewEvent):
        return await on_review(job, event)
    return await on_check_run_action(job, event)
