"""Recorded event logs of real `aqm` runs, replayed through `decide` (STYLE.md, habit 2).

A fixture in tests/fixtures/replays/<name>.json holds what one real run fed the engine:

    {"name", "about", "pipeline" (the YAML), "config" (config.yaml, "" for none), "commands" (the
     `aqm` command lines run), "initial_state", "steps": [{"event", "commands"}], "final_state"}

Events and commands are JSON objects with their class name under "type". The replay test
(tests/unit/engine/test_replays.py) folds the events into the initial state and expects, step
by step, the recorded commands and, at the end, the recorded state.

Re-record every fixture (after an intended change of the engine's behaviour; review the diff):

    .venv/bin/python -m tests.replays

It runs the real `aqm init`, `aqm run` (and `aqm approve`) in this process, in a temporary
project, with the fake CLIs of tests/fakes first on PATH, and logs every call of `decide` the
driver makes. The scenarios are SCENARIOS below.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app.engine import events
from app.engine.commands import Command
from app.engine.events import Event, Usage
from app.engine.spec import RunSpec
from app.engine.state import TaskState
from app.spec.loader import load_config, load_pipeline
from app.spec.source import MappingReader

FIXTURES = Path(__file__).parent / "fixtures" / "replays"
PIPELINE_FILE = "pipelines/default.yaml"


# ---- the JSON form of events, commands and states ------------------------------------------------


def event_json(event: Event) -> dict[str, Any]:
    return {"type": type(event).__name__, **_plain(asdict(event))}


def event_of(data: dict[str, Any]) -> Event:
    """The event a fixture's JSON object stands for."""
    fields = {k: v for k, v in data.items() if k != "type"}
    if isinstance(fields.get("usage"), dict):
        fields["usage"] = Usage(**fields["usage"])
    event: Event = getattr(events, data["type"])(**fields)
    return event


def command_json(command: Command) -> dict[str, Any]:
    return {"type": type(command).__name__, **_plain(asdict(command))}


def state_json(state: TaskState) -> dict[str, Any]:
    plain: dict[str, Any] = _plain(state.model_dump(mode="json"))
    return plain


def _plain(value: Any) -> Any:
    """JSON as it reads back from a file (tuples become lists)."""
    return json.loads(json.dumps(value))  # the round trip is the point


def spec_of(fixture: dict[str, Any]) -> RunSpec:
    files = {PIPELINE_FILE: fixture["pipeline"]}
    if fixture["config"]:
        files["config.yaml"] = fixture["config"]
    reader = MappingReader(files)
    config = load_config(reader, "config.yaml")
    return RunSpec(load_pipeline(reader, PIPELINE_FILE, config=config), config)


def fixtures() -> list[Path]:
    return sorted(FIXTURES.glob("*.json"))


# ---- the scenarios -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    about: str
    pipeline: str
    script: list[dict[str, Any]]  # the fakes' rules (tests/fakes/fakecli.py)
    commands: list[list[str]]  # `aqm` command lines; "{task}" is the task id of the first
    config: str = ""  # config.yaml; "" keeps the one `aqm init` writes
    expect: str = "completed"  # the final status a correct recording ends with
    env: dict[str, str] = field(default_factory=dict)


SCENARIOS = [
    Scenario(
        name="gate",
        about="an llm gate rejects once (back to dev) then approves; a human gate waits and is approved",
        pipeline="""
            agents:
              - id: dev
                runtime: claude
                system_prompt: "Build: {{ input }}"
                handoffs: [{to: review}]
              - id: review
                runtime: gemini
                system_prompt: "Review: {{ input }}"
                gate: {type: llm, max_retries: 2}
                handoffs:
                  - {to: ship, condition: on_approve}
                  - {to: dev, condition: on_reject, payload: "Fix: {{ reject_reason }}"}
              - id: ship
                runtime: codex
                system_prompt: "Ship: {{ input }}"
                gate: {type: human}
        """,
        script=[
            {
                "cli": "gemini",
                "match": "Does this output fully",
                "times": 1,
                "text": '{"decision": "rejected", "reason": "no tests"}',
            },
            {
                "cli": "gemini",
                "match": "Does this output fully",
                "text": '{"decision": "approved", "reason": "tests added"}',
            },
            {"cli": "claude", "match": "Fix: no tests", "text": "Added the tests."},
            {"cli": "claude", "match": "^Build:", "text": "Wrote the rate limiter."},
            {"cli": "gemini", "text": "Looks right."},
            {"cli": "codex", "text": "Release notes written."},
        ],
        commands=[["run", "add rate limiting"], ["approve", "{task}", "-r", "ship it"]],
    ),
    Scenario(
        name="fan_out",
        about="a plan fans out to docs and tests, two branches running at once, then the task ends",
        pipeline="""
            agents:
              - id: plan
                runtime: claude
                system_prompt: "Plan: {{ input }}"
                handoffs: [{to: "docs, tests"}]
              - id: docs
                runtime: gemini
                system_prompt: "Docs: {{ input }}"
              - id: tests
                runtime: codex
                system_prompt: "Tests: {{ input }}"
                handoffs: [{to: report}]
              - id: report
                runtime: claude
                system_prompt: "Report: {{ input }}"
        """,
        script=[
            {"cli": "claude", "match": "^Plan:", "text": "1. document it\n2. test it"},
            {"cli": "gemini", "text": "Docs written.", "delay_s": 0.5},
            {"cli": "codex", "text": "Tests written."},
            {"cli": "claude", "match": "^Report:", "text": "All done."},
        ],
        commands=[["run", "add a CSV export"]],
    ),
    Scenario(
        name="session",
        about="a two-participant session votes over two rounds, its summary agent sums up, then a handoff",
        pipeline="""
            agents:
              - id: design
                type: session
                participants: [architect, critic]
                max_rounds: 3
                summary_agent: architect
                consensus: {method: vote, keyword: "VOTE: AGREE", require: all}
                handoffs: [{to: write}]
              - id: architect
                runtime: claude
                system_prompt: "Architect: {{ input }}\\n{{ transcript }}"
              - id: critic
                runtime: gemini
                system_prompt: "Critic: {{ input }}\\n{{ transcript }}"
              - id: write
                runtime: codex
                system_prompt: "Write: {{ input }}"
        """,
        script=[
            {"cli": "gemini", "times": 1, "text": "Too complex: drop the cache."},
            {"cli": "gemini", "text": "Better.\nVOTE: AGREE"},
            {"cli": "claude", "match": "Write the final summary", "text": "We agreed on a cacheless design."},
            {"cli": "claude", "text": "A plain table, no cache.\nVOTE: AGREE"},
            {"cli": "codex", "text": "Design document written."},
        ],
        commands=[["run", "design the storage"]],
    ),
]


