"""Recorded event logs of real `aqm` runs (a gate, a fan-out, a session) replay through `decide`
to the commands and final state they produced (STYLE.md, habit 2). Re-record: tests/replays.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.engine.decide import decide
from app.engine.state import TaskState
from tests.replays import command_json, event_of, fixtures, spec_of, state_json


def test_every_kind_of_run_has_a_recording() -> None:
    assert sorted(path.stem for path in fixtures()) == ["fan_out", "gate", "session"]


@pytest.mark.parametrize("path", fixtures(), ids=lambda path: path.stem)
def test_a_recorded_run_replays_to_its_recorded_commands_and_final_state(path: Path) -> None:
    fixture = json.loads(path.read_text())
    spec = spec_of(fixture)
    state = TaskState.model_validate(fixture["initial_state"])
    for number, step in enumerate(fixture["steps"], start=1):
        state, commands = decide(spec, state, event_of(step["event"]))
        assert [command_json(c) for c in commands] == step["commands"], f"step {number}: {step['event']}"
    assert state_json(state) == fixture["final_state"]
