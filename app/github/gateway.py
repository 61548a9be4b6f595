"""Every call the app makes to GitHub, through githubkit — and nowhere else.

githubkit's `RequestFailed` becomes `GitHubError(status, retry_after_s=...)` here and only
here. Server errors (5xx), rate limits (403/429 with `retry-after` or `x-ratelimit-remaining:
0`) and transport failures are retried with exponential backoff that honours `Retry-After`,
for at most `retry_budget_s` (default 60 s) in total; then the error goes up and the job is
re-queued. Installation tokens are cached by githubkit (until a minute before they expire) in
the client's cache strategy, which lives as long as the gateway's `GitHubClients`.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from githubkit import AppAuthStrategy, GitHub, TokenAuthStrategy
from githubkit.cache import MemCacheStrategy
from githubkit.exception import (
    GitHubException,
    RateLimitExceeded,
    RequestError,
    RequestFailed,
    RequestTimeout,
)

from app.errors import AqmError

T = TypeVar("T")
PERMISSION_TTL_S = 60.0
TOKEN_TTL_S = 50 * 60.0


class GitHubError(AqmError):
    """GitHub refused or failed after our retries. `status` 0 means no HTTP answer at all."""

    def __init__(self, message: str, *, status: int, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class Repository:
    full_name: str
    default_branch: str
    clone_url: str
    private: bool


@dataclass(frozen=True, slots=True)
class PullRequest:
    number: int
    head_sha: str
    head_ref: str
    head_repo: str  # owner/name of the head repository
    head_clone_url: str
    base_ref: str
    is_fork: bool
    title: str
    body: str


@dataclass(frozen=True, slots=True)
class Issue:
    number: int
    title: str
    body: str
    is_pull: bool
    author: str


class GitHubClients:
    """One githubkit client per installation (or one for a token), built on first use.

    `transport` points githubkit at the simulator in tests and in the playground."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str | None = None,
        app_id: str | None = None,
        private_key: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url
        self.token = token
        self.app_id = app_id
        self.private_key = private_key
        self.transport = transport
        self.cache = MemCacheStrategy()
        self.clients: dict[int | None, GitHub[Any]] = {}
        self.tokens: dict[int, tuple[str, float]] = {}
        self.permissions: dict[tuple[int | None, str, str], tuple[str, float]] = {}

    def client(self, installation_id: int | None) -> GitHub[Any]:
        if installation_id not in self.clients:
            self.clients[installation_id] = self._build(self._auth(installation_id))
        return self.clients[installation_id]

    def gateway(self, installation_id: int | None, *, retry_budget_s: float = 60.0) -> GitHubGateway:
        return GitHubGateway(self, installation_id, retry_budget_s=retry_budget_s)

    def _auth(self, installation_id: int | None) -> Any:
        if self.app_id is not None and self.private_key is not None:
            app = AppAuthStrategy(self.app_id, self.private_key)
            return app if installation_id is None else app.as_installation(installation_id)
        if self.token is None:
            raise GitHubError("no GitHub credentials: set AQM_GITHUB_TOKEN or the App's id and key", status=0)
        return TokenAuthStrategy(self.token)

    def _build(self, auth: Any) -> GitHub[Any]:
        return GitHub(
            auth,
            base_url=self.base_url,
            async_transport=self.transport,
            http_cache=False,
            auto_retry=False,
            cache_strategy=self.cache,
            timeout=30.0,
        )