# ---- recording ---------------------------------------------------------------------------------


@dataclass
class Recorder:
    """Wraps the driver's `decide` and keeps every call: the event in, the commands and state out."""

    calls: list[tuple[TaskState, Event, TaskState, list[Command]]] = field(default_factory=list)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        import app.driver
        from app.engine.decide import decide

        names = vars(app.driver)  # the driver calls the `decide` it imported: replace that name

        def recording(spec: RunSpec, state: TaskState, event: Event) -> tuple[TaskState, list[Command]]:
            new_state, commands = decide(spec, state, event)
            self.calls.append((state, event, new_state, list(commands)))
            return new_state, commands

        names["decide"] = recording
        try:
            yield
        finally:
            names["decide"] = decide

    def fixture(self, scenario: Scenario, pipeline: str, config: str) -> dict[str, Any]:
        for (_, _, before, _), (after, _, _, _) in zip(self.calls, self.calls[1:], strict=False):
            if state_json(before) != state_json(after):
                a, b = state_json(before), state_json(after)
                diff = {k: (a[k], b[k]) for k in a if a[k] != b[k]}
                raise AssertionError(
                    f"{scenario.name}: a call of decide did not start where the last ended: {diff}"
                )
        return {
            "name": scenario.name,
            "about": scenario.about,
            "recorded_with": "python -m tests.replays",
            "pipeline": pipeline,
            "config": config,
            "commands": scenario.commands,
            "initial_state": state_json(self.calls[0][0]),
            "steps": [
                {"event": event_json(event), "commands": [command_json(c) for c in commands]}
                for _, event, _, commands in self.calls
            ],
            "final_state": state_json(self.calls[-1][2]),
        }


def record(scenario: Scenario, workdir: Path) -> dict[str, Any]:
    """Run the scenario's `aqm` commands for real in `workdir` and return its fixture."""
    from app.cli import main

    project = workdir / "project"
    project.mkdir()
    _fake_environment(workdir, scenario)
    os.chdir(project)
    assert main(["init", "--yes"]) == 0
    pipeline = textwrap.dedent(scenario.pipeline).lstrip("\n")
    (project / ".aqm" / PIPELINE_FILE).write_text(pipeline)
    if scenario.config:
        (project / ".aqm" / "config.yaml").write_text(scenario.config)
    recorder = Recorder()
    with recorder.installed():
        task = ""
        for words in scenario.commands:
            main([word.replace("{task}", task) for word in words])
            task = task or recorder.calls[0][0].task_id
    final = recorder.calls[-1][2].status.value
    if final != scenario.expect:
        raise AssertionError(f"{scenario.name}: the run ended {final}, not {scenario.expect}: see its output")
    config = project / ".aqm" / "config.yaml"
    return recorder.fixture(scenario, pipeline, config.read_text() if config.exists() else "")


def _fake_environment(workdir: Path, scenario: Scenario) -> None:
    """What the `fake_clis` fixture sets up (tests/conftest.py), for this process."""
    from tests.conftest import FAKE_CREDENTIALS, FAKES_DIR, OTHER_CREDENTIALS

    python_dir = workdir / "python"
    python_dir.mkdir()
    (python_dir / "python3").symlink_to(sys.executable)
    home = workdir / "home"
    home.mkdir()
    script = workdir / "script.json"
    script.write_text(json.dumps({"rules": scenario.script, "default": {}}))
    for name in [n for n in os.environ if n.startswith("AQM_")] + list(OTHER_CREDENTIALS):
        os.environ.pop(name, None)
    os.environ.update(
        {
            **FAKE_CREDENTIALS,
            "PATH": os.pathsep.join([str(FAKES_DIR), str(python_dir), os.environ.get("PATH", "")]),
            "HOME": str(home),
            "FAKE_CLI_SCRIPT": str(script),
            "FAKE_CLI_LOG": str(workdir / "calls.jsonl"),
            **scenario.env,
        }
    )


def main() -> int:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    saved = dict(os.environ), Path.cwd()
    for scenario in SCENARIOS:
        with tempfile.TemporaryDirectory(prefix=f"replay-{scenario.name}-") as tmp:
            fixture = record(scenario, Path(tmp))
        os.environ.clear()
        os.environ.update(saved[0])
        os.chdir(saved[1])
        path = FIXTURES / f"{scenario.name}.json"
        path.write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n")
        print(f"{path}: {len(fixture['steps'])} events, final status {fixture['final_state']['status']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
