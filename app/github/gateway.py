"""Every call the app makes to GitHub, through githubkit — and nowhere else.

githubkit's `RequestFailed` becomes `GitHubError(status, retry_after_s=...)` here and only
here. Server errors (5xx), rate limits (403/429 with `retry-after` or `x-ratelimit-remaining:
0`) and transport failures are retried with exponential backoff that honours `Retry-After`,
for at most `retry_budget_s` (default 60 s) in total; then the error goes up and the job is
re-queued.

Installation tokens live in one cache, `GitHubClients.tokens`: the same token authenticates
githubkit's calls (`InstallationTokenAuth`) and git over HTTPS, minted once per installation and
again five minutes before it expires, or when GitHub answers 401 to it (the call is then made
once more with the new token). A gateway is made per job and remembers the repository and pull
request it read, so a job asks for each once.

Files are read through the contents API, which serves files of up to 1 MB (CONTENTS_MAX_BYTES)
and answers 403 `too_large` for bigger ones: a file the listing shows over that size is not
asked for, and either way the reader gets `FileTooLarge` naming the file.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Generator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
from githubkit import AppAuthStrategy, GitHub, TokenAuthStrategy
from githubkit.auth.base import BaseAuthStrategy
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
TOKEN_REFRESH_BEFORE_EXPIRY = timedelta(minutes=5)  # a token is not handed out closer to its end


def utc_now() -> datetime:
    return datetime.now(UTC)


COMMENTS_PER_PAGE = 100
# The contents API returns files up to 1 MB; above, 403 `too_large` for its JSON media type
# (https://docs.github.com/rest/repos/contents#get-repository-content). Taken as 1 MiB.
CONTENTS_MAX_BYTES = 1024 * 1024


class GitHubError(AqmError):
    """GitHub refused or failed after our retries. `status` 0 means no HTTP answer at all;
    `codes` are the `errors[].code` of GitHub's answer (`too_large`, `already_exists`, ...)."""

    def __init__(
        self, message: str, *, status: int, retry_after_s: float | None = None, codes: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s
        self.codes = codes


class FileTooLarge(GitHubError):
    """A file over CONTENTS_MAX_BYTES, which the contents API does not return (`size`: when known)."""

    def __init__(self, path: str, size: int | None) -> None:
        super().__init__(f"{path} is over {CONTENTS_MAX_BYTES} bytes", status=403, codes=("too_large",))
        self.path = path
        self.size = size


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
    base_ref: str
    is_fork: bool  # from another repository (or one since deleted): its branch is not ours to push to
    title: str
    body: str


@dataclass(frozen=True, slots=True)
class Issue:
    number: int
    title: str
    body: str
    is_pull: bool
    author: str


@dataclass(frozen=True, slots=True)
class StateCommit:
    """A commit of the Git Data API as aqm's state refs need it: who made it, and whether GitHub
    signed it (it does for what an App's token commits through the API)."""

    sha: str
    message: str
    tree: str
    author: str
    verified: bool


@dataclass(frozen=True, slots=True)
class ThreadComment:
    id: int
    body: str
    author: str  # login; "" for a deleted account


class SharedTransport(httpx.AsyncBaseTransport):
    """One connection pool under every githubkit client. githubkit opens an httpx client per call
    and closes it after, closing its transport too: without this, each call would build a TLS
    context and open a new connection to GitHub. `close()` (by `GitHubClients`) really closes."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Called by githubkit's per-call client: the pool stays open."""

    async def close(self) -> None:
        await self.inner.aclose()


class GitHubClients:
    """One githubkit client per installation (or one for a token), built on first use, all on one
    connection pool.

    `transport` points githubkit at the simulator in tests and in the playground."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str | None = None,
        app_id: str | None = None,
        private_key: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.base_url = base_url
        self.token = token
        self.app_id = app_id
        self.private_key = private_key
        self.transport = SharedTransport(transport or httpx.AsyncHTTPTransport(trust_env=True))
        self.now = now  # compared with the tokens' `expires_at`; tests pass the simulator's clock
        self.cache = MemCacheStrategy()
        self.clients: dict[int | None, GitHub[Any]] = {}
        self.tokens: dict[int, tuple[str, datetime]] = {}  # installation -> (token, renew at)
        self.token_locks: dict[int, asyncio.Lock] = {}
        self.permissions: dict[tuple[int | None, str, str], tuple[str, float]] = {}
        # installations (None: the token) GitHub refused check runs to: they get commit statuses
        self.statuses_only: set[int | None] = set()

    def client(self, installation_id: int | None) -> GitHub[Any]:
        if installation_id not in self.clients:
            self.clients[installation_id] = self._build(self._auth(installation_id))
        return self.clients[installation_id]

    async def close(self) -> None:
        await self.transport.close()

    def gateway(self, installation_id: int | None, *, retry_budget_s: float = 60.0) -> GitHubGateway:
        return GitHubGateway(self, installation_id, retry_budget_s=retry_budget_s)

    async def installation_token(self, installation_id: int) -> str:
        """The installation's token, minted when there is none or it is within five minutes of
        its end; concurrent callers wait for one mint."""
        cached = self.tokens.get(installation_id)
        if cached is not None and self.now() < cached[1]:
            return cached[0]
        async with self.token_locks.setdefault(installation_id, asyncio.Lock()):
            cached = self.tokens.get(installation_id)
            if cached is not None and self.now() < cached[1]:
                return cached[0]
            app = self.client(None).rest
            response = await app.apps.async_create_installation_access_token(installation_id)
            data = response.parsed_data
            expires_at = datetime.strptime(data.expires_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            self.tokens[installation_id] = (data.token, expires_at - TOKEN_REFRESH_BEFORE_EXPIRY)
            return str(data.token)

    def forget_token(self, installation_id: int, token: str) -> None:
        """GitHub refused `token` (revoked, or expired early): the next call mints a new one."""
        if self.tokens.get(installation_id, ("", None))[0] == token:
            del self.tokens[installation_id]

    def _auth(self, installation_id: int | None) -> Any:
        if self.app_id is not None and self.private_key is not None:
            if installation_id is None:
                return AppAuthStrategy(self.app_id, self.private_key)
            return InstallationTokenAuth(self, installation_id)
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


@dataclass(frozen=True, slots=True)
class InstallationTokenAuth(BaseAuthStrategy):
    """githubkit authentication with `GitHubClients`' installation tokens (githubkit's own
    installation auth would mint and cache a second token next to the one git needs)."""

    clients: GitHubClients
    installation_id: int

    def get_auth_flow(self, github: Any) -> httpx.Auth:
        return _InstallationTokenFlow(self.clients, self.installation_id)


class _InstallationTokenFlow(httpx.Auth):
    def __init__(self, clients: GitHubClients, installation_id: int) -> None:
        self.clients = clients
        self.installation_id = installation_id

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("the app calls GitHub asynchronously only")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.clients.installation_token(self.installation_id)
        request.headers["Authorization"] = f"token {token}"
        response = yield request
        if response.status_code == 401:  # revoked or expired early: once more with a new token
            self.clients.forget_token(self.installation_id, token)
            token = await self.clients.installation_token(self.installation_id)
            request.headers["Authorization"] = f"token {token}"
            yield request


class GitHubGateway:
    """The calls one job makes, as one installation. Made per job: it remembers the repository
    and the pull requests it read (a job reads them at its start and again when it opens its PR)."""

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
        self.repositories: dict[str, Repository] = {}
        self.pulls: dict[tuple[str, int], PullRequest] = {}

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
        key = f"{owner}/{repo}".lower()
        if key not in self.repositories:
            data = (
                await self.call("get repository", lambda: self.rest.repos.async_get(owner, repo))
            ).parsed_data
            self.repositories[key] = Repository(
                data.full_name, data.default_branch, data.clone_url, bool(data.private)
            )
        return self.repositories[key]

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
        """The pull request as this job first read it (its head SHA included)."""
        key = (f"{owner}/{repo}".lower(), number)
        if key not in self.pulls:
            self.pulls[key] = await self._read_pull(owner, repo, number)
        return self.pulls[key]

    async def _read_pull(self, owner: str, repo: str, number: int) -> PullRequest:
        data = (
            await self.call("get pull request", lambda: self.rest.pulls.async_get(owner, repo, number))
        ).parsed_data
        head_repo = data.head.repo
        head_name = head_repo.full_name if head_repo else f"{owner}/{repo}"
        return PullRequest(
            number,
            data.head.sha,
            data.head.ref,
            head_name,
            data.base.ref,
            head_repo is None or head_name.lower() != f"{owner}/{repo}".lower(),
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

    async def read_root_files(
        self, owner: str, repo: str, ref: str, names: Collection[str]
    ) -> dict[str, str]:
        """Those of `names` that are files at the repository's root at `ref`, as {name: text}: one
        listing of the root, then one read per file found (none for the files that are absent)."""
        response = await self.call(
            "list files", lambda: self.rest.repos.async_get_content(owner, repo, "", ref=ref)
        )
        entries = response.parsed_data if isinstance(response.parsed_data, list) else []
        found: dict[str, str] = {}
        for entry in entries:
            if entry.type == "file" and entry.name in names:
                content = await self._file_content(owner, repo, ref, str(entry.path))
                found[entry.name] = base64.b64decode(content).decode("utf-8", errors="replace")
        return found

    async def _read_dir(
        self, owner: str, repo: str, ref: str, root: str, path: str, files: dict[str, str]
    ) -> None:
        response = await self._contents("read files", owner, repo, path, ref)
        entries = response.parsed_data if isinstance(response.parsed_data, list) else [response.parsed_data]
        for entry in entries:
            if entry.type == "dir":
                await self._read_dir(owner, repo, ref, root, entry.path, files)
            elif entry.type == "file":
                if entry.size > CONTENTS_MAX_BYTES:  # GitHub would refuse it: do not ask
                    raise FileTooLarge(str(entry.path), int(entry.size))
                content = getattr(entry, "content", None)
                if not isinstance(content, str):
                    content = await self._file_content(owner, repo, ref, str(entry.path))
                name = entry.path[len(root) + 1 :] if entry.path != root else entry.path.rsplit("/", 1)[-1]
                files[name] = base64.b64decode(content).decode("utf-8", errors="replace")

    async def _file_content(self, owner: str, repo: str, ref: str, path: str) -> str:
        single = await self._contents("read file", owner, repo, path, ref)
        return str(single.parsed_data.content)

    async def _contents(self, what: str, owner: str, repo: str, path: str, ref: str) -> Any:
        """One contents API call; GitHub's 403 `too_large` becomes FileTooLarge naming `path`."""
        try:
            return await self.call(
                what, lambda: self.rest.repos.async_get_content(owner, repo, path, ref=ref)
            )
        except GitHubError as exc:
            if exc.status == 403 and "too_large" in exc.codes:
                raise FileTooLarge(path, None) from None
            raise

    async def comments(self, owner: str, repo: str, number: int) -> list[ThreadComment]:
        """Every comment of an issue or PR, oldest first, 100 a page."""
        found: list[ThreadComment] = []
        page = 1
        while True:

            def one_page(page: int = page) -> Awaitable[Any]:
                return self.rest.issues.async_list_comments(  # type: ignore[no-any-return]
                    owner, repo, number, per_page=COMMENTS_PER_PAGE, page=page
                )

            batch = (await self.call("list comments", one_page)).parsed_data
            found.extend(
                ThreadComment(int(c.id), c.body or "", c.user.login if c.user else "") for c in batch
            )
            if len(batch) < COMMENTS_PER_PAGE:
                return found
            page += 1

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

    async def create_commit_status(
        self,
        owner: str,
        repo: str,
        sha: str,
        *,
        state: str,
        context: str,
        description: str,
        target_url: str | None,
    ) -> None:
        """A commit status (https://docs.github.com/rest/commits/statuses): what a classic PAT can
        write where check runs need a GitHub App. GitHub refuses a description over 140 chars."""
        fields: dict[str, Any] = {"state": state, "context": context, "description": description[:140]}
        if target_url:
            fields["target_url"] = target_url
        await self.call(
            "create commit status",
            lambda: self.rest.repos.async_create_commit_status(owner, repo, sha, **fields),
        )

    async def create_pull(self, owner: str, repo: str, *, head: str, base: str, title: str, body: str) -> int:
        response = await self.call(
            "open pull request",
            lambda: self.rest.pulls.async_create(owner, repo, head=head, base=base, title=title, body=body),
        )
        return int(response.parsed_data.number)

    # ---- the Git Data API: a state ref (the Action's tasks) ---------------------------------

    async def ref_sha(self, owner: str, repo: str, ref: str) -> str | None:
        """The commit `refs/<ref>` points at; None when there is no such ref."""
        try:
            response = await self.call("get ref", lambda: self.rest.git.async_get_ref(owner, repo, ref))
        except GitHubError as exc:
            if exc.status == 404:
                return None
            raise
        return str(response.parsed_data.object_.sha)

    async def git_commit(self, owner: str, repo: str, sha: str) -> StateCommit:
        response = await self.call("get commit", lambda: self.rest.git.async_get_commit(owner, repo, sha))
        data = response.parsed_data
        verification = data.verification
        verified = bool(verification is not None and verification.verified)
        return StateCommit(str(data.sha), data.message, str(data.tree.sha), data.author.name, verified)

    async def git_blob(self, owner: str, repo: str, sha: str) -> bytes:
        response = await self.call("get blob", lambda: self.rest.git.async_get_blob(owner, repo, sha))
        return base64.b64decode(response.parsed_data.content)

    async def commit_file(
        self, owner: str, repo: str, *, path: str, content: bytes, message: str, parent: str | None
    ) -> str:
        """A commit whose tree holds one file, on top of `parent`: three calls (blob, tree, commit)."""
        encoded = base64.b64encode(content).decode()
        blob = await self.call(
            "create blob",
            lambda: self.rest.git.async_create_blob(owner, repo, content=encoded, encoding="base64"),
        )
        item = {"path": path, "mode": "100644", "type": "blob", "sha": blob.parsed_data.sha}
        tree = await self.call(
            "create tree", lambda: self.rest.git.async_create_tree(owner, repo, tree=[item])
        )
        parents = [parent] if parent else []
        commit = await self.call(
            "create commit",
            lambda: self.rest.git.async_create_commit(
                owner, repo, message=message, tree=tree.parsed_data.sha, parents=parents
            ),
        )
        return str(commit.parsed_data.sha)

    async def move_ref(self, owner: str, repo: str, ref: str, sha: str, *, create: bool) -> None:
        """Point `refs/<ref>` at `sha`: created, or moved forward only (GitHubError 422 when another
        writer moved it since: not a fast forward)."""
        if create:
            await self.call(
                "create ref",
                lambda: self.rest.git.async_create_ref(owner, repo, ref=f"refs/{ref}", sha=sha),
            )
            return
        await self.call(
            "update ref",
            lambda: self.rest.git.async_update_ref(owner, repo, ref, sha=sha, force=False),
        )

    async def installation_token(self) -> str | None:
        """A token for git over HTTPS (put in a header, never in a URL); the PAT with token auth."""
        clients = self.clients
        installation_id = self.installation_id
        if installation_id is None or clients.app_id is None:
            return clients.token
        return await self.call("installation token", lambda: clients.installation_token(installation_id))


