"""Helpers to tell whether processes survived a run (zombies count as dead: PID 1 may not reap them)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from app.runtimes.base import Finished, RunRequest, Runtime, RuntimeEvent


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def survivors(pids: Iterable[int], *, within_s: float = 3.0) -> list[int]:
    """The pids still running after waiting up to `within_s` for them to die."""
    deadline = time.monotonic() + within_s
    while (left := [pid for pid in pids if alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.02)
    return left


async def wait_for_call(read_calls: Any, *, within_s: float = 10.0) -> dict[str, Any]:
    """The first logged call of a fake (polls its log): its pid and child pids, once it is running."""
    deadline = time.monotonic() + within_s
    while not (calls := read_calls()):
        assert time.monotonic() < deadline, "the fake CLI never logged its call"
        await asyncio.sleep(0.02)
    return dict(calls[0])


async def collect(runtime: Runtime, request: RunRequest) -> list[RuntimeEvent]:
    return [event async for event in runtime.run(request)]


async def finish(runtime: Runtime, request: RunRequest) -> Finished:
    events = await collect(runtime, request)
    assert isinstance(events[-1], Finished) and not any(isinstance(e, Finished) for e in events[:-1])
    return events[-1]


def pids_running(*argv: str) -> list[int]:
    """The live processes of this machine running exactly `argv` (`sleep 86397`, a number no other
    process sleeps), as seen from outside any sandbox: the stage's own pid namespace hides its pids."""
    wanted = b"".join(word.encode() + b"\0" for word in argv)
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes()
        except OSError:
            continue
        if words == wanted and alive(pid := int(cmdline.parent.name)):
            found.append(pid)
    return found
