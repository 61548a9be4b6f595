"""Installation tokens: one per installation for githubkit's calls and git, minted again near its end.

The gateway talks to the GitHub simulator in process; every mint is counted in its request log.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.github.gateway import GitHubClients, GitHubGateway
from app.playground.simulator import GitHubSimulator, Seeded

MINT = "apps.create_installation_access_token"


@pytest.fixture
def sim(tmp_path: Path) -> GitHubSimulator:
    return GitHubSimulator(tmp_path / "github")


@pytest.fixture
def seeded(sim: GitHubSimulator) -> Seeded:
    return sim.seed_standard()


@pytest.fixture
async def clients(sim: GitHubSimulator, seeded: Seeded) -> GitHubClients:
    return GitHubClients(
        base_url=sim.base_url,
        app_id=str(seeded.app.id),
        private_key=seeded.key.private_pem,
        transport=sim.transport(),
        now=sim.world.clock.now,  # the simulator's clock: the test moves it to expire tokens
    )


def gateway(clients: GitHubClients, seeded: Seeded) -> GitHubGateway:
    return clients.gateway(seeded.installation.id)


async def test_githubkit_and_git_share_one_token_across_jobs(
    sim: GitHubSimulator, seeded: Seeded, clients: GitHubClients
) -> None:
    first = gateway(clients, seeded)
    await first.repository("octo", "demo")
    token = await first.installation_token()
    await gateway(clients, seeded).issue(
        "octo", "demo", sim.open_issue("octo/demo", "x", user="maintainer").number
    )
    assert await gateway(clients, seeded).installation_token() == token
    assert sim.traffic.count(MINT) == 1
    assert (
        sim.world.tokens[token or ""].installation_id == seeded.installation.id
    )  # a real installation token


async def test_the_token_is_minted_again_five_minutes_before_it_expires(
    sim: GitHubSimulator, seeded: Seeded, clients: GitHubClients
) -> None:
    token = await gateway(clients, seeded).installation_token()
    lifetime_s = sim.token_lifetime_s
    sim.world.clock.advance(lifetime_s - 6 * 60)  # six minutes left: still handed out
    await gateway(clients, seeded).repository("octo", "demo")
    assert await gateway(clients, seeded).installation_token() == token
    assert sim.traffic.count(MINT) == 1
    sim.world.clock.advance(2 * 60)  # four minutes left: renewed before use
    await gateway(clients, seeded).repository("octo", "demo")
    renewed = await gateway(clients, seeded).installation_token()
    assert renewed != token and sim.traffic.count(MINT) == 2


async def test_a_token_github_refuses_is_replaced_and_the_call_made_again(
    sim: GitHubSimulator, seeded: Seeded, clients: GitHubClients
) -> None:
    token = await gateway(clients, seeded).installation_token()
    sim.expire_tokens()  # revoked early: GitHub answers 401 to it
    repository = await gateway(clients, seeded).repository("octo", "demo")
    assert repository.full_name == "octo/demo"
    assert sim.traffic.count(MINT) == 2
    assert await gateway(clients, seeded).installation_token() != token


async def test_concurrent_first_calls_mint_one_token(
    sim: GitHubSimulator, seeded: Seeded, clients: GitHubClients
) -> None:
    await asyncio.gather(*(gateway(clients, seeded).repository("octo", "demo") for _ in range(5)))
    assert sim.traffic.count(MINT) == 1
    assert sim.traffic.count("repos.get") == 5


async def test_a_job_reads_the_repository_and_a_pull_request_once(
    sim: GitHubSimulator, seeded: Seeded, clients: GitHubClients
) -> None:
    sim.commit("octo/demo", {"feature.txt": "v1\n"}, branch="feature", message="feature")
    number = sim.open_pull("octo/demo", head="feature", title="A feature", user="outsider").number
    job = gateway(clients, seeded)
    for _ in range(2):
        assert (await job.repository("octo", "demo")).default_branch == "main"
        assert (await job.pull("octo", "demo", number)).head_ref == "feature"
    assert sim.traffic.count("repos.get") == 1 and sim.traffic.count("pulls.get") == 1
    await gateway(clients, seeded).pull("octo", "demo", number)  # the next job reads it afresh
    assert sim.traffic.count("pulls.get") == 2
