"""git, as the worker uses it: check out at a SHA, restore instruction files, commit and push.

Git belongs to the orchestrator, never to the stage. A task's repository is split in two: the work
tree is the stage's workspace (`<data>/workspaces/T-…`), the git directory lives beside it
(`<data>/git/T-…`), outside what a sandboxed stage can see. So a `.git/hooks/pre-push`,
`.git/config` or `.git` file a stage writes in its workspace is never read, and never committed
(git skips an entry named `.git`; nested ones are removed before committing).

Every command names both directories (`--git-dir`, `--work-tree`: no discovery), reads no system
or global config (`GIT_CONFIG_NOSYSTEM`, `GIT_CONFIG_GLOBAL=/dev/null`, so no `includeIf` or
`safe.directory` from them either) and turns off what could run a program: hooks
(`core.hooksPath=/dev/null`, and `--no-verify`), fsmonitor, credential helpers, submodule recursion.
Filters, diff and merge drivers only exist in config, which only we write. Its environment is built
from an allowlist (`PATH`, proxies, CA files), never from the worker's: no LLM key or database
password reaches git or anything it starts. Fetches and pushes go to an explicit URL (the
repository's `clone_url` as the REST API gives it, so GitHub Enterprise and the simulator's
`file://` remotes work unchanged), never a named remote; over HTTPS the installation token
travels in an `http.extraHeader`, in the environment of that one command only, with redirects off:
never in a URL, an argument or a log.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.errors import AqmError
from app.runtimes import workspace

GIT_TIMEOUT_S = 300.0
INSTRUCTION_FILES = ("CLAUDE.md", "CLAUDE.local.md", "AGENTS.md", "AGENTS.override.md", "GEMINI.md")
INSTRUCTION_DIRS = (".claude", ".gemini", ".codex")
BOT_NAME, BOT_EMAIL = "aqm[bot]", "aqm-bot@users.noreply.github.com"
NOT_COMMITTED = tuple(
    f":(exclude,glob){pattern}"
    for pattern in (
        *(f"**/{name}" for name in INSTRUCTION_FILES),
        *(f"**/{name}" for name in INSTRUCTION_DIRS),
        *(f"**/{name}/**" for name in INSTRUCTION_DIRS),
    )
)
PREPARED_MARKER = "aqm-prepared"  # in the git dir: the checkout completed
# what could make git run a program or read a file we did not choose, turned off for every command
SAFE_CONFIG = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.untrackedCache=false",
    "core.attributesFile=/dev/null",
    "core.excludesFile=/dev/null",
    "credential.helper=",
    "commit.gpgSign=false",
    "submodule.recurse=false",
    "fetch.recurseSubmodules=false",
    "protocol.ext.allow=never",
    "http.followRedirects=false",
)
# the worker's variables git may see: how to find programs and reach the network, nothing else
ENV_ALLOWED = (
    "PATH",
    "TMPDIR",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "GIT_SSL_CAINFO",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
)


class GitFailed(AqmError):
    """A git command failed; the message carries its stderr tail (never a token)."""


@dataclass(frozen=True, slots=True)
class Repo:
    """The worker's repository of one task: its git dir (ours) and its work tree (the workspace)."""

    git_dir: Path
    work_tree: Path

    @classmethod
    def of(cls, task_id: str, *, workspaces: Path, git_dirs: Path) -> Repo:
        return cls(git_dirs / task_id, workspaces / task_id)

    @property
    def prepared(self) -> bool:
        """The checkout completed (a fresh one is made otherwise); the workspace's own `.git`
        says nothing: a stage can write one."""
        return (self.git_dir / PREPARED_MARKER).is_file() and self.work_tree.is_dir()

    async def git(self, *args: str, token: str | None = None, stdin: bytes | None = None) -> str:
        """Run one git command on this repository (see the module docstring)."""
        argv = ["--git-dir", str(self.git_dir), "--work-tree", str(self.work_tree)]
        for setting in SAFE_CONFIG:
            argv += ["-c", setting]
        env = git_env(token)
        return await run_git(*argv, *args, cwd=self.work_tree, env=env, verb=args[0], stdin=stdin)


