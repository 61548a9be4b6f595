"""A thread's tasks kept on GitHub between workflow runs: `refs/aqm/threads/<number>`.

The Action has no database that outlives its job, so the rows of a thread's tasks (tasks, their
stages, their GitHub links) are saved, gzipped JSON in one file, as a commit on that ref through the
Git Data API, and loaded into the run's own SQLite store by the next workflow run on the thread.

- Who can write it: only a token with `contents: write` on the repository can move a ref, so a
  workflow run for a fork's PR (read-only token) cannot forge or alter it. State is loaded only from
  a commit GitHub signed (`verification.verified`: GitHub signs what an App's token, the Actions
  `GITHUB_TOKEN` included, commits through the API) whose author is a bot and whose message is the
  one written here; anything else — a commit pushed with git, made by a person's token — is refused,
  naming the commit and its author.
- Its size: stage outputs live in the thread's comments already; the state keeps every task that
  has not ended and the newest ENDED_KEPT ended ones (older ended tasks leave it), and a state over
  MAX_STATE_BYTES gzipped is not saved (the step fails, saying so).
- Races: each save is a child of the commit loaded and moves the ref forward only; a workflow run
  that lost a race (another run saved meanwhile) gets GitHub's "not a fast forward" and fails
  saying so, instead of overwriting it. The example workflows' `concurrency:` group per thread
  keeps such races from starting.
- Calls: loading is three (ref, commit, blob), saving four (blob, tree, commit, ref). A task's own
  PR gets `refs/aqm/threads/<pr>` pointed once at its thread's state (one call): a review there
  loads through it (two calls more) and saves to the thread's ref.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, insert, select

from app.errors import AqmError
from app.github.gateway import GitHubError, GitHubGateway
from app.store.store import TaskStore
from app.store.tables import StageRow, TaskLinkRow, TaskRow

STATE_FILE = "aqm-state.json.gz"
STATE_TITLE = "aqm task state"
MAX_STATE_BYTES = 512 * 1024  # gzipped; GitHub's blobs go to 100 MB, a thread's tasks need far less
ENDED_KEPT = 10
ENDED = {"completed", "failed", "cancelled", "stalled"}
TABLES: tuple[Table, ...] = (TaskRow.__table__, TaskLinkRow.__table__, StageRow.__table__)  # type: ignore[assignment]


class StateError(AqmError):
    """The thread's saved state cannot be used or saved; the message says why, for the run's log."""


@dataclass
class ThreadState:
    """The state ref of one thread, as loaded: saving builds on the commit it was loaded from."""

    gateway: GitHubGateway
    owner: str
    repo: str
    number: int
    loaded_from: str | None = None
    loaded_bytes: bytes | None = None
    pull_refs: set[int] = field(default_factory=set)  # the tasks' own PRs whose ref points here

    @property
    def ref(self) -> str:
        return f"aqm/threads/{self.number}"

    async def load(self, store: TaskStore) -> None:
        """Put the thread's saved tasks into `store` (nothing when the ref does not exist yet).

        The ref of a task's own PR points at a state commit of the thread the task belongs to: that
        thread's tasks are loaded (and saved) then, from its own ref."""
        found = await self._read(self.number)
        if found is None:
            return
        sha, thread, blob = found
        if thread != self.number:
            self.number = thread
            found = await self._read(thread)
            if found is None or found[1] != thread:
                raise StateError(f"refs/aqm/threads/{thread} is missing or names another thread")
            sha, _, blob = found
        data = await self.gateway.git_blob(self.owner, self.repo, blob)
        rows = json.loads(gzip.decompress(data))
        await restore(store, rows)
        self.loaded_from, self.loaded_bytes = sha, data
        self.pull_refs = {link["pr_number"] for link in rows.get("task_links", []) if link.get("pr_number")}

    async def _read(self, number: int) -> tuple[str, int, str] | None:
        """The state commit `refs/aqm/threads/<number>` points at, the thread it is of and its blob;
        StateError when this action did not write it."""
        ref = f"aqm/threads/{number}"
        sha = await self.gateway.ref_sha(self.owner, self.repo, ref)
        if sha is None:
            return None
        commit = await self.gateway.git_commit(self.owner, self.repo, sha)
        named = _named(commit.message)
        if not (commit.verified and commit.author.endswith("[bot]") and named is not None):
            raise StateError(
                f"refs/{ref} points at commit {sha[:12]} by {commit.author!r}, which this action "
                "did not write (only commits GitHub signed for a bot's token, with aqm's message, are "
                "read). Delete the ref to start this thread's tasks afresh."
            )
        return sha, *named

    async def save(self, store: TaskStore) -> bool:
        """Save the thread's tasks when they changed; False when there was nothing to save."""
        rows = await snapshot(store)
        if not rows["tasks"] and self.loaded_from is None:
            return False
        data = gzip.compress(json.dumps(rows, sort_keys=True).encode(), mtime=0)
        if self.loaded_bytes is not None and gzip.decompress(self.loaded_bytes) == gzip.decompress(data):
            return False
        if len(data) > MAX_STATE_BYTES:
            raise StateError(
                f"this thread's task state is {len(data):,} bytes gzipped, over the {MAX_STATE_BYTES:,} "
                "this action saves; it was not saved."
            )
        await self._commit(data)
        await self._point_pulls(rows["task_links"])
        return True

    async def _commit(self, data: bytes) -> None:
        gateway, owner, repo = self.gateway, self.owner, self.repo
        # the blob's SHA goes in the (signed) message, so that loading takes no tree call
        blob = _git_blob_sha(data)
        sha = await gateway.commit_file(
            owner,
            repo,
            path=STATE_FILE,
            content=data,
            message=f"{STATE_TITLE}\n\nthread {self.number}\nblob {blob}",
            parent=self.loaded_from,
        )
        try:
            await gateway.move_ref(owner, repo, self.ref, sha, create=self.loaded_from is None)
        except GitHubError as exc:
            if exc.status != 422:
                raise
            raise StateError(
                f"another workflow run saved this thread's tasks (refs/{self.ref}) while this one ran; "
                "this run's changes to them were not saved. Give the workflow a `concurrency:` group "
                "per issue or pull request, and comment the command again."
            ) from None
        self.loaded_from, self.loaded_bytes = sha, data

    async def _point_pulls(self, links: list[dict[str, Any]]) -> None:
        """Point the ref of each task's own PR (new since the load) at this thread's state, so that
        a review there finds the task: one call per PR, once."""
        for link in links:
            pr = link.get("pr_number")
            if not pr or pr == self.number or pr in self.pull_refs or self.loaded_from is None:
                continue
            try:
                await self.gateway.move_ref(
                    self.owner, self.repo, f"aqm/threads/{pr}", self.loaded_from, create=True
                )
            except GitHubError as exc:
                if exc.status != 422:  # it exists already: it points to this thread
                    raise
            self.pull_refs.add(pr)


