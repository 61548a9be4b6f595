"""Publishing a task's work: its workspace checked out from the base repository, and what the
agents changed committed, pushed to `aqm/<task-id>` (or the PR's own branch) and opened as a PR.

The worker's git runs outside the workspace (app/runtimes/git.py): a stage sees only its work tree.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from app.engine.state import ENDED, TaskState, TaskStatus
from app.github import render
from app.github.gateway import GitHubGateway
from app.github.threads import Thread, thread_of
from app.runtimes import git
from app.runtimes.workspace import WorkspaceError
from app.store.github import GitHubStore, TaskLink


class PublishFailed(Exception):
    """The agents' changes could not be committed safely: the task fails with `error`, `reply` says why."""

    def __init__(self, error: str, *, reply: str) -> None:
        super().__init__(error)
        self.error = error
        self.reply = reply


class Publishing:
    """A task's workspace and where its changes go: always the thread's base repository."""

    def __init__(
        self, github_store: GitHubStore, gateway: GitHubGateway, *, workspaces: Path, git_dirs: Path
    ) -> None:
        self.github_store = github_store
        self.gateway = gateway
        self.workspaces = workspaces
        self.git_dirs = git_dirs  # the worker's git directories: a stage sees only its workspace
        self.sources: dict[str, tuple[str, str]] = {}  # task -> (repository's clone URL, default branch)

    def repo(self, task_id: str) -> git.Repo:
        """The task's workspace (what its stages see) and the worker's git directory for it."""
        return git.Repo.of(task_id, workspaces=self.workspaces, git_dirs=self.git_dirs)

    async def prepare_workdir(self, thread: Thread, link: TaskLink) -> None:
        """Check out the repository at the task's last pushed commit (its branch's; for a fix, its
        parent's), else at the head it started from, unless this machine has the task's checkout
        already; then restore the instruction files, every time before stages run: a stage, or a
        worker that died part-way, may have left others (WorkspaceError when that fails)."""
        repo = self.repo(link.task_id)
        url, default_branch = await self._source(thread, link)
        if not repo.prepared:
            token = await self.gateway.installation_token()
            if link.branch is not None and link.gate_sha is not None:  # pushed (or a fix of a task that did)
                refs = [f"refs/heads/{link.branch}"]
                await git.checkout(repo, url, link.gate_sha, token=token, refs=refs)
            else:  # a PR's head, from a fork too, is the base repository's refs/pull/N/head
                refs = [f"refs/pull/{link.number}/head"] if link.is_pull else []
                await git.checkout(repo, url, link.head_sha or "", token=token, refs=refs)
        defaults = await self._default_instructions(thread, default_branch)
        git.restore_instruction_files(repo.work_tree, defaults)

    async def _source(self, thread: Thread, link: TaskLink) -> tuple[str, str]:
        """The thread's repository's clone URL and default branch. Only ever the base repository:
        a fork's head is fetched from it (`refs/pull/N/head`) and changes are pushed to it."""
        if link.task_id not in self.sources:
            repository = await self.gateway.repository(thread.owner, thread.repo)
            self.sources[link.task_id] = (repository.clone_url, repository.default_branch)
        return self.sources[link.task_id]

    async def _default_instructions(self, thread: Thread, default_branch: str) -> dict[str, str]:
        """Agent instruction files on the default branch (the top-level ones), from one listing
        of its root; none when it cannot be read (the workspace's own are removed then)."""
        with contextlib.suppress(Exception):
            return await self.gateway.read_root_files(
                thread.owner, thread.repo, default_branch, git.INSTRUCTION_FILES
            )
        return {}

    async def publish_changes(self, link: TaskLink, state: TaskState) -> TaskState:
        """Commit and push what the agents changed, with a PR, before a pause and at the end; the
        task's state after (PublishFailed when the workspace cannot be committed safely: the task
        fails, saying why).

        Always to the base repository: a fork PR's changes go to `aqm/<task-id>` there, in a PR
        against the fork PR's base branch, linked from its thread (a fork is not ours to push to).
        """
        if state.status not in ENDED and state.status not in (
            TaskStatus.AWAITING_GATE,
            TaskStatus.AWAITING_HUMAN_INPUT,
        ):
            return state
        repo = self.repo(link.task_id)
        if not repo.prepared:
            return state
        title = f"aqm {link.task_id}: {state.description.splitlines()[0][:60]}"
        thread = thread_of(link)
        try:
            sha = await git.commit_all(repo, title)
        except WorkspaceError as problem:
            reply = render.workspace_problem_reply(link.task_id, str(problem), publishing=True)
            error = f"the agents' changes could not be committed: {problem}"
            raise PublishFailed(error, reply=reply) from None
        if sha is None and link.branch is None:
            return state
        branch = link.branch or f"aqm/{link.task_id}"
        if sha is not None:
            url, _ = await self._source(thread, link)
            await git.push(repo, url, branch, token=await self.gateway.installation_token())
        pr, from_fork = link.pr_number, False
        if pr is None and sha is not None:
            base, from_fork = await self._pull_target(link)
            body = pull_body(link.task_id, link.number)
            pr = await self.gateway.create_pull(
                thread.owner, thread.repo, head=branch, base=base, title=title, body=body
            )
        await self.github_store.update_link(
            link.task_id, branch=branch, pr_number=pr, gate_sha=await git.head(repo)
        )
        if from_fork and pr is not None:  # the PR was opened just now, in the base repository
            reply = render.fork_changes_reply(link.task_id, branch, pr)
            await self.gateway.comment(thread.owner, thread.repo, link.number, reply)
        return state

    async def _pull_target(self, link: TaskLink) -> tuple[str, bool]:
        """The branch the task's PR goes into, and whether the task's thread is a fork's PR: a PR's
        own branch (a fork's: its base branch), an issue's default branch."""
        owner, repo = link.repo.split("/", 1)
        if link.is_pull:
            pull = await self.gateway.pull(owner, repo, link.number)
            return (pull.base_ref, True) if pull.is_fork else (pull.head_ref, False)
        return (await self.gateway.repository(owner, repo)).default_branch, False


def pull_body(task_id: str, number: int) -> str:
    return (
        f"The changes of aqm task `{task_id}`, started from #{number}.\n\n"
        "Review them here; the task's run card on the thread shows every stage."
    )