class GitHubGateway:
    """The calls one job makes, as one installation."""

    def __init__(
        self,
        clients: GitHubClients,
        installation_id: int | None,
        *,
        retry_budget_s: float = 60.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.clients = clients
        self.installation_id = installation_id
        self.retry_budget_s = retry_budget_s
        self.sleep = sleep

    @property
    def rest(self) -> Any:
        return self.clients.client(self.installation_id).rest

    # ---- the retry policy ------------------------------------------------------------------

    async def call(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        """Run one GitHub call, retrying transient failures within the budget."""
        deadline = time.monotonic() + self.retry_budget_s
        attempt = 0
        while True:
            try:
                return await operation()
            except GitHubException as exc:
                error = translate(what, exc)
            attempt += 1
            wait = error.retry_after_s if error.retry_after_s is not None else min(2.0**attempt, 30.0)
            if not retryable(error) or time.monotonic() + wait > deadline:
                raise error
            await self.sleep(wait)

    # ---- reads -----------------------------------------------------------------------------

    async def repository(self, owner: str, repo: str) -> Repository:
        data = (await self.call("get repository", lambda: self.rest.repos.async_get(owner, repo))).parsed_data
        return Repository(data.full_name, data.default_branch, data.clone_url, bool(data.private))

    async def permission(self, owner: str, repo: str, user: str) -> str:
        """admin | write | read | none — cached for a minute (GitHub is asked, not the payload)."""
        key = (self.installation_id, f"{owner}/{repo}", user.lower())
        cached = self.clients.permissions.get(key)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        try:
            response = await self.call(
                "get permission",
                lambda: self.rest.repos.async_get_collaborator_permission_level(owner, repo, user),
            )
            level = str(response.parsed_data.permission)
        except GitHubError as exc:
            if exc.status != 404:
                raise
            level = "none"
        self.clients.permissions[key] = (level, time.monotonic() + PERMISSION_TTL_S)
        return level

    async def issue(self, owner: str, repo: str, number: int) -> Issue:
        data = (
            await self.call("get issue", lambda: self.rest.issues.async_get(owner, repo, number))
        ).parsed_data
        is_pull = bool(getattr(data, "pull_request", None))
        return Issue(number, data.title, data.body or "", is_pull, data.user.login if data.user else "")

    async def pull(self, owner: str, repo: str, number: int) -> PullRequest:
        data = (
            await self.call("get pull request", lambda: self.rest.pulls.async_get(owner, repo, number))
        ).parsed_data
        head_repo = data.head.repo
        head_name = head_repo.full_name if head_repo else f"{owner}/{repo}"
        clone_url = head_repo.clone_url if head_repo else ""
        return PullRequest(
            number,
            data.head.sha,
            data.head.ref,
            head_name,
            clone_url,
            data.base.ref,
            head_name.lower() != f"{owner}/{repo}".lower(),
            data.title,
            data.body or "",
        )

    async def branch_sha(self, owner: str, repo: str, branch: str) -> str:
        response = await self.call(
            "get branch", lambda: self.rest.repos.async_get_branch(owner, repo, branch)
        )
        return str(response.parsed_data.commit.sha)

    async def read_tree(self, owner: str, repo: str, ref: str, path: str = ".aqm") -> dict[str, str]:
        """Every file under `path` at `ref`, as {path relative to `path`: text}; {} when absent."""
        files: dict[str, str] = {}
        try:
            await self._read_dir(owner, repo, ref, path, path, files)
        except GitHubError as exc:
            if exc.status != 404:
                raise
        return files

    async def _read_dir(
        self, owner: str, repo: str, ref: str, root: str, path: str, files: dict[str, str]
    ) -> None:
        response = await self.call(
            "read files", lambda: self.rest.repos.async_get_content(owner, repo, path, ref=ref)
        )
        entries = response.parsed_data if isinstance(response.parsed_data, list) else [response.parsed_data]
        for entry in entries:
            if entry.type == "dir":
                await self._read_dir(owner, repo, ref, root, entry.path, files)
            elif entry.type == "file":
                content = getattr(entry, "content", None)
                if not isinstance(content, str):
                    content = await self._file_content(owner, repo, ref, str(entry.path))
                name = entry.path[len(root) + 1 :] if entry.path != root else entry.path.rsplit("/", 1)[-1]
                files[name] = base64.b64decode(content).decode("utf-8", errors="replace")

    async def _file_content(self, owner: str, repo: str, ref: str, path: str) -> str:
        single = await self.call(
            "read file", lambda: self.rest.repos.async_get_content(owner, repo, path, ref=ref)
        )
        return str(single.parsed_data.content)

    # ---- writes ----------------------------------------------------------------------------

    async def comment(self, owner: str, repo: str, number: int, body: str) -> int:
        response = await self.call(
            "comment", lambda: self.rest.issues.async_create_comment(owner, repo, number, body=body)
        )
        return int(response.parsed_data.id)

    async def edit_comment(self, owner: str, repo: str, comment_id: int, body: str) -> None:
        await self.call(
            "edit comment", lambda: self.rest.issues.async_update_comment(owner, repo, comment_id, body=body)
        )

    async def react(self, owner: str, repo: str, comment_id: int, content: str = "eyes") -> None:
        await self.call(
            "react",
            lambda: self.rest.reactions.async_create_for_issue_comment(
                owner, repo, comment_id, content=content
            ),
        )

    async def create_check_run(self, owner: str, repo: str, **fields: Any) -> int:
        response = await self.call(
            "create check run", lambda: self.rest.checks.async_create(owner, repo, **fields)
        )
        return int(response.parsed_data.id)

    async def update_check_run(self, owner: str, repo: str, check_run_id: int, **fields: Any) -> None:
        await self.call(
            "update check run", lambda: self.rest.checks.async_update(owner, repo, check_run_id, **fields)
        )

    async def create_pull(self, owner: str, repo: str, *, head: str, base: str, title: str, body: str) -> int:
        response = await self.call(
            "open pull request",
            lambda: self.rest.pulls.async_create(owner, repo, head=head, base=base, title=title, body=body),
        )
        return int(response.parsed_data.number)

    async def installation_token(self) -> str | None:
        """A token for git over HTTPS (put in a header, never in a URL); None with token auth."""
        clients = self.clients
        if self.installation_id is None or clients.app_id is None:
            return clients.token
        cached = clients.tokens.get(self.installation_id)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        app = clients.client(None).rest
        installation_id = self.installation_id
        response = await self.call(
            "installation token", lambda: app.apps.async_create_installation_access_token(installation_id)
        )
        token = str(response.parsed_data.token)
        clients.tokens[installation_id] = (token, time.monotonic() + TOKEN_TTL_S)
        return token


def translate(what: str, exc: GitHubException) -> GitHubError:
    """githubkit's exception as our GitHubError (status 0: no HTTP answer)."""
    if isinstance(exc, RateLimitExceeded):
        seconds = exc.retry_after.total_seconds() if exc.retry_after is not None else 60.0
        return GitHubError(f"{what}: rate limited", status=exc.response.status_code, retry_after_s=seconds)
    if isinstance(exc, RequestFailed):
        status = exc.response.status_code
        retry_after = exc.response.headers.get("retry-after")
        delay = float(retry_after) if retry_after and retry_after.isdigit() else None
        return GitHubError(f"{what}: GitHub answered {status}", status=status, retry_after_s=delay)
    if isinstance(exc, RequestTimeout | RequestError):
        return GitHubError(f"{what}: {type(exc).__name__}", status=0)
    return GitHubError(f"{what}: {exc}", status=0)


def retryable(error: GitHubError) -> bool:
    return (
        error.status == 0
        or error.status >= 500
        or error.status == 429
        or (error.status == 403 and error.retry_after_s is not None)
    )
