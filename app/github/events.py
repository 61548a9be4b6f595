"""The webhook events aqm acts on, read through models of the fields it uses. Pure.

GitHub's payloads do not keep to their published schema (a label without `archived_by`, an app
without `permissions`, `check_suite.app.events` with names nobody declared: githubkit #118), so
a model of the whole payload turns a field nobody reads into a lost command. Here the event name
and action decide first, from `ACTED`, whether aqm acts at all; an event it does not act on is
never parsed. An event it acts on is read through its model below: strict on the fields aqm uses,
blind to every other (`extra="ignore"`). A payload that lacks a used field is refused with one
line naming it (`UnreadableEvent`), never a traceback.
https://docs.github.com/webhooks/webhook-events-and-payloads
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.errors import AqmError

MAX_REASON_CHARS = 300  # a refusal's line in the log: what is wrong, not the payload


class UnreadableEvent(AqmError):
    """An event aqm acts on whose payload lacks, or mistypes, a field aqm uses."""


class _Fields(BaseModel):
    """The fields aqm reads of one payload object; every other field is ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, strict=True)


class Account(_Fields):
    login: str
    type: str = "User"

    @property
    def is_bot(self) -> bool:
        return self.type == "Bot" or self.login.endswith("[bot]")


class Repository(_Fields):
    full_name: str


class Installation(_Fields):
    id: int


class Issue(_Fields):
    number: int
    pull_request: dict[str, Any] | None = None  # present on an issue that is a pull request


class Comment(_Fields):
    id: int
    body: str | None = None


class BodyChange(_Fields):
    from_: str = Field(alias="from")


class CommentChanges(_Fields):
    body: BodyChange | None = None  # absent when something else than the body was edited


class Label(_Fields):
    name: str


class Branch(_Fields):
    ref: str
    sha: str
    repo: Repository | None = None  # None: the fork was deleted


class PullRequest(_Fields):
    number: int
    head: Branch
    base: Branch


class PullRequestNumber(_Fields):
    number: int


class Review(_Fields):
    state: str
    commit_id: str
    body: str | None = None


class CheckRun(_Fields):
    id: int


class RequestedAction(_Fields):
    identifier: str


class _Delivery(_Fields):
    """What every event aqm acts on carries (`installation`: only deliveries to an App)."""

    repository: Repository
    sender: Account
    installation: Installation | None = None

    @property
    def installation_id(self) -> int | None:
        return None if self.installation is None else self.installation.id


class CommentEvent(_Delivery):
    """`issue_comment.created|edited`: the comment's commands."""

    issue: Issue
    comment: Comment
    changes: CommentChanges | None = None

    @property
    def thread(self) -> tuple[int, bool]:
        return self.issue.number, self.issue.pull_request is not None


class IssueEvent(_Delivery):
    """`issues.opened|labeled`: declared triggers."""

    issue: Issue
    label: Label | None = None

    @property
    def thread(self) -> tuple[int, bool]:
        return self.issue.number, self.issue.pull_request is not None


class PullRequestEvent(_Delivery):
    """`pull_request.opened|synchronize`: declared triggers, and `on_push`."""

    pull_request: PullRequest
    after: str | None = None  # synchronize: the new head

    @property
    def thread(self) -> tuple[int, bool]:
        return self.pull_request.number, True


class ReviewEvent(_Delivery):
    """`pull_request_review.submitted`: a human gate's approval or rejection."""

    pull_request: PullRequestNumber
    review: Review

    @property
    def thread(self) -> tuple[int, bool]:
        return self.pull_request.number, True


class CheckRunActionEvent(_Delivery):
    """`check_run.requested_action`: the Approve / Reject buttons of a task's check run."""

    check_run: CheckRun
    requested_action: RequestedAction | None = None


ThreadEvent = CommentEvent | IssueEvent | PullRequestEvent | ReviewEvent
Event = ThreadEvent | CheckRunActionEvent

# "<X-GitHub-Event>.<action>" -> the model it is read through. Anything else is ignored unread.
ACTED: dict[str, type[Event]] = {
    "issue_comment.created": CommentEvent,
    "issue_comment.edited": CommentEvent,
    "issues.opened": IssueEvent,
    "issues.labeled": IssueEvent,
    "pull_request.opened": PullRequestEvent,
    "pull_request.synchronize": PullRequestEvent,
    "pull_request_review.submitted": ReviewEvent,
    "check_run.requested_action": CheckRunActionEvent,
}


def acts_on(event: str, action: str | None) -> bool:
    """Whether aqm acts on this event at all: decided before anything is parsed."""
    return f"{event}.{action}" in ACTED


def read_event(event: str, action: str | None, body: str | bytes) -> Event | None:
    """The delivery read through its model; None for an event aqm does not act on.

    Raises UnreadableEvent (one line: which field, what is wrong) when a field aqm uses is missing
    or of the wrong type, or the body is not a JSON object."""
    model = ACTED.get(f"{event}.{action}")
    if model is None:
        return None
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise UnreadableEvent(_reason(f"{event}.{action}", exc)) from None


def _reason(kind: str, error: ValidationError) -> str:
    """`kind: field.path: message` for the first problems, on one line."""
    problems = [
        f"{'.'.join(str(part) for part in problem['loc']) or 'body'}: {problem['msg']}"
        for problem in error.errors(include_url=False, include_input=False)[:3]
    ]
    more = error.error_count() - len(problems)
    text = f"{kind}: " + "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")
    return " ".join(text.split())[:MAX_REASON_CHARS]