def translate(what: str, exc: GitHubException) -> GitHubError:
    """githubkit's exception as our GitHubError (status 0: no HTTP answer)."""
    if isinstance(exc, RateLimitExceeded):
        seconds = exc.retry_after.total_seconds() if exc.retry_after is not None else 60.0
        return GitHubError(f"{what}: rate limited", status=exc.response.status_code, retry_after_s=seconds)
    if isinstance(exc, RequestFailed):
        status = exc.response.status_code
        retry_after = exc.response.headers.get("retry-after")
        delay = float(retry_after) if retry_after and retry_after.isdigit() else None
        return GitHubError(
            f"{what}: GitHub answered {status}",
            status=status,
            retry_after_s=delay,
            codes=error_codes(exc.response.raw_response),
        )
    if isinstance(exc, RequestTimeout | RequestError):
        return GitHubError(f"{what}: {type(exc).__name__}", status=0)
    return GitHubError(f"{what}: {exc}", status=0)


def error_codes(response: httpx.Response) -> tuple[str, ...]:
    """The `errors[].code` values of a GitHub error body (none when it has no such list)."""
    try:
        errors = response.json().get("errors")
    except (ValueError, AttributeError):  # not JSON, or not an object
        return ()
    if not isinstance(errors, list):
        return ()
    return tuple(e["code"] for e in errors if isinstance(e, dict) and isinstance(e.get("code"), str))


def retryable(error: GitHubError) -> bool:
    return (
        error.status == 0
        or error.status >= 500
        or error.status == 429
        or (error.status == 403 and error.retry_after_s is not None)
    )
