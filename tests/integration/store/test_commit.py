"""commit: one transaction per engine step, all or nothing, and reading stages back."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime
from typing import Any

import pytest

from app.errors import StoreError, TaskError, VersionConflict
from app.store.records import StageRecord, TaskRecord
from app.store.store import TaskStore
from tests.integration.store.helpers import new_task, stage, task_with_stages

MEGABYTE = 1024 * 1024


async def snapshot(store: TaskStore, task_id: str) -> tuple[TaskRecord, list[StageRecord]]:
    return await store.get_task(task_id), await store.list_stages(task_id)


def unicode_text(size_chars: int, *, seed: int) -> str:
    """Text that exercises encodings: ASCII, accents, CJK, emoji, RTL, line and paragraph separators."""
    alphabet = "abcdefghij KLMNOP 0123456789\n\r\t\\'\"%?{}[]éüßñ漢字かな한글😀🚀עברית\u2028\u2029\u00a0"
    return "".join(random.Random(seed).choices(alphabet, k=size_chars))


async def test_a_commit_writes_the_task_and_its_stages_and_returns_the_new_version(store: TaskStore) -> None:
    task = await new_task(store)
    stages = [stage(task.id, 1), stage(task.id, 2, status="running", finished_at=None)]
    version = await store.commit(task.id, status="in_progress", state={"step": 2}, stages=stages)
    stored = await store.get_task(task.id)
    assert version == stored.version == 2
    assert (stored.status, stored.state, stored.error) == ("in_progress", {"step": 2}, None)
    assert stored.updated_at is not None and task.updated_at is not None
    assert stored.updated_at > task.updated_at
    assert await store.list_stages(task.id) == stages
    assert await store.get_stage(task.id, 2) == stages[1]


async def test_a_commit_overwrites_a_stage_by_number_and_leaves_the_others(store: TaskStore) -> None:
    task = await task_with_stages(store, 3)
    finished = stage(task.id, 2, status="rejected", gate_result="rejected", reject_reason="no tests")
    assert await store.commit(task.id, status="in_progress", state={}, stages=[finished]) == 3
    stages = await store.list_stages(task.id)
    assert [s.number for s in stages] == [1, 2, 3]
    assert stages[1] == finished
    assert stages[0] == stage(task.id, 1)


async def test_a_restart_truncates_and_writes_the_new_stage_in_one_commit(store: TaskStore) -> None:
    task = await task_with_stages(store, 5)
    rerun = stage(task.id, 3, status="running", output_text="", agent_id="reviewer")
    await store.commit(task.id, status="in_progress", state={"restart": 3}, truncate_from=3, stages=[rerun])
    assert [s.number for s in await store.list_stages(task.id)] == [1, 2, 3]
    assert await store.get_stage(task.id, 3) == rerun
    assert await store.last_stage_number(task.id) == 3


async def test_a_stale_expected_version_is_refused_and_nothing_is_written(store: TaskStore) -> None:
    task = await task_with_stages(store, 2)
    before = await snapshot(store, task.id)
    with pytest.raises(StoreError, match="version 2, not 1"):
        await store.commit(
            task.id,
            status="completed",
            state={"lost": True},
            stages=[stage(task.id, 3)],
            truncate_from=1,
            expected_version=1,
        )
    assert await snapshot(store, task.id) == before
    assert await store.commit(task.id, status="completed", state={}, expected_version=2) == 3


async def test_of_two_writers_at_the_same_version_exactly_one_commits(store: TaskStore) -> None:
    task = await new_task(store)
    results = await asyncio.gather(
        *(store.commit(task.id, status=f"s{n}", state={"n": n}, expected_version=1) for n in range(2)),
        return_exceptions=True,
    )
    assert sorted(map(type, results), key=str) == sorted([int, VersionConflict], key=str)
    assert (await store.get_task(task.id)).version == 2


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param({"agent_id": None}, id="not-null-violation"),
        pytest.param({"started_at": datetime(2025, 1, 1)}, id="naive-datetime"),
        pytest.param({"state_before": {"not json": object()}}, id="unserialisable-state"),
    ],
)
async def test_a_failing_stage_leaves_the_task_as_it_was(store: TaskStore, broken: dict[str, Any]) -> None:
    task = await task_with_stages(store, 3)
    before = await snapshot(store, task.id)
    with pytest.raises(StoreError):
        await store.commit(
            task.id,
            status="completed",
            state={"partial": True},
            truncate_from=2,
            stages=[stage(task.id, 2, output_text="new"), stage(task.id, 4, **broken)],
        )
    assert await snapshot(store, task.id) == before
    assert await store.commit(task.id, status="completed", state={}) == 3  # the store still works


async def test_a_commit_for_an_unknown_task_is_a_task_error(store: TaskStore) -> None:
    with pytest.raises(TaskError, match="No task 'T-DEAD00'"):
        await store.commit("t-dead00", status="completed", state={})


async def test_a_stage_of_another_task_is_refused_before_anything_is_written(store: TaskStore) -> None:
    task, other = await new_task(store), await new_task(store)
    with pytest.raises(ValueError, match=other.id):
        await store.commit(task.id, status="x", state={}, stages=[stage(task.id, 1), stage(other.id, 1)])
    assert (await store.get_task(task.id)).version == 1
    assert await store.list_stages(task.id) == []


async def test_stage_task_ids_are_matched_in_any_letter_case(store: TaskStore) -> None:
    task = await new_task(store)
    await store.commit(task.id, status="x", state={}, stages=[stage(task.id.lower(), 1)])
    assert (await store.get_stage(task.id, 1)).task_id == task.id


async def test_a_megabyte_output_round_trips_exactly(store: TaskStore) -> None:
    task = await new_task(store)
    output, prompt = unicode_text(MEGABYTE, seed=1), unicode_text(MEGABYTE, seed=2)
    await store.commit(
        task.id, status="x", state={}, stages=[stage(task.id, 1, input_text=prompt, output_text=output)]
    )
    stored = await store.get_stage(task.id, 1)
    assert stored.output_text.encode() == output.encode()
    assert stored.input_text.encode() == prompt.encode()
    assert (await store.stage_texts(task.id, [1]))[1].encode() == output.encode()


async def test_stage_texts_returns_only_the_outputs_asked_for(store: TaskStore) -> None:
    task = await task_with_stages(store, 5)
    assert await store.stage_texts(task.id, [4, 2, 9, 2]) == {2: "output of stage 2", 4: "output of stage 4"}
    assert await store.stage_texts(task.id, []) == {}
    assert await store.stage_texts("T-000000", [1]) == {}


async def test_stage_texts_reads_more_stages_than_one_query_may_name(store: TaskStore) -> None:
    task = await new_task(store)
    stages = [stage(task.id, n, output_text=str(n), state_before={}) for n in range(1, 1202)]
    await store.commit(task.id, status="x", state={}, stages=stages)
    texts = await store.stage_texts(task.id, range(1, 1202))
    assert texts == {n: str(n) for n in range(1, 1202)}


async def test_listing_stages_without_texts_carries_none(store: TaskStore) -> None:
    task = await task_with_stages(store, 3)
    summaries = await store.list_stages(task.id, texts=False)
    assert [(s.input_text, s.output_text, s.state_before) for s in summaries] == [("", "", {})] * 3
    full = await store.list_stages(task.id)
    blanked = [
        StageRecord(**{**{f: getattr(s, f) for f in s.__slots__}, "input_text": "", "output_text": ""})
        for s in full
    ]
    assert summaries == [
        StageRecord(**{**{f: getattr(s, f) for f in s.__slots__}, "state_before": {}}) for s in blanked
    ]


async def test_an_unknown_stage_is_a_task_error(store: TaskStore) -> None:
    task = await task_with_stages(store, 1)
    with pytest.raises(TaskError, match=f"No stage 2 in task '{task.id}'"):
        await store.get_stage(task.id, 2)


async def test_the_last_stage_number_is_zero_before_the_first_stage(store: TaskStore) -> None:
    task = await new_task(store)
    assert await store.last_stage_number(task.id) == 0
    await store.commit(task.id, status="x", state={}, stages=[stage(task.id, 1), stage(task.id, 7)])
    assert await store.last_stage_number(task.id.lower()) == 7


async def test_concurrent_commits_to_different_tasks_do_not_lock_each_other_out(store: TaskStore) -> None:
    tasks = [await new_task(store, f"task {n}") for n in range(2)]

    async def run(task: TaskRecord) -> None:
        for number in range(1, 51):
            await store.commit(
                task.id, status="in_progress", state={"n": number}, stages=[stage(task.id, number)]
            )

    await asyncio.gather(*(run(task) for task in tasks))
    for task in tasks:
        assert (await store.get_task(task.id)).version == 51
        assert await store.last_stage_number(task.id) == 50


async def test_a_nul_character_is_stored_as_the_replacement_character_on_both_databases(
    store: TaskStore,
) -> None:
    task = await new_task(store, "a\x00b")
    await store.commit(
        task.id, status="x", state={"nul": "\x00"}, stages=[stage(task.id, 1, output_text="c\x00d")]
    )
    assert (await store.get_task(task.id)).description == "a\ufffdb"
    assert (await store.get_task(task.id)).state == {"nul": "\x00"}  # JSON escapes it: kept as is
    assert (await store.get_stage(task.id, 1)).output_text == "c\ufffdd"
