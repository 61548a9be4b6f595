"""Issue and pull request events (`issues.opened|labeled`, `pull_request.opened|synchronize`): the
`github.triggers` of the default branch's config.yaml start pipelines (app/github/triggers.py decides).
"""

from __future__ import annotations

from app.errors import SpecError, SpecErrors
from app.github import events, render, triggers
from app.github.config import (
    ConfigProblem,
    load_config_files,
    read_config_files,
)
from app.github.handlers.pushes import on_push
from app.github.job import Job


async def on_thread_event(job: Job, kind: str, event: events.IssueEvent | events.PullRequestEvent) -> str:
    """`issues.opened|labeled`, `pull_request.opened|synchronize`: apply `github:` of config.yaml.

    No `.aqm/` on the default branch: ignored, silently. A broken config.yaml: one comment
    listing the errors (not for bots). A push to a PR first applies `on_push` to the PR's
    running or paused tasks; then every declared trigger the event fires starts its pipeline
    with the thread's title and body as the task, unless the sender is a bot not in
    `allow_bots` or the PR comes from a fork (told once to ask a maintainer for `/aqm run`).
    """
    facts = triggers.EventFacts.of(kind, event)
    if facts.sender_is_bot and facts.head_ref and triggers.OWN_BRANCH.match(facts.head_ref):
        return "ignored"  # the app's own branch and PR: its pushes never cancel or start anything
    thread = job.thread(event)
    gateway = job.gateway(thread)
    repository = await gateway.repository(thread.owner, thread.repo)
    try:
        files = await read_config_files(gateway, thread, repository.default_branch)
        if not files:
            return "ignored"
        settings = (await load_config_files(files)).github
    except (SpecErrors, ConfigProblem) as exc:
        if facts.sender_is_bot:
            return "ignored"
        await job.reply(thread, gateway, _config_reply(exc))
        return "done"
    outcome = "ignored"
    if kind == "pull_request.synchronize":
        outcome, restarted = await on_push(job, thread, gateway, settings, facts, files)
        if restarted:
            return outcome  # the restarted task is this push's run
    fired = triggers.matching(settings, facts)
    if not fired:
        return outcome
    verdict = triggers.authorise(settings, facts)
    if verdict == "fork":
        if triggers.tell_fork(settings, facts):
            await job.reply(thread, gateway, render.fork_waiting_reply(pipeline=fired[0].pipeline))
            return "done"
        return outcome
    if verdict != "run":
        return outcome
    for trigger in fired:
        await job.start_triggered(thread, gateway, repository, files, trigger.pipeline, trigger.agent)
    return "done"


def _config_reply(problem: SpecErrors | ConfigProblem) -> str:
    """The reply for `.aqm/` that cannot be used: its validation errors, or the problem's own reply."""
    if isinstance(problem, ConfigProblem):
        return problem.reply
    shown = [SpecError(e.message, f".aqm/{e.path}", e.line, e.column, e.fix) for e in problem.errors]
    return render.validation_errors(shown)
