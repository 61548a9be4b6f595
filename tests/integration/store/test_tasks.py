"""Tasks: creating under fresh ids that never overwrite, reading back, listing, deleting."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC

import pytest

from app.errors import StoreError, TaskError
from app.store.ids import DIGITS_PER_ATTEMPT, random_task_id
from app.store.store import TaskStore
from tests.integration.store.conftest import Database
from tests.integration.store.helpers import new_task, stage, task_with_stages

ID_PATTERN = re.compile(r"^T-[0-9A-F]{6,}$")


class ScriptedIds:
    """An id factory that hands out the given ids in order and records the digits asked for."""

    def __init__(self, ids: list[str]) -> None:
        self._ids: Iterator[str] = iter(ids)
        self.digits: list[int] = []

    def __call__(self, digits: int) -> str:
        self.digits.append(digits)
        return next(self._ids)


async def test_a_created_task_reads_back_as_it_was_created(store: TaskStore) -> None:
    created = await store.create_task(
        pipeline="review", description="add rate limiting", state={"queue": ["dev"], "n": 1}, priority=1
    )
    assert ID_PATTERN.match(created.id)
    assert (created.status, created.kind, created.version, created.error) == ("pending", "run", 1, None)
    assert created.created_at is not None and created.created_at.tzinfo is UTC
    assert await store.get_task(created.id) == created


async def test_a_fix_task_names_its_parent(store: TaskStore) -> None:
    parent = await new_task(store)
    child = await new_task(store, "fix the tests", kind="fix", parent_task_id=parent.id.lower())
    assert (await store.get_task(child.id)).parent_task_id == parent.id


async def test_task_ids_are_found_in_any_letter_case(store: TaskStore) -> None:
    task = await new_task(store)
    assert (await store.get_task(task.id.lower())).id == task.id
    assert (await store.get_task(f" {task.id.lower()} ")).id == task.id


async def test_an_unknown_task_id_is_a_task_error(store: TaskStore) -> None:
    with pytest.raises(TaskError, match=r"^No task 'T-ABC123'$"):
        await store.get_task("t-abc123")


async def test_tasks_are_listed_newest_first_and_filtered_by_status(store: TaskStore) -> None:
    first, second, third = [await new_task(store, f"task {n}") for n in range(3)]
    await store.commit(second.id, status="completed", state={})
    assert [t.id for t in await store.list_tasks()] == [third.id, second.id, first.id]
    assert [t.id for t in await store.list_tasks(limit=2)] == [third.id, second.id]
    assert [t.id for t in await store.list_tasks(status="completed")] == [second.id]
    assert [t.id for t in await store.list_tasks(status="pending")] == [third.id, first.id]


@pytest.mark.slow
async def test_a_thousand_tasks_get_a_thousand_distinct_ids(store: TaskStore) -> None:
    async def create(worker: int) -> list[str]:  # ten writers at once, as a busy server would be
        return [(await new_task(store, f"task {worker}.{n}")).id for n in range(100)]

    ids = [task_id for batch in await asyncio.gather(*(create(w) for w in range(10))) for task_id in batch]
    assert len(set(ids)) == 1000
    assert all(ID_PATTERN.match(task_id) for task_id in ids)
    assert len(await store.list_tasks(limit=2000)) == 1000


async def test_a_colliding_id_is_drawn_again_longer_and_the_first_task_is_untouched(
    database: Database,
) -> None:
    async with await database.connect(make_id=ScriptedIds(["T-AAAAAA"])) as store:
        first = await new_task(store, "the first")
    ids = ScriptedIds(["T-AAAAAA", "t-aaaaaa", "T-AAAAAA", "T-BBBBBBBB"])
    async with await database.connect(make_id=ids) as store:
        second = await new_task(store, "the second")
        assert second.id == "T-BBBBBBBB"
        assert ids.digits == [6, 6, 6, 8]
        assert await store.get_task(first.id) == first


async def test_a_store_that_finds_no_free_id_says_so_and_writes_nothing(database: Database) -> None:
    async with await database.connect(make_id=lambda _digits: "T-AAAAAA") as store:
        first = await new_task(store)
        with pytest.raises(StoreError, match="No free task id"):
            await new_task(store, "the second")
        assert await store.list_tasks() == [first]


@pytest.mark.parametrize("digits", sorted(set(DIGITS_PER_ATTEMPT)))
def test_random_ids_have_the_digits_asked_for(digits: int) -> None:
    task_id = random_task_id(digits)
    assert ID_PATTERN.match(task_id) and len(task_id) == 2 + digits


async def test_deleting_a_task_deletes_its_stages(store: TaskStore) -> None:
    task = await task_with_stages(store, 3)
    other = await task_with_stages(store, 2)
    await store.delete_task(task.id.lower())
    with pytest.raises(TaskError):
        await store.get_task(task.id)
    assert await store.list_stages(task.id) == []
    assert len(await store.list_stages(other.id)) == 2


async def test_deleting_an_unknown_task_is_a_task_error(store: TaskStore) -> None:
    with pytest.raises(TaskError, match="No task 'T-000000'"):
        await store.delete_task("T-000000")


async def test_unicode_round_trips_in_every_field(store: TaskStore) -> None:
    text = "Ünïcødé — 漢字 😀 עברית \u2028 line\r\nbreak \t tab \\ 'quotes\" %s ?"
    task = await store.create_task(pipeline="pipé", description=text, state={"ключ": text, "emoji": ["😀"]})
    await store.commit(
        task.id,
        status="failed",
        state={"ключ": text},
        error=text,
        stages=[stage(task.id, 1, output_text=text)],
    )
    stored = await store.get_task(task.id)
    assert (stored.description, stored.state, stored.error) == (text, {"ключ": text}, text)
    assert (await store.get_stage(task.id, 1)).output_text == text
