"""The curated pipelines in pipelines/: each one validates, index.json and meta.json describe the
files on disk, and the prompts keep the promises the pipelines' routing depends on."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from app.errors import SpecErrors
from app.project import reader_for_file
from app.spec.conditions import And, Compare, Condition, In, Not, Or, parse_condition
from app.spec.loader import Pipeline, load_pipeline
from app.spec.models import Agent

ROOT = Path(__file__).parents[2]
PIPELINES = ROOT / "pipelines"
INDEX_KEYS = {"name", "description", "author", "version", "versions", "latest", "tags", "agents_count"}
META_KEYS = {"name", "description", "author", "version", "tags", "agents_count"}
REQUIRED_PIPELINES = ("pr-review", "issue-triage", "design-session")
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
LLM_RUNTIMES = {"claude", "gemini", "codex", "local"}

PIPELINE_FILES = sorted(PIPELINES.glob("*/*/agents.yaml"))
PIPELINE_IDS = [f"{p.parent.parent.name}/{p.parent.name}" for p in PIPELINE_FILES]


def _index() -> list[dict[str, Any]]:
    data = json.loads((PIPELINES / "index.json").read_text(encoding="utf-8"))
    assert isinstance(data, list)
    return data


INDEX_ENTRIES = _index()
INDEX_IDS = [str(entry.get("name")) for entry in INDEX_ENTRIES]


@cache
def _load(path: Path) -> Pipeline:
    reader, relative = reader_for_file(path)
    try:
        return load_pipeline(reader, relative, name=path.parent.parent.name)
    except SpecErrors as exc:
        pytest.fail("\n".join(error.render() for error in exc.errors))


def _latest(name: str) -> Pipeline:
    entry = next(e for e in INDEX_ENTRIES if e["name"] == name)
    return _load(PIPELINES / name / entry["latest"] / "agents.yaml")


def _semver_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _condition_keys(condition: Condition) -> set[str]:
    if isinstance(condition, Compare | In):
        return {condition.key}
    if isinstance(condition, Not):
        return _condition_keys(condition.operand)
    if isinstance(condition, And | Or):
        return _condition_keys(condition.left) | _condition_keys(condition.right)
    return set()


def _llm_agents(pipeline: Pipeline) -> list[Agent]:
    return [a for a in pipeline.agents if a.type == "agent" and a.runtime in LLM_RUNTIMES]


def test_there_are_pipeline_files_to_check() -> None:
    assert len(PIPELINE_FILES) >= 3


@pytest.mark.parametrize("path", PIPELINE_FILES, ids=PIPELINE_IDS)
def test_pipeline_file_loads_without_errors_or_warnings(path: Path) -> None:
    pipeline = _load(path)

    assert pipeline.agents
    assert [w.render() for w in pipeline.warnings] == []


def test_index_entries_have_exactly_the_registry_keys() -> None:
    for entry in INDEX_ENTRIES:
        assert set(entry) == INDEX_KEYS, entry.get("name")
        assert isinstance(entry["description"], str) and entry["description"].strip()
        assert isinstance(entry["author"], str) and entry["author"].strip()
        assert isinstance(entry["tags"], list) and all(isinstance(t, str) for t in entry["tags"])
        assert isinstance(entry["agents_count"], int)


def test_index_names_are_unique() -> None:
    assert len(INDEX_IDS) == len(set(INDEX_IDS))


def test_index_lists_every_pipeline_directory() -> None:
    on_disk = {p.name for p in PIPELINES.iterdir() if p.is_dir()}

    assert set(INDEX_IDS) == on_disk


@pytest.mark.parametrize("name", REQUIRED_PIPELINES)
def test_required_pipeline_is_published_at_1_0_0(name: str) -> None:
    entry = next((e for e in INDEX_ENTRIES if e["name"] == name), None)

    assert entry is not None
    assert "1.0.0" in entry["versions"]
    assert (PIPELINES / name / "1.0.0" / "agents.yaml").is_file()


@pytest.mark.parametrize("entry", INDEX_ENTRIES, ids=INDEX_IDS)
def test_index_versions_match_the_version_directories(entry: dict[str, Any]) -> None:
    folder = PIPELINES / entry["name"]
    on_disk = sorted((p.name for p in folder.iterdir() if p.is_dir()), key=_semver_key)

    assert all(SEMVER.match(v) for v in entry["versions"])
    assert entry["versions"] == sorted(entry["versions"], key=_semver_key)
    assert entry["versions"] == on_disk
    for version in entry["versions"]:
        assert (folder / version / "agents.yaml").is_file()
        assert (folder / version / "meta.json").is_file()


@pytest.mark.parametrize("entry", INDEX_ENTRIES, ids=INDEX_IDS)
def test_index_latest_is_the_newest_version(entry: dict[str, Any]) -> None:
    assert entry["latest"] == entry["version"] == max(entry["versions"], key=_semver_key)


@pytest.mark.parametrize("entry", INDEX_ENTRIES, ids=INDEX_IDS)
def test_index_agents_count_is_the_number_of_runnable_agents(entry: dict[str, Any]) -> None:
    pipeline = _latest(entry["name"])

    assert entry["agents_count"] == len(pipeline.agents)


@pytest.mark.parametrize("path", PIPELINE_FILES, ids=PIPELINE_IDS)
def test_meta_json_describes_its_pipeline_file(path: Path) -> None:
    meta = json.loads((path.parent / "meta.json").read_text(encoding="utf-8"))
    name, version = path.parent.parent.name, path.parent.name
    entry = next(e for e in INDEX_ENTRIES if e["name"] == name)

    assert set(meta) == META_KEYS
    assert (meta["name"], meta["version"]) == (name, version)
    assert meta["agents_count"] == len(_load(path).agents)
    if version == entry["latest"]:
        assert {k: meta[k] for k in ("description", "author", "tags")} == {
            k: entry[k] for k in ("description", "author", "tags")
        }


@pytest.mark.parametrize("path", PIPELINE_FILES, ids=PIPELINE_IDS)
def test_every_llm_prompt_treats_task_text_as_untrusted_data(path: Path) -> None:
    for agent in _llm_agents(_load(path)):
        assert "untrusted" in agent.system_prompt, agent.id
        assert "{{ input }}" in agent.system_prompt, agent.id


@pytest.mark.parametrize("path", PIPELINE_FILES, ids=PIPELINE_IDS)
def test_every_claude_agent_names_the_tools_it_may_use(path: Path) -> None:
    for agent in _load(path).agents:
        if agent.runtime == "claude":
            assert {"--tools", "--allowedTools"} & set(agent.flags), agent.id
            assert "--dangerously-skip-permissions" not in agent.flags, agent.id


@pytest.mark.parametrize("path", PIPELINE_FILES, ids=PIPELINE_IDS)
def test_condition_keys_are_asked_for_by_the_agents_prompt(path: Path) -> None:
    for agent in _load(path).agents:
        for handoff in agent.handoffs:
            for key in _condition_keys(parse_condition(handoff.condition)):
                assert f"{key.upper()}: " in agent.system_prompt, (agent.id, handoff.condition)


@pytest.mark.parametrize("path", PIPELINE_FILES, ids=PIPELINE_IDS)
def test_auto_handoff_prompts_name_every_candidate(path: Path) -> None:
    pipeline = _load(path)
    for agent in pipeline.agents:
        if any(h.condition == "auto" for h in agent.handoffs):
            assert "HANDOFF: " in agent.system_prompt, agent.id
            line = next(ln for ln in agent.system_prompt.splitlines() if ln.startswith("HANDOFF: "))
            candidates = re.findall(r"[A-Za-z_][A-Za-z0-9_-]*", line.removeprefix("HANDOFF: "))
            assert candidates and set(candidates) <= set(pipeline.ids), line


def test_pr_review_has_two_llm_runtimes_a_gated_fix_loop_and_a_summary() -> None:
    pipeline = _latest("pr-review")
    gated = [a for a in pipeline.agents if a.gate is not None]

    assert {a.runtime for a in _llm_agents(pipeline)} >= {"claude", "gemini"}
    assert len(gated) == 1 and gated[0].gate is not None and gated[0].gate.type == "llm"
    routes = {h.condition: h.targets for h in gated[0].handoffs}
    assert routes["on_approve"] == ("summarizer",)
    fixer = pipeline.agent(routes["on_reject"][0])
    assert any(h.targets == (pipeline.first.id,) for h in fixer.handoffs)
    assert pipeline.agent("summarizer").handoffs == []


def test_issue_triage_routes_by_auto_handoff_and_a_severity_expression() -> None:
    pipeline = _latest("issue-triage")

    assert [(h.to, h.condition) for h in pipeline.first.handoffs] == [("*", "auto")]
    conditions = {h.condition for a in pipeline.agents for h in a.handoffs}
    assert "severity == critical" in conditions


def test_design_session_votes_by_majority_then_a_human_gated_implementer() -> None:
    pipeline = _latest("design-session")
    session = pipeline.first
    consensus = session.consensus_config

    assert session.type == "session"
    assert (consensus.method, consensus.keyword, consensus.require) == ("vote", "VOTE: AGREE", "majority")
    assert session.summary_agent in session.participants
    assert session.chunks is not None and session.chunks.initial
    for participant in session.participants:
        assert consensus.keyword in pipeline.agent(participant).system_prompt
        assert "{{ transcript }}" in pipeline.agent(participant).system_prompt
    implementer = pipeline.agent(session.handoffs[0].targets[0])
    assert implementer.gate is not None and implementer.gate.type == "human"


def test_test_fix_routes_on_the_test_commands_exit_code() -> None:
    pipeline = _latest("test-fix")
    run_tests = pipeline.first

    assert run_tests.runtime == "command" and run_tests.argv
    routes = {h.condition: h.targets for h in run_tests.handoffs}
    assert set(routes) == {"on_approve", "on_reject"}
    fixer = pipeline.agent(routes["on_reject"][0])
    assert fixer.runtime == "claude"
    assert any(h.targets == (run_tests.id,) for h in fixer.handoffs)
