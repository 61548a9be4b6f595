"""Real git repositories on disk for the simulator: bare repos served as `file://` clone URLs.

Commits are written with plumbing (a temporary index, `write-tree`, `commit-tree`, `update-ref`),
so no working copy is needed to seed a repository or push a commit; `push_working_copy` pushes
from a clone the way a user (or the app) would.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Symlink:
    """A symbolic link to commit (mode 120000): its target, as git stores it."""

    target: str


FileContent = str | bytes | Symlink | None  # None deletes the path
ZERO_SHA = "0" * 40
SIM_AUTHOR = ("GitHub Simulator", "simulator@github.test")
OWNER_PUSH_ENV = "GITHUB_SIM_OWNER_PUSH"  # set by `push_working_copy`: the repository owner pushes
# A fork belongs to its owner: GitHub refuses a push to it with the base repository's installation
# token ("Permission to … denied", 403). Its `file://` remote carries no token, so the fork's
# pre-receive hook refuses every push that is not the owner's own (`push_working_copy`).
FORK_PRE_RECEIVE = f"""#!/bin/sh
test -n "${OWNER_PUSH_ENV}" && exit 0
echo "Permission to $(basename "$(dirname "$PWD")")/$(basename "$PWD") denied: a fork is not writable" \\
  "with the base repository's installation token" >&2
exit 1
"""


class GitError(RuntimeError):
    """A git command failed; the message carries git's stderr."""


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """One entry of `git ls-tree -l`."""

    mode: str
    type: str  # blob | tree | commit (a submodule)
    sha: str
    size: int
    path: str


@dataclass(frozen=True, slots=True)
class CommitInfo:
    sha: str
    message: str
    author_name: str
    author_email: str
    timestamp: int  # author date, epoch seconds
    tree: str
    parents: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FileChange:
    """One file of a diff between two commits, as `pulls.list_files` reports it."""

    path: str
    status: str  # added | removed | modified | renamed
    additions: int
    deletions: int
    blob_sha: str


