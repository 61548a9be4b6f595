"""The thread queue and task leases in the store, on SQLite and PostgreSQL: one slot per thread, taken once."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.store.github import GitHubStore, TaskLink
from app.store.store import TaskStore
from tests.integration.store.conftest import Database, open_database

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])  # the server's store only: the CLI's has no GitHub tables
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with open_database(request.param, tmp_path) as opened:
        yield opened


async def queued_task(github: GitHubStore, number: int, order: int, *, source: str | None = None) -> str:
    task = await github.store.create_task(pipeline="default", description=f"run {order}", state={})
    link = TaskLink(
        task_id=task.id,
        repo="octo/demo",
        number=number,
        is_pull=False,
        actor="maintainer",
        source=source,
        requested_at=T0 + timedelta(seconds=order),
        queued=True,
    )
    await github.link_task(link)
    return task.id


async def test_the_earliest_asked_run_takes_the_slot_and_the_next_waits_until_it_ends(
    store: TaskStore,
) -> None:
    github = GitHubStore(store)
    later = await queued_task(github, 1, order=2)
    earlier = await queued_task(github, 1, order=1)
    other_thread = await queued_task(github, 2, order=3)
    assert await github.claim_next("octo/demo", 1, owner="w1", lease_s=60) == earlier
    assert await github.claim_next("octo/demo", 1, owner="w2", lease_s=60) is None  # held by `earlier`
    assert await github.slot_holder("octo/demo", 1) == earlier
    assert await github.claim_next("octo/demo", 2, owner="w2", lease_s=60) == other_thread
    await store.commit(earlier, status="awaiting_gate", state={})  # waiting for a human: no slot
    assert await github.claim_next("octo/demo", 1, owner="w2", lease_s=60) == later
    link = await github.get_link(later)
    assert (link.queued, link.lease_owner) == (False, "w2")


async def test_claims_racing_on_one_thread_give_the_slot_once(store: TaskStore) -> None:
    github = GitHubStore(store)
    for order in range(3):
        await queued_task(github, 7, order=order)
    claims = await asyncio.gather(
        *(github.claim_next("octo/demo", 7, owner=f"w{n}", lease_s=60) for n in range(6))
    )
    assert len([claimed for claimed in claims if claimed is not None]) == 1


async def test_a_lease_is_taken_once_renewed_by_its_owner_and_free_again_when_it_expires(
    store: TaskStore,
) -> None:
    github = GitHubStore(store)
    task_id = await queued_task(github, 3, order=1, source="guid-1#0")
    assert not await github.take_lease(task_id, owner="w1", lease_s=60)  # queued: not started yet
    assert await github.claim_next("octo/demo", 3, owner="w1", lease_s=60) == task_id
    assert not await github.take_lease(task_id, owner="w2", lease_s=60)
    assert await github.renew_lease(task_id, owner="w1", lease_s=0.05)
    assert not await github.renew_lease(task_id, owner="w2", lease_s=60)
    assert await github.expired_leases() == []
    await asyncio.sleep(0.1)
    assert [link.task_id for link in await github.expired_leases()] == [task_id]
    assert await github.take_lease(task_id, owner="w2", lease_s=60, expired_only=True)
    assert not await github.renew_lease(task_id, owner="w1", lease_s=60)  # w2 has it now
    await github.release_lease(task_id, owner="w2")
    assert [link.task_id for link in await github.expired_leases()] == [task_id]  # released, still running
    assert (await github.link_of_source("guid-1#0")) is not None
    assert await github.link_of_source("guid-1#1") is None


async def test_an_idle_queue_is_found_once_its_head_is_old_enough(store: TaskStore) -> None:
    github = GitHubStore(store)
    task_id = await queued_task(github, 4, order=1)
    assert [link.task_id for link in await github.idle_queues(older_than_s=0)] == [task_id]
    assert await github.idle_queues(older_than_s=10**9) == []
    await github.claim_next("octo/demo", 4, owner="w1", lease_s=60)
    assert await github.idle_queues() == []


async def test_a_restarted_task_queued_in_progress_is_found_and_claimed_like_a_new_run(
    store: TaskStore,
) -> None:
    github = GitHubStore(store)
    running = await queued_task(github, 5, order=1)
    restarted = await queued_task(github, 5, order=2)
    cancelled = await queued_task(github, 5, order=0)
    await store.commit(restarted, status="in_progress", state={})  # rewound by /aqm restart, queued
    await store.commit(cancelled, status="cancelled", state={})  # dropped while queued: never runs
    assert await github.claim_next("octo/demo", 5, owner="w1", lease_s=60) == running
    assert await github.expired_leases() == []  # queued: not a dead worker's task
    assert await github.claim_next("octo/demo", 5, owner="w1", lease_s=60) is None
    await store.commit(running, status="completed", state={})
    assert [link.task_id for link in await github.idle_queues(older_than_s=0)] == [restarted]
    assert await github.claim_next("octo/demo", 5, owner="w2", lease_s=60) == restarted
    assert (await github.get_link(restarted)).lease_owner == "w2"


async def test_github_ids_past_two_to_the_31_round_trip(store: TaskStore) -> None:
    github = GitHubStore(store)
    task = await store.create_task(pipeline="default", description="big ids", state={})
    link = TaskLink(
        task_id=task.id,
        repo="octo/demo",
        number=7,
        is_pull=True,
        actor="octocat",
        installation_id=2**33 + 1,
        card_comment_id=2**40 + 3,
        check_run_id=2**35 + 5,
    )
    await github.link_task(link)
    await github.update_link(task.id, card_comment_id=2**41 + 7)
    stored = await github.get_link(task.id)
    assert (stored.installation_id, stored.card_comment_id, stored.check_run_id) == (
        2**33 + 1,
        2**41 + 7,
        2**35 + 5,
    )


async def test_the_same_event_under_a_new_guid_is_recorded_as_a_duplicate(store: TaskStore) -> None:
    github = GitHubStore(store)
    record = functools.partial(github.record_delivery, event="issue_comment", action="created", body="{}")
    assert await record("guid-1", dedup_key="comment:7:t0") is True
    assert await record("guid-1", dedup_key="comment:7:t0") is False  # GitHub's redelivery: nothing
    assert await record("guid-2", dedup_key="comment:7:t0") is False  # the same event, another GUID
    duplicate = await github.get_delivery("guid-2")
    assert (duplicate.status, duplicate.error) == ("duplicate", "the same event as delivery guid-1")
    assert await github.unfinished_deliveries() == [await github.get_delivery("guid-1")]
    assert await record("guid-3", dedup_key=None) is True  # no key: only the GUID counts


async def test_a_delivery_step_is_logged_once_with_what_it_said(store: TaskStore) -> None:
    github = GitHubStore(store)
    await github.record_delivery("guid-1", event="issue_comment", action="created", body="{}")
    await github.record_step("guid-1", "command:0", '["said"]')
    await github.record_step("guid-1", "command:0", '["said again"]')
    assert await github.delivery_steps("guid-1") == {"command:0": '["said"]'}


async def test_a_retried_delivery_waits_out_its_backoff_behind_the_due_ones(store: TaskStore) -> None:
    github = GitHubStore(store)
    for guid in ("old", "new"):
        await github.record_delivery(guid, event="issue_comment", action="created", body="{}")
    await github.retry_delivery("old", at=datetime.now(UTC) + timedelta(hours=1), error="502")
    assert [d.id for d in await github.unfinished_deliveries()] == ["new"]
    await github.retry_delivery("old", at=datetime.now(UTC) - timedelta(seconds=1), error="502")
    await github.finish_delivery("new", "failed", "404")
    assert [d.id for d in await github.unfinished_deliveries()] == ["old"]
