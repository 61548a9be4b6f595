"""Reading `.aqm/` through the contents API: a file over GitHub's 1 MB limit is `FileTooLarge`,
named — not asked for when the listing shows its size, and GitHub's own 403 `too_large` otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.github.gateway import CONTENTS_MAX_BYTES, FileTooLarge, GitHubClients, GitHubGateway
from app.playground.simulator import GitHubSimulator, Seeded

SMALL = "agents:\n  - id: a\n    runtime: command\n    command: [echo, hi]\n"
BIG = "# padding\n" * (CONTENTS_MAX_BYTES // 10 + 1)


@pytest.fixture
def sim(tmp_path: Path) -> GitHubSimulator:
    return GitHubSimulator(tmp_path / "github")


@pytest.fixture
def seeded(sim: GitHubSimulator) -> Seeded:
    return sim.seed_standard(files={".aqm/agents.yaml": SMALL, ".aqm/pipelines/big.yaml": BIG})


@pytest.fixture
def gateway(sim: GitHubSimulator, seeded: Seeded) -> GitHubGateway:
    clients = GitHubClients(
        base_url=sim.base_url,
        app_id=str(seeded.app.id),
        private_key=seeded.key.private_pem,
        transport=sim.transport(),
    )
    return clients.gateway(seeded.installation.id)


def content_reads(sim: GitHubSimulator) -> list[tuple[str, int]]:
    return [(call.path, call.status) for call in sim.traffic.log if call.operation == "repos.get_content"]


async def test_a_file_over_1_mb_in_the_tree_is_named_and_never_fetched(
    sim: GitHubSimulator, gateway: GitHubGateway
) -> None:
    with pytest.raises(FileTooLarge) as refused:
        await gateway.read_tree("octo", "demo", "main", ".aqm")
    assert (refused.value.path, refused.value.size) == (".aqm/pipelines/big.yaml", len(BIG))
    assert "/repos/octo/demo/contents/.aqm/pipelines/big.yaml" not in [path for path, _ in content_reads(sim)]


async def test_githubs_403_too_large_is_file_too_large_and_not_retried(
    sim: GitHubSimulator, gateway: GitHubGateway
) -> None:
    with pytest.raises(FileTooLarge) as refused:
        await gateway.read_tree("octo", "demo", "main", ".aqm/pipelines/big.yaml")
    assert (refused.value.path, refused.value.size) == (".aqm/pipelines/big.yaml", None)
    assert content_reads(sim) == [("/repos/octo/demo/contents/.aqm/pipelines/big.yaml", 403)]


async def test_files_up_to_the_limit_are_read(sim: GitHubSimulator, gateway: GitHubGateway) -> None:
    at_limit = "y" * CONTENTS_MAX_BYTES
    sim.commit("octo/demo", {".aqm/pipelines/big.yaml": at_limit})
    files = await gateway.read_tree("octo", "demo", "main", ".aqm")
    assert files == {"agents.yaml": SMALL, "pipelines/big.yaml": at_limit}