def _env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env |= {"GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    return env | dict(extra or {})


def run_git(
    *args: str, cwd: Path | None = None, stdin: bytes | None = None, env: Mapping[str, str] | None = None
) -> bytes:
    """Run git and return stdout; raise GitError with stderr on a non-zero exit."""
    result = subprocess.run(
        ["git", *args], cwd=cwd, input=stdin, capture_output=True, env=_env(env), check=False
    )
    if result.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


class BareRepo:
    """One bare repository; every method runs the real git binary against it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def clone_url(self) -> str:
        return self.path.resolve().as_uri()

    def git(self, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None) -> bytes:
        return run_git("--git-dir", str(self.path), *args, stdin=stdin, env=env)

    @classmethod
    def init(cls, path: Path, default_branch: str) -> BareRepo:
        path.parent.mkdir(parents=True, exist_ok=True)
        run_git("init", "--quiet", "--bare", f"--initial-branch={default_branch}", str(path))
        return cls(path)

    @classmethod
    def clone_bare(cls, source: BareRepo, path: Path) -> BareRepo:
        """A fork: a bare copy of `source` with the same branches, which refuses the App's pushes."""
        path.parent.mkdir(parents=True, exist_ok=True)
        run_git("clone", "--quiet", "--bare", str(source.path), str(path))
        hook = path / "hooks" / "pre-receive"
        hook.write_text(FORK_PRE_RECEIVE)
        hook.chmod(0o755)
        return cls(path)

    # ---- reading ----------------------------------------------------------------------------

    def resolve(self, ref: str) -> str | None:
        """The commit SHA a branch, ref or SHA names, or None."""
        for candidate in (f"refs/heads/{ref}", ref):
            try:
                return (
                    self.git("rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}").decode().strip()
                )
            except GitError:
                continue
        return None

    def branches(self) -> dict[str, str]:
        out = self.git("for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads/").decode()
        return dict(line.split(" ", 1) for line in out.splitlines() if line)

    def ref_sha(self, ref: str) -> str | None:
        """The SHA a full ref (`refs/heads/x`) points at, or None."""
        try:
            return self.git("rev-parse", "--verify", "--quiet", ref).decode().strip()
        except GitError:
            return None

    def refs(self, prefix: str = "refs/") -> dict[str, str]:
        out = self.git("for-each-ref", "--format=%(refname) %(objectname)", prefix).decode()
        return dict(line.split(" ", 1) for line in out.splitlines() if line)

    def entry(self, sha: str, path: str) -> TreeEntry | None:
        """The tree entry at `path` in commit `sha` (None when absent); "" is the root tree."""
        if path == "":
            tree = self.commit(sha).tree
            return TreeEntry("040000", "tree", tree, 0, "")
        out = self.git("ls-tree", "-l", "--full-tree", sha, "--", path).decode()
        entries = _parse_ls_tree(out)
        return entries[0] if entries and entries[0].path == path else None

    def list_dir(self, sha: str, path: str) -> list[TreeEntry]:
        spec = f"{sha}:{path}" if path else f"{sha}^{{tree}}"
        entries = _parse_ls_tree(self.git("ls-tree", "-l", spec).decode())
        prefix = f"{path}/" if path else ""
        return [TreeEntry(e.mode, e.type, e.sha, e.size, prefix + e.path) for e in entries]

    def tree_of(self, ref: str) -> str | None:
        """The tree SHA that a tree SHA, commit SHA or branch names."""
        for candidate in (f"refs/heads/{ref}", ref):
            try:
                return self.git("rev-parse", "--verify", "--quiet", f"{candidate}^{{tree}}").decode().strip()
            except GitError:
                continue
        return None

    def walk(self, tree: str, *, recursive: bool) -> list[TreeEntry]:
        """The entries of a tree (with `recursive`, every subtree and file below it)."""
        return _parse_ls_tree(self.git("ls-tree", "-l", *(["-r", "-t"] if recursive else []), tree).decode())

    def blob(self, sha: str) -> bytes:
        return self.git("cat-file", "blob", sha)

    def read_file(self, ref: str, path: str) -> bytes | None:
        sha = self.resolve(ref)
        entry = self.entry(sha, path) if sha else None
        return self.blob(entry.sha) if entry and entry.type == "blob" else None

    def commit(self, sha: str) -> CommitInfo:
        fmt = "%H%x00%T%x00%P%x00%an%x00%ae%x00%at%x00%B"
        out = self.git("show", "-s", f"--format={fmt}", sha).decode()
        full, tree, parents, name, email, stamp, message = out.split("\x00", 6)
        return CommitInfo(full, message.strip(), name, email, int(stamp), tree, tuple(parents.split()))

    def count_commits(self, base: str, head: str) -> int:
        return int(self.git("rev-list", "--count", f"{base}..{head}").decode())

    def merge_base(self, a: str, b: str) -> str | None:
        try:
            return self.git("merge-base", a, b).decode().strip()
        except GitError:
            return None

    def changes(self, base: str, head: str) -> list[FileChange]:
        numstat = self.git("diff", "--numstat", "--no-renames", base, head).decode().splitlines()
        status = self.git("diff", "--name-status", "--no-renames", base, head).decode().splitlines()
        words = {"A": "added", "D": "removed", "M": "modified"}
        changes = []
        for stat_line, status_line in zip(numstat, status, strict=True):
            added, deleted, path = stat_line.split("\t", 2)
            letter = status_line.split("\t", 1)[0]
            entry = self.entry(head if letter != "D" else base, path)
            changes.append(
                FileChange(
                    path,
                    words.get(letter, "modified"),
                    int(added) if added != "-" else 0,
                    int(deleted) if deleted != "-" else 0,
                    entry.sha if entry else ZERO_SHA,
                )
            )
        return changes

    def diff(self, base: str, head: str) -> str:
        return self.git("diff", f"{base}...{head}").decode(errors="replace")

    # ---- writing ----------------------------------------------------------------------------

    def update_ref(self, ref: str, sha: str, *, expect_absent: bool = False) -> None:
        self.git("update-ref", ref, sha, *([""] if expect_absent else []))

    def delete_ref(self, ref: str) -> None:
        self.git("update-ref", "-d", ref)

    def fetch_into(self, source: BareRepo, src_ref: str, dst_ref: str) -> None:
        self.git("fetch", "--quiet", "--no-tags", str(source.path), f"+{src_ref}:{dst_ref}")

    def commit_files(
        self,
        branch: str,
        files: Mapping[str, FileContent],
        message: str,
        *,
        author: tuple[str, str] = SIM_AUTHOR,
        parent: str | None = None,
        timestamp: int | None = None,
    ) -> str:
        """Commit `files` on top of `parent` (default: the branch's tip) and move the branch there."""
        base = parent or self.resolve(branch)
        with tempfile.TemporaryDirectory(prefix="sim-index-") as tmp:
            index = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if base:
                self.git("read-tree", base, env=index)
            for path, content in files.items():
                self._stage(path, content, index)
            tree = self.git("write-tree", env=index).decode().strip()
        sha = self._commit_tree(tree, base, message, author, timestamp)
        self.update_ref(f"refs/heads/{branch}", sha)
        return sha

    def _stage(self, path: str, content: FileContent, index: Mapping[str, str]) -> None:
        if content is None:  # mode 0 removes the entry (--force-remove would need a work tree)
            self.git("update-index", "--index-info", stdin=f"0 {ZERO_SHA}\t{path}\n".encode(), env=index)
            return
        mode, content = ("120000", content.target) if isinstance(content, Symlink) else ("100644", content)
        data = content.encode() if isinstance(content, str) else content
        blob = self.git("hash-object", "-w", "--stdin", stdin=data).decode().strip()
        self.git("update-index", "--add", "--cacheinfo", f"{mode},{blob},{path}", env=index)

    def _commit_tree(
        self, tree: str, parent: str | None, message: str, author: tuple[str, str], timestamp: int | None
    ) -> str:
        name, email = author
        env = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email}
        env |= {"GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}
        if timestamp is not None:
            env |= {"GIT_AUTHOR_DATE": f"{timestamp} +0000", "GIT_COMMITTER_DATE": f"{timestamp} +0000"}
        parents = ["-p", parent] if parent else []
        return self.git("commit-tree", tree, *parents, "-m", message, env=env).decode().strip()


def _parse_ls_tree(out: str) -> list[TreeEntry]:
    entries = []
    for line in out.splitlines():
        meta, path = line.split("\t", 1)
        mode, kind, sha, size = meta.split()
        entries.append(TreeEntry(mode, kind, sha, int(size) if size != "-" else 0, path))
    return entries


def clone_working_copy(clone_url: str, dest: Path, *, branch: str | None = None) -> Path:
    """Clone a repository into a working copy with a local identity set (for tests and the demo)."""
    run_git("clone", "--quiet", *(["--branch", branch] if branch else []), clone_url, str(dest))
    run_git("config", "user.name", SIM_AUTHOR[0], cwd=dest)
    run_git("config", "user.email", SIM_AUTHOR[1], cwd=dest)
    return dest


def push_working_copy(workdir: Path, branch: str, *, remote: str = "origin", force: bool = False) -> str:
    """Push HEAD of a working copy to `branch` and return the pushed SHA."""
    sha = run_git("rev-parse", "HEAD", cwd=workdir).decode().strip()
    run_git(
        "push",
        "--quiet",
        *(["--force"] if force else []),
        remote,
        f"HEAD:refs/heads/{branch}",
        cwd=workdir,
        env={OWNER_PUSH_ENV: "1"},
    )
    return sha
