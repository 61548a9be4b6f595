"""git, as the worker uses it: clone at a SHA, restore instruction files, commit and push.

The remote is the repository's `clone_url` as the REST API gives it, so GitHub Enterprise and
the simulator's `file://` remotes work unchanged. Over HTTPS the installation token travels in
an `http.extraHeader` set through GIT_CONFIG_* variables: never in a URL, an argument or a log.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from app.errors import AqmError

GIT_TIMEOUT_S = 300.0
INSTRUCTION_FILES = ("CLAUDE.md", "CLAUDE.local.md", "AGENTS.md", "AGENTS.override.md", "GEMINI.md")
INSTRUCTION_DIRS = (".claude", ".gemini", ".codex")
BOT_NAME, BOT_EMAIL = "aqm[bot]", "aqm-bot@users.noreply.github.com"


class GitFailed(AqmError):
    """A git command failed; the message carries its stderr tail (never a token)."""


def auth_env(token: str | None) -> dict[str, str]:
    """Environment that makes git send the token as a header (only for HTTPS remotes)."""
    env = {
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


async def git(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout_s: float = GIT_TIMEOUT_S
) -> str:
    """Run git; its stdout, or GitFailed with the stderr tail."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("AQM_", "GIT_"))} | dict(env or {})
    process = await asyncio.create_subprocess_exec(
        "git",
        *args,
        cwd=cwd,
        env=full_env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise GitFailed(f"git {args[0]} timed out after {timeout_s:.0f} s") from None
    if process.returncode != 0:
        raise GitFailed(f"git {args[0]} failed: {stderr.decode(errors='replace').strip()[-500:]}")
    return stdout.decode(errors="replace")


async def checkout(
    clone_url: str, sha: str, into: Path, *, token: str | None, fetch_ref: str | None = None
) -> None:
    """A working copy of `clone_url` at `sha` (fetching `fetch_ref` too, e.g. a PR head)."""
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    env = auth_env(token)
    await git("init", "-q", cwd=into, env=env)
    await git("remote", "add", "origin", clone_url, cwd=into, env=env)
    refs = [sha] if fetch_ref is None else [fetch_ref]
    try:
        await git("fetch", "-q", "--depth=50", "origin", *refs, cwd=into, env=env)
    except GitFailed:
        await git("fetch", "-q", "origin", cwd=into, env=env)  # servers that refuse fetching a bare SHA
    await git("checkout", "-q", "--detach", sha, cwd=into, env=env)


async def restore_instruction_files(workdir: Path, default_files: Mapping[str, str]) -> list[str]:
    """Replace every agent instruction file with the default branch's version (or remove it).

    `default_files` maps repository paths to their text on the default branch. Returns the
    paths changed. Runs before any CLI starts in a PR's workspace."""
    changed: list[str] = []
    for path in sorted(workdir.rglob("*")):
        relative = path.relative_to(workdir).as_posix()
        if relative.startswith(".git/") or not _is_instruction(path, workdir):
            continue
        if path.is_dir():
            shutil.rmtree(path)
            changed.append(relative)
        elif relative in default_files:
            if path.read_text(errors="replace") != default_files[relative]:
                path.write_text(default_files[relative])
                changed.append(relative)
        else:
            path.unlink()
            changed.append(relative)
    for relative, text in default_files.items():
        target = workdir / relative
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            changed.append(relative)
    return changed


def _is_instruction(path: Path, root: Path) -> bool:
    """An agent instruction file, or a CLI's settings folder, anywhere in the tree."""
    if not path.exists() or path.is_relative_to(root / ".git"):
        return False
    return (path.is_file() and path.name in INSTRUCTION_FILES) or (
        path.is_dir() and path.name in INSTRUCTION_DIRS
    )


async def commit_all(workdir: Path, message: str, *, ignore: tuple[str, ...] = ()) -> str | None:
    """Commit every change in the working copy; the new SHA, or None when nothing changed."""
    await git("add", "-A", "--", ".", *(f":(exclude){p}" for p in ignore), cwd=workdir, env=auth_env(None))
    status = await git("status", "--porcelain", cwd=workdir)
    staged = [line for line in status.splitlines() if line and line[0] not in (" ", "?")]
    if not staged:
        return None
    await git("commit", "-q", "-m", message, cwd=workdir, env=auth_env(None))
    return (await git("rev-parse", "HEAD", cwd=workdir)).strip()


async def push(workdir: Path, branch: str, *, token: str | None) -> None:
    """Push HEAD to `branch` on origin (no other flags: never a force push)."""
    await git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=workdir, env=auth_env(token))
