"""Turns at SQLite's writer: one at a time, in order, urgent ones first, cancellation-safe."""

from __future__ import annotations

import asyncio

import pytest

from app.store.turns import Turns


async def hold(turns: Turns, name: str, log: list[str], *, urgent: bool = False, steps: int = 2) -> None:
    async with turns.turn(urgent=urgent):
        log.append(f"{name}+")
        for _ in range(steps):
            await asyncio.sleep(0)
        log.append(f"{name}-")


async def test_one_at_a_time_in_order_with_urgent_waiters_first() -> None:
    turns = Turns()
    log: list[str] = []
    first = asyncio.create_task(hold(turns, "a", log, steps=5))
    await asyncio.sleep(0)  # a holds the turn
    others = [asyncio.create_task(hold(turns, n, log)) for n in ("b", "c")]
    await asyncio.sleep(0)
    urgent = asyncio.create_task(hold(turns, "u", log, urgent=True))
    await asyncio.gather(first, *others, urgent)
    assert log == ["a+", "a-", "u+", "u-", "b+", "b-", "c+", "c-"]
    assert not turns.busy


async def test_a_cancelled_waiter_leaves_the_queue_and_the_turn_goes_on() -> None:
    turns = Turns()
    log: list[str] = []
    first = asyncio.create_task(hold(turns, "a", log, steps=3))
    await asyncio.sleep(0)
    doomed = asyncio.create_task(hold(turns, "x", log))
    later = asyncio.create_task(hold(turns, "b", log))
    await asyncio.sleep(0)
    doomed.cancel()
    await asyncio.gather(first, later)
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert log == ["a+", "a-", "b+", "b-"]
    assert not turns.busy


async def test_a_waiter_cancelled_as_it_is_handed_the_turn_hands_it_on() -> None:
    turns = Turns()
    log: list[str] = []
    release = asyncio.Event()

    async def holder() -> None:
        async with turns.turn():
            await release.wait()

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    doomed = asyncio.create_task(hold(turns, "x", log))
    later = asyncio.create_task(hold(turns, "b", log))
    await asyncio.sleep(0)
    release.set()
    await asyncio.sleep(0)  # the holder leaves and hands the turn to x, which has not run yet
    doomed.cancel()
    await asyncio.gather(first, later)
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert log == ["b+", "b-"]
    assert not turns.busy


async def test_an_error_inside_a_turn_frees_it() -> None:
    turns = Turns()
    with pytest.raises(RuntimeError):
        async with turns.turn():
            raise RuntimeError("boom")
    assert not turns.busy
    async with turns.turn(urgent=True):
        assert turns.busy
