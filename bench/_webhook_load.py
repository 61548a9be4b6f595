"""Open-loop webhook sender for bench/webhook_latency.py (standard library only, its own process).

Reads a JSON-lines schedule (one delivery a line: `at` seconds after the start, `kind`, `guid`,
`headers`, `body`), sends each delivery at its time on a new loopback connection (GitHub opens
one per delivery; `Connection: close`), never waiting for earlier answers, and writes one JSON
result per delivery: the lag behind schedule, the latency from the start of the connection to
the end of the answer, the HTTP status, and whether the app called it a duplicate.

    python bench/_webhook_load.py SCHEDULE.jsonl RESULTS.json --url http://127.0.0.1:PORT/webhook
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Planned:
    at: float  # seconds after the start
    kind: str  # warmup | new | redelivery
    guid: str
    request: bytes  # the whole HTTP/1.1 request


@dataclass(frozen=True, slots=True)
class Result:
    kind: str
    guid: str
    lag_s: float  # how late the request started, against its schedule
    latency_s: float  # connect + request + answer, to the end of the answer
    status: int  # 0: no HTTP answer
    duplicate: bool | None
    error: str | None


def load(schedule: Path, url: str) -> list[Planned]:
    parts = urlsplit(url)
    host = parts.netloc
    path = parts.path or "/"
    planned = []
    for line in schedule.read_text(encoding="utf-8").splitlines():
        item: dict[str, Any] = json.loads(line)
        body = str(item["body"]).encode()
        head = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}", "Connection: close"]
        head += [f"{name}: {value}" for name, value in item["headers"].items()]
        request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        planned.append(Planned(float(item["at"]), str(item["kind"]), str(item["guid"]), request))
    return sorted(planned, key=lambda p: p.at)


async def send(planned: Planned, host: str, port: int, started_at: float) -> Result:
    begin = time.perf_counter()
    lag = begin - (started_at + planned.at)
    try:
        status, body = await asyncio.wait_for(_exchange(planned.request, host, port), TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as exc:
        elapsed = time.perf_counter() - begin
        return Result(planned.kind, planned.guid, lag, elapsed, 0, None, f"{type(exc).__name__}: {exc}")
    elapsed = time.perf_counter() - begin
    duplicate: bool | None = None
    try:
        answer = json.loads(body)
        duplicate = bool(answer.get("duplicate")) if isinstance(answer, dict) else None
    except ValueError:
        pass
    return Result(planned.kind, planned.guid, lag, elapsed, status, duplicate, None)


async def _exchange(request: bytes, host: str, port: int) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        await writer.drain()
        response = await reader.read()  # to EOF: the server closes after answering
    finally:
        writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split()
    if len(status_line) < 2:
        raise ValueError(f"no HTTP status line in {response[:80]!r}")
    return int(status_line[1]), body


async def run(plan: Sequence[Planned], url: str) -> list[Result]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[Result]] = []
    started_at = time.perf_counter()
    for planned in plan:
        delay = started_at + planned.at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(loop.create_task(send(planned, host, port, started_at)))
    return list(await asyncio.gather(*tasks))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("schedule", type=Path)
    parser.add_argument("results", type=Path)
    parser.add_argument("--url", required=True)
    args = parser.parse_args(argv)
    plan = load(args.schedule, args.url)
    results = asyncio.run(run(plan, args.url))
    args.results.write_text(json.dumps([asdict(r) for r in results]), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