def git_env(token: str | None = None) -> dict[str, str]:
    """git's whole environment: the allowlisted variables, the bot's identity, no global or system
    config; with `token`, the header that authenticates this one command over HTTPS."""
    env = {name: os.environ[name] for name in ENV_ALLOWED if name in os.environ}
    env |= {
        "LC_ALL": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_ATTR_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": BOT_NAME,
        "GIT_AUTHOR_EMAIL": BOT_EMAIL,
        "GIT_COMMITTER_NAME": BOT_NAME,
        "GIT_COMMITTER_EMAIL": BOT_EMAIL,
    }
    if token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        env |= {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
        }
    return env


async def run_git(
    *args: str,
    cwd: Path,
    env: Mapping[str, str],
    verb: str | None = None,
    stdin: bytes | None = None,
    timeout_s: float = GIT_TIMEOUT_S,
) -> str:
    """Run git with exactly `env` (and `stdin`); its stdout, or GitFailed with the stderr tail
    (`verb` names the command in it, default the first argument). A timeout kills its group."""
    process = await asyncio.create_subprocess_exec(
        "git",
        *args,
        cwd=cwd,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    verb = verb or args[0]
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(stdin), timeout_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # git and its remote helper
        await process.wait()
        raise GitFailed(f"git {verb} timed out after {timeout_s:.0f} s") from None
    if process.returncode != 0:
        raise GitFailed(f"git {verb} failed: {stderr.decode(errors='replace').strip()[-500:]}")
    return stdout.decode(errors="replace")


async def checkout(repo: Repo, url: str, sha: str, *, token: str | None, refs: Sequence[str] = ()) -> None:
    """A fresh working copy of `url` at `sha` (fetching `refs` too when the server will not
    give a bare SHA, e.g. a branch or `refs/pull/N/head`); marked prepared once complete."""
    for path in (repo.work_tree, repo.git_dir):
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path)
    repo.work_tree.mkdir(parents=True)
    repo.git_dir.parent.mkdir(parents=True, exist_ok=True)
    await run_git(
        "init", "-q", "--bare", "--template=", str(repo.git_dir), cwd=repo.git_dir.parent, env=git_env()
    )
    fetch = ("fetch", "-q", "--no-tags", "--no-recurse-submodules")
    try:
        await repo.git(*fetch, "--depth=50", url, sha, token=token)
    except GitFailed:  # servers that refuse fetching a bare SHA
        await repo.git(*fetch, url, *(refs or ["+refs/heads/*:refs/remotes/source/*"]), token=token)
    await repo.git("checkout", "-q", "--detach", sha)
    (repo.git_dir / PREPARED_MARKER).write_text(sha + "\n")


def restore_instruction_files(work_tree: Path, default_files: Mapping[str, str]) -> list[str]:
    """Replace every agent instruction file and CLI settings folder, anywhere in the workspace, with
    the default branch's version (or nothing): each is removed as what it is (a link as a link)
    and `default_files` (repository path -> text) are written as fresh regular files.

    Runs before any stage runs in a workspace, each time a task runs. Returns the paths removed.
    Raises WorkspaceError when it cannot complete: the task must not run then."""
    removed = workspace.prune(work_tree, {*INSTRUCTION_FILES, *INSTRUCTION_DIRS})
    workspace.write_new_files(work_tree, default_files)
    return removed


async def commit_all(repo: Repo, message: str) -> str | None:
    """Commit every change in the workspace but instruction files and CLI settings folders (the
    restore put the default branch's there: committing them would revert a PR's own); the new SHA,
    or None when nothing changed. git skips a `.git` a stage made in the workspace's root (and never
    reads it: the git dir is ours); nested ones are removed first, or git would take their folders
    for submodules (their files are committed as files)."""
    workspace.prune(repo.work_tree, {".git"}, nested_only=True)
    await repo.git("add", "-A", "--", ".", *NOT_COMMITTED)
    status = await repo.git("status", "--porcelain", "--ignore-submodules=all")
    staged = [line for line in status.splitlines() if line and line[0] not in (" ", "?")]
    if not staged:
        return None
    await repo.git("commit", "-q", "--no-verify", "-F", "-", stdin=message.encode())  # text, not argv
    return await head(repo)


async def head(repo: Repo) -> str:
    return (await repo.git("rev-parse", "HEAD")).strip()


async def push(repo: Repo, url: str, branch: str, *, token: str | None) -> None:
    """Push HEAD to `branch` of the repository at `url` (no other flags: never a force push)."""
    await repo.git("push", "-q", "--no-verify", url, f"HEAD:refs/heads/{branch}", token=token)
