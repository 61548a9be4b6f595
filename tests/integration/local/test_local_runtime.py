"""`runtime: local` behind the runtime Protocol, its child in a test mode: no model is loaded (fast).

The child really runs (local_worker.py in its own process group); FAKE_CLI_LOCAL_MODE makes it
answer without the model (`stub`), or fail as native code can (`segfault`, `abort`, `hang`).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from app.engine.commands import Decision
from app.engine.directives import handoff_targets
from app.engine.gates import VERDICT_SCHEMA, parse_verdict
from app.errors import ExitedNonZero, TimedOut
from app.runtimes.base import Finished, RunRequest, RuntimeEvent, TextDelta
from app.runtimes.local import LocalRuntime, Worker, WorkerPool
from tests.integration.local.conftest import TEST_MODE, LocalProject
from tests.integration.runtimes.procs import survivors

PROMPT = "Plan the parser.\nEnd with your choice."


class RecordingPool(WorkerPool):
    """A pool that remembers every child it handed out (to check that they are gone)."""

    def __init__(self) -> None:
        super().__init__(max_running=1)
        self.taken: list[Worker] = []

    def take(self, key: str, env: dict[str, str], model: Path) -> Worker:  # type: ignore[override]
        worker = super().take(key, env, model)
        self.taken.append(worker)
        return worker


@pytest.fixture
def recording() -> Iterator[RecordingPool]:
    pool = RecordingPool()
    yield pool
    pool.close()


def request(workdir: Path, **changes: object) -> RunRequest:
    return replace(RunRequest(prompt=PROMPT, workdir=workdir, timeout_s=30), **changes)  # type: ignore[arg-type]


async def events_of(runtime: LocalRuntime, req: RunRequest) -> list[RuntimeEvent]:
    return [event async for event in runtime.run(req)]


async def test_a_stage_streams_text_and_finishes_with_its_usage(
    recording: RecordingPool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TEST_MODE, "stub")

    events = await events_of(LocalRuntime(recording), request(tmp_path))

    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    finished = events[-1]
    assert isinstance(finished, Finished) and len(deltas) >= 2
    assert finished.output == "".join(deltas) == "stub answer to:\nEnd with your choice."
    assert finished.usage.input_tokens > 0 and finished.usage.output_tokens > 0
    assert finished.structured is None


async def test_the_child_stays_warm_and_serves_the_next_stage(
    recording: RecordingPool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TEST_MODE, "stub")
    runtime = LocalRuntime(recording)

    await events_of(runtime, request(tmp_path))
    await events_of(runtime, request(tmp_path))

    first, second = recording.taken
    assert first is second and first.alive


async def test_a_schema_answer_is_parsed_into_structured(
    recording: RecordingPool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TEST_MODE, "stub")

    finished = (await events_of(LocalRuntime(recording), request(tmp_path, schema=VERDICT_SCHEMA)))[-1]

    assert isinstance(finished, Finished)
    assert finished.structured == {"decision": "approved", "reason": "stub"}
    assert parse_verdict(finished.output, finished.structured) == ("approved", "stub")


async def test_a_handoff_the_text_did_not_make_is_asked_for_and_appended(
    recording: RecordingPool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TEST_MODE, "stub")
    decision = Decision("handoff", ("HANDOFF: qa", "HANDOFF: docs"), "Which agent next?")

    events = await events_of(LocalRuntime(recording), request(tmp_path, decision=decision))

    finished = events[-1]
    assert isinstance(finished, Finished)
    assert finished.output.endswith("\n\nHANDOFF: docs")  # the stub takes the last allowed line
    assert handoff_targets(finished.output) == ["docs"]
    assert events[-2] == TextDelta("\n\nHANDOFF: docs")


async def test_a_choice_the_text_already_made_is_not_asked_again(
    recording: RecordingPool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TEST_MODE, "stub")
    decision = Decision("vote", ("VOTE: AGREE", "NO CONSENSUS YET"), "Do you agree?")

    finished = (
        await events_of(
            LocalRuntime(recording), request(tmp_path, prompt="Vote.\nVOTE: AGREE", decision=decision)
        )
    )[-1]

    assert isinstance(finished, Finished) and finished.output == "stub answer to:\nVOTE: AGREE"


@pytest.mark.parametrize(("mode", "signal_name"), [("segfault", "SIGSEGV"), ("abort", "SIGABRT")])
async def test_a_native_crash_in_the_child_fails_the_stage_and_the_next_stage_gets_a_new_child(
    recording: RecordingPool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, signal_name: str
) -> None:
    runtime = LocalRuntime(recording)
    monkeypatch.setenv(TEST_MODE, mode)

    with pytest.raises(ExitedNonZero) as failed:
        await events_of(runtime, request(tmp_path))

    assert signal_name in str(failed.value) and "crash" in str(failed.value)
    assert failed.value.exit_code < 0 and failed.value.partial_output == "stub "
    assert not recording.idle and not recording.taken[0].alive
    monkeypatch.setenv(TEST_MODE, "stub")
    assert isinstance((await events_of(runtime, request(tmp_path)))[-1], Finished)


async def test_a_timeout_kills_the_child_at_once(
    recording: RecordingPool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TEST_MODE, "hang")
    started = time.monotonic()

    with pytest.raises(TimedOut, match=r"timed out after 0\.5 s") as timed_out:
        await events_of(LocalRuntime(recording), request(tmp_path, timeout_s=0.5))

    assert time.monotonic() - started < 3
    assert timed_out.value.partial_output == "stub "
    assert survivors([recording.taken[0].process.pid], within_s=1) == []


async def test_cancelling_the_stage_kills_the_child_at_once(
    recording: RecordingPool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TEST_MODE, "hang")
    first_delta = asyncio.Event()

    async def consume() -> None:
        async for _ in LocalRuntime(recording).run(request(tmp_path)):
            first_delta.set()

    stage = asyncio.create_task(consume())
    await asyncio.wait_for(first_delta.wait(), timeout=10)
    stage.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stage

    assert survivors([recording.taken[0].process.pid], within_s=1) == []
    assert not recording.idle


async def test_stages_take_turns_on_the_cores_and_waiting_counts_toward_the_timeout(
    recording: RecordingPool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TEST_MODE, "hang")
    first_delta = asyncio.Event()

    async def busy() -> None:
        async for _ in LocalRuntime(recording).run(request(tmp_path)):
            first_delta.set()

    running = asyncio.create_task(busy())
    await asyncio.wait_for(first_delta.wait(), timeout=10)
    with pytest.raises(TimedOut):
        await events_of(LocalRuntime(recording), request(tmp_path, timeout_s=0.3))
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running

    assert len(recording.taken) == 1  # the waiting stage never started a child of its own


CRASHING = """
agents:
  - id: writer
    runtime: local
    system_prompt: "Write: {{ input }}"
    retry: {max_retries: 1}
