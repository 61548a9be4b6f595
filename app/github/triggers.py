"""Which declared triggers an issue or pull request event starts, and whether it may start them.

Pure: the handler reads the facts from the delivery (`EventFacts.of`) and the config from the
default branch, and acts on the `Verdict`. A trigger in the default branch's `.aqm/config.yaml`
is the maintainers' authorisation, so no permission is asked of GitHub; but bots (unless listed
in `github.allow_bots`) never start runs, and pull requests from forks wait for a maintainer's
`/aqm run` (DESIGN.md, "Commands and permissions").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from app.github.events import IssueEvent, PullRequestEvent
from app.spec.models import GitHubSettings, Trigger

TRIGGER_EVENTS = frozenset(
    {"issues.opened", "issues.labeled", "pull_request.opened", "pull_request.synchronize"}
)
PULL_EVENTS = ("pull_request.opened", "pull_request.synchronize")
OWN_BRANCH = re.compile(r"^aqm/T-[0-9A-F]{6,}$")  # the branches the app pushes its tasks' changes to


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What matters about one `issues` or `pull_request` delivery."""

    kind: str  # "<event>.<action>"
    sender: str
    sender_is_bot: bool
    label: str | None = None  # issues.labeled: the label added
    from_fork: bool = False  # a pull request whose head repository is not the base repository
    head_ref: str | None = None  # pull requests: the head branch
    head_sha: str | None = None  # pull_request.synchronize: the new head (`after`)

    @classmethod
    def of(cls, kind: str, event: IssueEvent | PullRequestEvent) -> EventFacts:
        """The facts of a delivery read through its model (app/github/events.py)."""
        sender = event.sender
        if isinstance(event, IssueEvent):
            label = None if event.label is None else event.label.name
            return cls(kind, sender.login, sender.is_bot, label)
        pull = event.pull_request
        head_name = "" if pull.head.repo is None else pull.head.repo.full_name.lower()
        base_repo = pull.base.repo or event.repository
        fork = pull.head.repo is None or head_name != base_repo.full_name.lower()  # a deleted fork: no repo
        head_sha = event.after or pull.head.sha
        return cls(kind, sender.login, sender.is_bot, None, fork, pull.head.ref, head_sha)


def matching(settings: GitHubSettings, facts: EventFacts) -> list[Trigger]:
    """The declared triggers this event fires, in config order."""
    return [trigger for trigger in settings.triggers if _fires(trigger, facts)]


def _fires(trigger: Trigger, facts: EventFacts) -> bool:
    if trigger.event != facts.kind:
        return False
    if trigger.event == "issues.labeled" and trigger.label is not None:
        return facts.label is not None and facts.label.casefold() == trigger.label.casefold()
    return True


Verdict = Literal["run", "bot", "own", "fork"]


def authorise(settings: GitHubSettings, facts: EventFacts) -> Verdict:
    """May a declared trigger run for this event? `run`, or why not.

    `own`: the app's own pull request (a branch `aqm/T-…` pushed by a bot) never triggers, even
    when its bot is allowlisted — that would loop. `bot`: a bot not in `github.allow_bots`.
    `fork`: a pull request from a fork; a maintainer's `/aqm run` starts it.
    """
    if facts.sender_is_bot and facts.head_ref is not None and OWN_BRANCH.match(facts.head_ref):
        return "own"
    if facts.sender_is_bot and facts.sender.casefold() not in {b.casefold() for b in settings.allow_bots}:
        return "bot"
    if facts.from_fork:
        return "fork"
    return "run"


def tell_fork(settings: GitHubSettings, facts: EventFacts) -> bool:
    """Whether a fork PR's thread gets the "a maintainer must `/aqm run`" notice now: once, when it
    is opened and some pull request trigger would have run on it."""
    return facts.kind == "pull_request.opened" and any(t.event in PULL_EVENTS for t in settings.triggers)