def _named(message: str) -> tuple[int, str] | None:
    """The thread and state blob an aqm state commit's message names, else None."""
    lines = message.strip().splitlines()
    if len(lines) != 4 or lines[0] != STATE_TITLE or lines[1]:
        return None
    thread, blob = lines[2].removeprefix("thread "), lines[3].removeprefix("blob ")
    if not (lines[2].startswith("thread ") and thread.isdigit() and lines[3].startswith("blob ")):
        return None
    return (int(thread), blob) if len(blob) == 40 and all(c in "0123456789abcdef" for c in blob) else None


def _git_blob_sha(data: bytes) -> str:
    """The SHA git gives a blob of `data` (what the Git Data API answers for it)."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


async def snapshot(store: TaskStore) -> dict[str, list[dict[str, Any]]]:
    """The rows of the run's tasks (those it loaded, and those it started): the ones not ended, and
    the newest ENDED_KEPT ended ones."""
    tasks = TaskRow.__table__
    async with store.transaction() as connection:
        query = select(tasks.c.id, tasks.c.status).order_by(tasks.c.created_at.desc())
        found = (await connection.execute(query)).all()
        ended = [task_id for task_id, status in found if status in ENDED][:ENDED_KEPT]
        kept = [task_id for task_id, status in found if status not in ENDED] + ended
        rows: dict[str, list[dict[str, Any]]] = {}
        for table in TABLES:
            key = table.c.id if table.name == "tasks" else table.c.task_id
            result = await connection.execute(select(table).where(key.in_(kept)))
            rows[table.name] = [_jsonable(dict(row)) for row in result.mappings()]
    return rows


async def restore(store: TaskStore, rows: dict[str, Any]) -> None:
    """Put saved rows into an empty store (the run's own), tasks first."""
    async with store.transaction() as connection:
        for table in TABLES:
            await connection.execute(delete(table))
            values = [_typed(table, row) for row in rows.get(table.name, [])]
            if values:
                await connection.execute(insert(table), values)


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def _typed(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """A saved row with its timestamps as datetimes again; unknown columns are dropped."""
    typed: dict[str, Any] = {}
    for column in table.columns:
        if column.name not in row:
            continue
        value = row[column.name]
        is_time = column.type.__class__.__name__ == "UtcDateTime"
        typed[column.name] = datetime.fromisoformat(value) if is_time and value is not None else value
    return typed
