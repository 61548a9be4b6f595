"""The worker's file operations inside a stage's workspace, which never follow a link out of it.

A workspace holds what a pull request and its stages put there, links included: `CLAUDE.md ->
../../aqm.db` must be removed as a link, never written through. So every operation here walks
from an open descriptor of the workspace's root, one component at a time, with `O_NOFOLLOW` (and
`O_DIRECTORY`), lists directories with `scandir` on that descriptor and judges each entry by
`lstat` (`follow_symlinks=False`): a link is an entry like any other file, removed as such, and
never descended into or opened. New files are created with `O_CREAT | O_EXCL | O_NOFOLLOW`, so a
write lands in a fresh regular file or fails.

A workspace nested deeper than `MAX_DEPTH` directories is refused (`WorkspaceError`) rather than
walked with one open descriptor per level.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from app.errors import AqmError

MAX_DEPTH = 200  # directories below the root; a real repository stays far below
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class WorkspaceError(AqmError):
    """A file operation in a workspace could not complete; the message names the path."""


@contextmanager
def opened_dir(name: str | Path, *, dir_fd: int | None = None) -> Iterator[int]:
    """A descriptor of the directory `name` (relative to `dir_fd`), refusing a link."""
    fd = os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    try:
        yield fd
    finally:
        os.close(fd)


def prune(root: Path, names: Collection[str], *, nested_only: bool = False) -> list[str]:
    """Remove every entry under `root` whose name is one of `names` (with `nested_only`, not those
    right in `root`), as what it is (a link is unlinked, a folder removed with what it holds), and
    return their paths (relative, sorted)."""
    removed: list[str] = []
    try:
        with opened_dir(root) as fd:
            _prune_in(fd, "", frozenset(names), removed, depth=0, keep_root=nested_only)
    except OSError as exc:
        raise WorkspaceError(f"cannot clean the workspace: {_describe(exc, root)}") from None
    return sorted(removed)


def _prune_in(
    fd: int, prefix: str, names: frozenset[str], removed: list[str], *, depth: int, keep_root: bool
) -> None:
    if depth > MAX_DEPTH:
        raise WorkspaceError(f"the workspace is nested deeper than {MAX_DEPTH} folders at `{prefix}`")
    with os.scandir(fd) as entries:
        listed = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries]
    for name, is_dir in listed:
        relative = f"{prefix}{name}"
        if name in names and not (keep_root and depth == 0):
            _remove(fd, name, is_dir=is_dir)
            removed.append(relative)
        elif is_dir:
            with opened_dir(name, dir_fd=fd) as child:
                _prune_in(child, f"{relative}/", names, removed, depth=depth + 1, keep_root=keep_root)


def _remove(fd: int, name: str, *, is_dir: bool) -> None:
    """Remove one entry of the directory `fd`: rmtree works on descriptors and unlinks links."""
    if is_dir:
        shutil.rmtree(name, dir_fd=fd)
    else:
        os.unlink(name, dir_fd=fd)


def write_new_files(root: Path, files: Mapping[str, str]) -> None:
    """Write each of `files` (relative path -> text) as a new regular file under `root`, making
    missing folders; an existing entry or a link on the way is an error, never written through."""
    for relative, text in files.items():
        try:
            _write_new(root, relative, text.encode())
        except OSError as exc:
            raise WorkspaceError(f"cannot write `{relative}`: {_describe(exc, None)}") from None


def _write_new(root: Path, relative: str, data: bytes) -> None:
    *folders, name = _parts(relative)
    with opened_folder(root, folders, create=True) as fd:
        out = os.open(name, NEW_FILE_FLAGS, 0o644, dir_fd=fd)
        with os.fdopen(out, "wb") as stream:
            stream.write(data)


@contextmanager
def opened_folder(root: Path, folders: list[str], *, create: bool = False) -> Iterator[int]:
    """A descriptor of `root/folders…`, opened one component at a time, none of them a link
    (with `create`, missing ones are made)."""
    with opened_dir(root) as top:
        fd = os.dup(top)
        try:
            for folder in folders:
                if create and not _is_entry(fd, folder):
                    os.mkdir(folder, 0o755, dir_fd=fd)
                child = os.open(folder, DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)


def _is_entry(fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _parts(relative: str) -> list[str]:
    """The components of a relative path; anything that could leave the root is refused."""
    parts = relative.split("/")
    if relative.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise WorkspaceError(f"not a path inside the workspace: `{relative}`")
    return parts


def _describe(exc: OSError, root: Path | None) -> str:
    where = exc.filename if exc.filename is not None and exc.filename != str(root) else None
    return f"{where}: {exc.strerror}" if where else str(exc.strerror or exc)


def is_regular_file(root: Path, relative: str) -> bool:
    """`relative` names a regular file under `root`, reached without a link and without leaving it."""
    try:
        *folders, name = _parts(relative)
        with opened_folder(root, folders) as fd:
            return stat.S_ISREG(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
    except (OSError, WorkspaceError):
        return False
