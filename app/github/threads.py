"""Where a command came from: a thread (an issue or PR) of a repository, and who spoke in it."""

from __future__ import annotations

from dataclasses import dataclass

from app.store.github import TaskLink


@dataclass(frozen=True, slots=True)
class Thread:
    """Where a command came from."""

    owner: str
    repo: str
    number: int
    is_pull: bool
    installation_id: int | None
    actor: str

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"


def thread_of(link: TaskLink) -> Thread:
    owner, repo = link.repo.split("/", 1)
    return Thread(owner, repo, link.number, link.is_pull, link.installation_id, link.actor)