"""


def test_a_crashing_model_fails_the_task_after_its_retries_and_aqm_itself_survives(
    project: LocalProject,
) -> None:
    project.pipeline(CRASHING)

    ran = project.aqm("run", "a haiku", env={TEST_MODE: "segfault"})

    assert ran.returncode == 1, ran.stdout + ran.stderr  # the task failed; aqm exited normally
    assert "SIGSEGV" in ran.stdout and "Status: failed" in ran.stdout
    assert ran.stdout.count("▶ stage 1: writer") == 2  # the first attempt and one retry


STUB_PIPELINE = """
entry_point: auto
agents:
  - id: router
    runtime: local
    system_prompt: "Route: {{ input }}"
    handoffs: [{to: "*", condition: auto}]
  - id: critic
    runtime: local
    system_prompt: "Criticise: {{ input }}"
  - id: writer
    runtime: local
    system_prompt: "Write: {{ input }}"
    gate: {type: llm, prompt: "Is this good?"}
    handoffs: [{to: critic, condition: on_approve}]
"""


def test_every_structured_choice_of_the_engine_is_answered_by_a_local_model(project: LocalProject) -> None:
    project.pipeline(STUB_PIPELINE)

    ran = project.aqm("run", "a haiku", env={TEST_MODE: "stub"})

    assert ran.returncode == 0 and "Status: completed" in ran.stdout, ran.stdout + ran.stderr
    # entry_point auto chose the first agent (the stub's first enum value), its HANDOFF choice was
    # constrained to an agent of the pipeline (the stub's last line: writer), whose llm gate approved
    stages = [line.split("▶ ")[1] for line in ran.stdout.splitlines() if "▶ " in line]
    assert stages == ["stage 1: router", "stage 2: writer", "stage 3: critic"]
    assert "stage 2: writer approved" in ran.stdout


SESSION_PIPELINE = """
agents:
  - id: talk
    type: session
    participants: [ann, bob]
    max_rounds: 2
  - {id: ann, runtime: local, system_prompt: "Discuss: {{ input }}"}
  - {id: bob, runtime: local, system_prompt: "Discuss: {{ input }}"}
"""


def test_a_session_turn_on_a_local_model_always_casts_a_vote_line(project: LocalProject) -> None:
    project.pipeline(SESSION_PIPELINE)

    ran = project.aqm("run", "tabs or spaces", env={TEST_MODE: "stub"})

    assert ran.returncode == 0 and "Status: completed" in ran.stdout, ran.stdout + ran.stderr
    task_id = re.search(r"^Task (T-[0-9A-F]+)", ran.stdout, re.MULTILINE).group(1)  # type: ignore[union-attr]
    turns = project.aqm("context", task_id, "--transcript").stdout.split("### Result")[0]
    assert turns.count("NO CONSENSUS YET") == 4  # two rounds of two turns, each ending with its choice
    assert "max rounds (2) reached without consensus" in ran.stdout
