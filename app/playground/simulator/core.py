"""The simulator's state operations: repositories backed by git, issues, pull requests, comments,
labels, reactions and reviews — with GitHub's validation (its 404s and 422s) applied here, so the
REST routes, the webhook `Deliverer` and test set-up all change state the same way.

Check runs, statuses and the App live in `checks.py` and `apps.py`; this module holds the threads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.playground.simulator.errors import NotFound, Unprocessable, invalid
from app.playground.simulator.examples import Urls
from app.playground.simulator.git import BareRepo, FileContent, clone_working_copy, push_working_copy
from app.playground.simulator.render import Ctx
from app.playground.simulator.render_threads import PullSnapshot
from app.playground.simulator.state import (
    REACTIONS,
    Account,
    AccountType,
    Comment,
    Issue,
    Label,
    Permission,
    PullData,
    Reaction,
    Repo,
    Review,
    ReviewState,
    World,
)
from app.playground.simulator.traffic import Traffic

MAX_BODY_CHARS = 65_536
REVIEW_EVENTS: dict[str, ReviewState] = {
    "APPROVE": "APPROVED",
    "REQUEST_CHANGES": "CHANGES_REQUESTED",
    "COMMENT": "COMMENTED",
}


@dataclass(frozen=True, slots=True)
class ApiEvent:
    """A change made through the REST API, for whoever wants to turn it into a webhook delivery."""

    event: str  # issue_comment | issues | pull_request | pull_request_review | check_run
    action: str
    repo: str
    sender: Account
    subject: Any  # the Comment, Issue, Review or CheckRun
    extra: dict[str, Any] = field(default_factory=dict)


class SimCore:
    """State plus the operations on it. `GitHubSimulator` adds the App, HTTP and deliveries."""

    def __init__(self, data_dir: Path, urls: Urls) -> None:
        self.world = World()
        self.urls = urls
        self.data_dir = data_dir
        self.listeners: list[Callable[[ApiEvent], None]] = []
        self.traffic = Traffic()

    @property
    def ctx(self) -> Ctx:
        return Ctx(self.world, self.urls)

    def emit(self, event: ApiEvent) -> None:
        for listener in self.listeners:
            listener(event)

    # ---- accounts and repositories ---------------------------------------------------------

    def user(self, login: str, *, type: AccountType = "User") -> Account:
        return self.world.account(login, type=type)

    def repo(self, full_name: str) -> Repo:
        try:
            return self.world.repos[full_name]
        except KeyError:
            raise NotFound() from None

    def create_repo(
        self,
        full_name: str,
        files: Mapping[str, FileContent] | None = None,
        *,
        default_branch: str = "main",
        private: bool = False,
        owner_type: AccountType = "User",
        description: str | None = None,
        message: str = "Initial commit",
    ) -> Repo:
        """A repository with one commit of `files` on its default branch."""
        owner_login, name = full_name.split("/", 1)
        owner = self.world.account(owner_login, type=owner_type)
        git = BareRepo.init(self.data_dir / "repos" / owner_login / f"{name}.git", default_branch)
        created = self.world.clock.now()
        repo = Repo(self.world.next_id(), owner, name, git, default_branch, created, private, description)
        self.world.repos[full_name] = repo
        git.commit_files(default_branch, files or {"README.md": f"# {name}\n"}, message)
        return repo

    def fork_repo(self, full_name: str, owner_login: str) -> Repo:
        source = self.repo(full_name)
        owner = self.world.account(owner_login)
        git = BareRepo.clone_bare(source.git, self.data_dir / "repos" / owner_login / f"{source.name}.git")
        created = self.world.clock.now()
        fork = Repo(self.world.next_id(), owner, source.name, git, source.default_branch, created)
        fork.parent = source.full_name
        self.world.repos[fork.full_name] = fork
        return fork

    def commit(
        self,
        full_name: str,
        files: Mapping[str, FileContent],
        *,
        branch: str | None = None,
        message: str = "Update files",
        author: tuple[str, str] | None = None,
        start_from: str | None = None,
    ) -> str:
        """Commit `files` to `branch` (default branch when None; created from `start_from` if new)."""
        repo = self.repo(full_name)
        target = branch or repo.default_branch
        parent = None if repo.git.resolve(target) else repo.git.resolve(start_from or repo.default_branch)
        options: dict[str, Any] = {"author": author} if author else {}
        return repo.git.commit_files(target, files, message, parent=parent, **options)

    def create_branch(self, full_name: str, branch: str, from_ref: str | None = None) -> str:
        repo = self.repo(full_name)
        sha = repo.git.resolve(from_ref or repo.default_branch)
        if sha is None:
            raise NotFound(f"No commit found for {from_ref}")
        repo.git.update_ref(f"refs/heads/{branch}", sha, expect_absent=True)
        return sha

    def clone(self, full_name: str, dest: Path, *, branch: str | None = None) -> Path:
        """A working copy of the repository (a real `git clone` of its `clone_url`)."""
        return clone_working_copy(self.repo(full_name).git.clone_url, dest, branch=branch)

    def push(self, workdir: Path, branch: str, *, force: bool = False) -> str:
        """Push a working copy's HEAD to `branch` of its origin; returns the pushed SHA."""
        return push_working_copy(workdir, branch, force=force)

    def add_collaborator(self, full_name: str, login: str, permission: Permission) -> Account:
        self.repo(full_name).collaborators[login] = permission
        return self.world.account(login)

    def ensure_label(self, full_name: str, name: str, *, color: str = "ededed") -> Label:
        labels = self.repo(full_name).labels
        if name not in labels:
            labels[name] = Label(self.world.next_id(), name, color)
        return labels[name]

    # ---- issues and pull requests -----------------------------------------------------------

    def issue(self, full_name: str, number: int) -> Issue:
        self.repo(full_name)
        try:
            return self.world.issues[(full_name, number)]
        except KeyError:
            raise NotFound() from None

    def pull(self, full_name: str, number: int) -> Issue:
        found = self.issue(full_name, number)
        if found.pull is None:
            raise NotFound()
        return found

    def open_issue(
        self, full_name: str, title: str, body: str | None = None, *, user: str, labels: Iterable[str] = ()
    ) -> Issue:
        if not title:
            raise invalid("Issue", "title", "missing_field")
        self.repo(full_name)
        now = self.world.clock.now()
        number = self.world.next_number(full_name)
        found = Issue(
            self.world.next_id(), full_name, number, title, body, self.world.account(user), now, now
        )
        found.seq = self.world.next_seq()
        self.world.issues[(full_name, number)] = found
        self.label_issue(full_name, number, labels)
        return found

    def open_pull(
        self,
        full_name: str,
        *,
        head: str,
        base: str | None = None,
        title: str,
        body: str | None = None,
        user: str,
        draft: bool = False,
    ) -> Issue:
        """A pull request from `head` ("branch" or "owner:branch" for a fork) into `base`."""
        repo = self.repo(full_name)
        base_ref = base or repo.default_branch
        head_repo, head_ref = self._head_repo(repo, head)
        head_sha = head_repo.git.resolve(head_ref)
        base_sha = repo.git.resolve(base_ref)
        if head_sha is None or head_ref == "":
            raise invalid("PullRequest", "head", "invalid")
        if base_sha is None:
            raise invalid("PullRequest", "base", "invalid")
        self._refuse_duplicate_pull(full_name, head_repo.full_name, head_ref, base_ref, head)
        found = self.open_issue(full_name, title, body, user=user)
        found.pull = PullData(
            self.world.next_id(), head_repo.full_name, head_ref, base_ref, base_sha, head_sha
        )
        found.pull.draft = draft
        snap = self.pull_snapshot(found, stats=True)
        if snap.commits == 0:
            del self.world.issues[(full_name, found.number)]
            message = f"No commits between {base_ref} and {head}"
            raise Unprocessable({"resource": "PullRequest", "code": "custom", "message": message})
        return found

    def _head_repo(self, repo: Repo, head: str) -> tuple[Repo, str]:
        owner, _, ref = head.rpartition(":")
        if not owner or owner == repo.owner.login:
            return repo, ref
        candidates = [
            r for r in self.world.repos.values() if r.owner.login == owner and r.parent == repo.full_name
        ]
        if not candidates:
            raise invalid("PullRequest", "head", "invalid")
        return candidates[0], ref

    def _refuse_duplicate_pull(
        self, full_name: str, head_repo: str, head_ref: str, base_ref: str, head: str
    ) -> None:
        for other in self.world.issues.values():
            pr = other.pull
            same = pr and (pr.head_repo, pr.head_ref, pr.base_ref) == (head_repo, head_ref, base_ref)
            if other.repo == full_name and other.state == "open" and same:
                label = head if ":" in head else f"{head_repo.split('/')[0]}:{head}"
                message = f"A pull request already exists for {label}."
                raise Unprocessable({"resource": "PullRequest", "code": "custom", "message": message})

    def pull_snapshot(self, found: Issue, *, stats: bool = False) -> PullSnapshot:
        """Head and base SHAs from git now; keeps `refs/pull/N/head` in the base repository current."""
        assert found.pull is not None
        repo, head_repo = self.repo(found.repo), self.repo(found.pull.head_repo)
        pull_ref = f"refs/pull/{found.number}/head"
        head_sha = (
            head_repo.git.resolve(found.pull.head_ref)
            or repo.git.ref_sha(pull_ref)
            or found.pull.last_head_sha
        )
        if repo.git.ref_sha(pull_ref) != head_sha:
            if head_repo is repo:
                repo.git.update_ref(pull_ref, head_sha)
            else:
                repo.git.fetch_into(head_repo.git, f"refs/heads/{found.pull.head_ref}", pull_ref)
        base_sha = repo.git.resolve(found.pull.base_ref) or found.pull.base_sha
        if not stats:
            return PullSnapshot(head_sha, base_sha, 0, 0, 0, 0)
        since = repo.git.merge_base(base_sha, head_sha) or base_sha
        changes = repo.git.changes(since, head_sha)
        additions, deletions = sum(c.additions for c in changes), sum(c.deletions for c in changes)
        commits = repo.git.count_commits(base_sha, head_sha)
        return PullSnapshot(head_sha, base_sha, commits, additions, deletions, len(changes))

    def open_pulls_at(self, full_name: str, sha: str) -> list[tuple[Issue, PullSnapshot]]:
        """Open pull requests of this repository whose head is `sha` (a check run's `pull_requests`)."""
        found = []
        for item in self.world.issues.values():
            if item.repo == full_name and item.pull and item.state == "open":
                snap = self.pull_snapshot(item)
                if snap.head_sha == sha:
                    found.append((item, snap))
        return found

    def close_issue(self, full_name: str, number: int) -> Issue:
        found = self.issue(full_name, number)
        found.state, found.closed_at = "closed", self.world.clock.now()
        found.updated_at = found.closed_at
        return found

    def label_issue(self, full_name: str, number: int, names: Iterable[str]) -> list[Label]:
        found = self.issue(full_name, number)
        for name in names:
            self.ensure_label(full_name, name)
            if name not in found.labels:
                found.labels.append(name)
        labels = self.repo(full_name).labels
        return [labels[name] for name in found.labels]

    # ---- comments, reactions, reviews -------------------------------------------------------

    def add_comment(
        self, full_name: str, number: int, *, user: str, body: str, app_id: int | None = None
    ) -> Comment:
        _check_body(body, "IssueComment")
        found = self.issue(full_name, number)
        now = self.world.clock.now()
        author = self.world.account(user)
        item = Comment(self.world.next_id(), full_name, number, author, body, now, now, app_id)
        item.seq = self.world.next_seq()
        self.world.comments[item.id] = item
        found.updated_at = now
        return item

    def comment(self, full_name: str, comment_id: int) -> Comment:
        item = self.world.comments.get(comment_id)
        if item is None or item.repo != full_name:
            raise NotFound()
        return item

    def edit_comment(self, full_name: str, comment_id: int, body: str) -> tuple[Comment, str]:
        """Change a comment's body; returns it with the body it had before."""
        _check_body(body, "IssueComment")
        item = self.comment(full_name, comment_id)
        before, item.body, item.updated_at = item.body, body, self.world.clock.now()
        item.edits += 1
        return item, before

    def delete_comment(self, full_name: str, comment_id: int) -> Comment:
        item = self.comment(full_name, comment_id)
        del self.world.comments[comment_id]
        return item

    def react(
        self, full_name: str, subject: tuple[str, int], *, user: str, content: str
    ) -> tuple[Reaction, bool]:
        """Add a reaction; an identical one by the same user is returned instead (`created` False)."""
        if content not in REACTIONS:
            raise invalid("Reaction", "content", "invalid")
        for existing in self.world.reactions:
            if (existing.repo, existing.subject, existing.user.login, existing.content) == (
                full_name,
                subject,
                user,
                content,
            ):
                return existing, False
        item = Reaction(
            self.world.next_id(),
            subject,
            full_name,
            self.world.account(user),
            content,
            self.world.clock.now(),
        )
        self.world.reactions.append(item)
        return item, True

    def submit_review(
        self,
        full_name: str,
        number: int,
        *,
        user: str,
        event: str,
        body: str = "",
        commit_id: str | None = None,
    ) -> Review:
        """A submitted review; `event` is REST's APPROVE / REQUEST_CHANGES / COMMENT (None → PENDING)."""
        found = self.pull(full_name, number)
        state: ReviewState = REVIEW_EVENTS.get(event, "PENDING") if event else "PENDING"
        if event and event not in REVIEW_EVENTS:
            raise Unprocessable(f"Unexpected event {event!r}", message="Unprocessable Entity")
        if state in ("CHANGES_REQUESTED", "COMMENTED") and not body:
            raise Unprocessable(f"Body is required for {event}", message="Unprocessable Entity")
        if state in ("APPROVED", "CHANGES_REQUESTED") and found.user.login == user:
            verb = "approve" if state == "APPROVED" else "request changes on"
            raise Unprocessable(
                f"Review Can not {verb} your own pull request", message="Unprocessable Entity"
            )
        sha = commit_id or self.pull_snapshot(found).head_sha
        if self.repo(full_name).git.resolve(sha) is None:
            raise Unprocessable(f"Commit {sha} not found", message="Unprocessable Entity")
        submitted = None if state == "PENDING" else self.world.clock.now()
        item = Review(
            self.world.next_id(), full_name, number, self.world.account(user), body, state, sha, submitted
        )
        item.seq = self.world.next_seq()
        self.world.reviews[item.id] = item
        return item


def _check_body(body: str, resource: str) -> None:
    if len(body) > MAX_BODY_CHARS:
        message = f"body is too long (maximum is {MAX_BODY_CHARS} characters)"
        raise Unprocessable({"resource": resource, "code": "custom", "field": "body", "message": message})
