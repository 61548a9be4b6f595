"""The simulator's in-memory state: accounts, repositories, issues and pull requests, comments,
reviews, check runs, statuses, the App, its installations and tokens.

Plain dataclasses; rendering to GitHub's JSON lives in `render.py`, git content in `git.py`.
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from app.playground.simulator.git import BareRepo

AccountType = Literal["User", "Organization", "Bot"]
Permission = Literal["admin", "write", "read", "none"]
ReviewState = Literal["APPROVED", "CHANGES_REQUESTED", "COMMENTED", "PENDING", "DISMISSED"]
REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")


class Clock:
    """UTC wall time to the second, shiftable so tests can expire tokens without sleeping."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return (datetime.now(UTC) + self.offset).replace(microsecond=0)

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def iso(moment: datetime | None) -> str | None:
    """GitHub's timestamp format, `YYYY-MM-DDTHH:MM:SSZ`."""
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, number: int) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{number}".encode()).decode()


@dataclass
class Account:
    login: str
    id: int
    type: AccountType = "User"
    site_admin: bool = False


@dataclass
class Label:
    id: int
    name: str
    color: str = "ededed"
    description: str | None = None
    default: bool = False


@dataclass
class Repo:
    id: int
    owner: Account
    name: str
    git: BareRepo
    default_branch: str
    created_at: datetime
    private: bool = False
    description: str | None = None
    parent: str | None = None  # full name of the repository this one is a fork of
    labels: dict[str, Label] = field(default_factory=dict)
    collaborators: dict[str, Permission] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"


@dataclass
class PullData:
    """What makes an issue a pull request: branches in the head and base repositories."""

    id: int
    head_repo: str  # full name; differs from the base repository for a fork
    head_ref: str
    base_ref: str
    base_sha: str  # the base branch tip when the PR was opened
    last_head_sha: str  # the head SHA the simulator last announced (the `before` of a synchronize)
    draft: bool = False
    merged: bool = False
    maintainer_can_modify: bool = False


@dataclass
class Issue:
    id: int
    repo: str
    number: int
    title: str
    body: str | None
    user: Account
    created_at: datetime
    updated_at: datetime
    labels: list[str] = field(default_factory=list)
    state: Literal["open", "closed"] = "open"
    closed_at: datetime | None = None
    pull: PullData | None = None
    seq: int = 0  # creation order across every thread item

    @property
    def is_pull(self) -> bool:
        return self.pull is not None


@dataclass
class Comment:
    id: int
    repo: str
    issue_number: int
    user: Account
    body: str
    created_at: datetime
    updated_at: datetime
    app_id: int | None = None  # performed_via_github_app
    seq: int = 0
    edits: int = 0


@dataclass
class Reaction:
    id: int
    subject: tuple[str, int]  # ("issue", number) | ("issue_comment", id) | ("pull_comment", id), per repo
    repo: str
    user: Account
    content: str
    created_at: datetime


@dataclass
class Review:
    id: int
    repo: str
    number: int
    user: Account
    body: str
    state: ReviewState
    commit_id: str
    submitted_at: datetime | None
    seq: int = 0


@dataclass
class CheckRun:
    id: int
    repo: str
    name: str
    head_sha: str
    app_id: int
    suite_id: int
    status: str = "queued"
    conclusion: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    details_url: str | None = None
    external_id: str | None = None
    output: dict[str, Any] = field(default_factory=dict)
    actions: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Status:
    id: int
    repo: str
    sha: str
    state: str
    context: str
    creator: Account
    created_at: datetime
    target_url: str | None = None
    description: str | None = None


@dataclass
class GitHubApp:
    id: int
    slug: str
    name: str
    owner: Account
    public_key_pem: bytes
    client_id: str
    webhook_secret: str
    bot: Account
    created_at: datetime
    permissions: dict[str, str] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ManifestCode:
    """What `POST /app-manifests/{code}/conversions` hands out once: the App made from a manifest
    and its secrets, until `expires_at` (an hour, as on GitHub)."""

    app_id: int
    private_pem: str
    client_secret: str
    expires_at: datetime


@dataclass
class Installation:
    id: int
    app_id: int
    account: Account
    created_at: datetime
    repository_selection: Literal["all", "selected"] = "all"
    repositories: set[str] = field(default_factory=set)  # full names, when "selected"

    def covers(self, repo: Repo) -> bool:
        if self.repository_selection == "all":
            return repo.owner.login == self.account.login
        return repo.full_name in self.repositories


@dataclass
class Token:
    value: str
    expires_at: datetime | None
    installation_id: int | None = None  # an installation token
    login: str | None = None  # a personal access token of this user
    permissions: dict[str, str] = field(default_factory=dict)
    repositories: set[str] | None = None  # a narrowed installation token


@dataclass
class World:
    """Every object the simulator holds, with the id counters GitHub would assign."""

    clock: Clock = field(default_factory=Clock)
    accounts: dict[str, Account] = field(default_factory=dict)
    repos: dict[str, Repo] = field(default_factory=dict)
    issues: dict[tuple[str, int], Issue] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    reactions: list[Reaction] = field(default_factory=list)
    reviews: dict[int, Review] = field(default_factory=dict)
    check_runs: dict[int, CheckRun] = field(default_factory=dict)
    statuses: list[Status] = field(default_factory=list)
    apps: dict[int, GitHubApp] = field(default_factory=dict)
    installations: dict[int, Installation] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    signed: dict[str, str] = field(default_factory=dict)  # commit SHA -> login: made through the API, signed
    manifest_codes: dict[str, ManifestCode] = field(default_factory=dict)  # one use each
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1001))
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_id(self) -> int:
        return next(self._ids)

    def next_seq(self) -> int:
        return next(self._seq)

    def account(self, login: str, *, type: AccountType = "User") -> Account:
        """The account with this login, created on first use."""
        if login not in self.accounts:
            self.accounts[login] = Account(login, self.next_id(), type)
        return self.accounts[login]

    def next_number(self, repo: str) -> int:
        """Issues and pull requests share one numbering per repository."""
        return 1 + max((number for name, number in self.issues if name == repo), default=0)

    def thread_comments(self, repo: str, number: int) -> list[Comment]:
        found = [c for c in self.comments.values() if c.repo == repo and c.issue_number == number]
        return sorted(found, key=lambda c: c.seq)

    def thread_reviews(self, repo: str, number: int) -> list[Review]:
        found = [r for r in self.reviews.values() if r.repo == repo and r.number == number]
        return sorted(found, key=lambda r: r.seq)

    def app_of_bot(self, login: str) -> GitHubApp | None:
        return next((app for app in self.apps.values() if app.bot.login == login), None)
