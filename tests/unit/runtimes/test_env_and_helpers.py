"""The child's environment allowlist, the shared parsing helpers, command output and the registry."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from app.errors import BadAnswer, CliNotFound
from app.runtimes import claude, codex, gemini
from app.runtimes.command import command_output
from app.runtimes.parsing import json_object, parse_json_answer, summarize_tool_input
from app.runtimes.process import allowed_env
from app.runtimes.registry import ADAPTERS, adapter_class, cli_available, get_runtime

HOST_ENV = {
    "PATH": "/usr/bin",
    "HOME": "/home/u",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "TERM": "xterm",
    "TMPDIR": "/tmp",
    "USER": "u",
    "AQM_GITHUB_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----",
    "AQM_GITHUB_WEBHOOK_SECRET": "whsec",
    "AQM_DATABASE_URL": "postgresql://u:p@db/aqm",
    "ANTHROPIC_API_KEY": "sk-ant",
    "CLAUDE_CODE_OAUTH_TOKEN": "oauth",
    "GEMINI_API_KEY": "gm",
    "GOOGLE_CLOUD_PROJECT": "proj",
    "CODEX_API_KEY": "cx",
    "OPENAI_API_KEY": "oa",
    "AWS_SECRET_ACCESS_KEY": "aws",
    "GITHUB_TOKEN": "ghp",
    "DATABASE_PASSWORD": "pw",
    "FAKE_CLI_LOG": "/tmp/log.jsonl",
}
BASE = {"PATH", "HOME", "LANG", "LC_ALL", "TERM", "TMPDIR", "USER", "FAKE_CLI_LOG"}
OWN_KEYS = {
    "claude": (
        claude.CREDENTIAL_VARS,
        {"ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "AWS_SECRET_ACCESS_KEY"},
    ),
    "gemini": (gemini.CREDENTIAL_VARS, {"GEMINI_API_KEY", "GOOGLE_CLOUD_PROJECT"}),
    "codex": (codex.CREDENTIAL_VARS, {"CODEX_API_KEY", "OPENAI_API_KEY"}),
    "command": ((), set()),
}


@pytest.mark.parametrize("runtime", list(OWN_KEYS))
def test_each_runtime_gets_the_base_variables_and_only_its_own_credentials(runtime: str) -> None:
    credentials, own = OWN_KEYS[runtime]
    env = allowed_env({}, credentials=credentials, source=HOST_ENV)
    assert set(env) == BASE | own
    assert not any(name.startswith("AQM_") for name in env)
    assert "GITHUB_TOKEN" not in env and "DATABASE_PASSWORD" not in env


def test_extra_variables_are_added_but_never_aqm_ones() -> None:
    extra = {"MY_TOOL_TOKEN": "t", "PATH": "/opt/bin", "AQM_GITHUB_PRIVATE_KEY": "smuggled"}
    env = allowed_env(extra, source=HOST_ENV)
    assert env["MY_TOOL_TOKEN"] == "t" and env["PATH"] == "/opt/bin"
    assert "AQM_GITHUB_PRIVATE_KEY" not in env


def test_the_default_source_is_our_own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AQM_GITHUB_WEBHOOK_SECRET", "s")
    monkeypatch.setenv("LC_CTYPE", "C.UTF-8")
    env = allowed_env({})
    assert "AQM_GITHUB_WEBHOOK_SECRET" not in env and env["LC_CTYPE"] == "C.UTF-8"


JSON_LINES = {
    "an object": ('{"type": "x"}\n', {"type": "x"}),
    "blank": ("\n", None),
    "noise": ("Warning: Basic terminal detected\n", None),
    "an array": ("[1]\n", None),
    "broken": ('{"type": \n', None),
}


@pytest.mark.parametrize(("line", "expected"), list(JSON_LINES.values()), ids=list(JSON_LINES))
def test_json_object(line: str, expected: dict[str, Any] | None) -> None:
    assert json_object(line) == expected


def test_tool_summaries_are_short_and_prefer_the_telling_key() -> None:
    assert summarize_tool_input({"description": "d", "command": "ls -la"}) == "ls -la"
    assert summarize_tool_input({"x": 1}) == '{"x": 1}'
    assert len(summarize_tool_input({"command": "y" * 1000})) == 120


def test_parse_json_answer_checks_required_keys_only_for_object_schemas() -> None:
    assert parse_json_answer("[1, 2]", {"type": "array"}, runtime="r") == [1, 2]
    with pytest.raises(BadAnswer, match="required keys"):
        parse_json_answer("{}", {"type": "object", "required": ["a"]}, runtime="r")


OUTPUTS = {
    "stdout only": ("out\n", "", "out\n"),
    "stdout then the stderr section": ("out\n", "err\n", "out\n--- stderr ---\nerr\n"),
    "stdout without a final newline": ("out", "err\n", "out\n--- stderr ---\nerr\n"),
    "stderr only": ("", "err\n", "--- stderr ---\nerr\n"),
}


@pytest.mark.parametrize(("stdout", "stderr", "expected"), list(OUTPUTS.values()), ids=list(OUTPUTS))
def test_command_output(stdout: str, stderr: str, expected: str) -> None:
    assert command_output(stdout, stderr) == expected


def test_command_output_notes_a_cut_stderr() -> None:
    assert command_output("", "end\n", stderr_bytes=100).startswith(
        "--- stderr ---\n[first 96 bytes of stderr cut]\n"
    )


@pytest.mark.parametrize("name", ["claude", "gemini", "codex", "command"])
def test_get_runtime_returns_the_adapter_of_that_name(name: str) -> None:
    runtime = get_runtime(name)
    assert runtime.name == name and type(runtime) is adapter_class(name)
    assert type(runtime).__name__ == ADAPTERS[name][1]
    assert runtime.default_model() is None


def test_a_runtime_not_built_in_fails_the_stage_rather_than_crashing() -> None:
    with pytest.raises(CliNotFound, match="'ollama'"):
        get_runtime("ollama")


def executable(folder: Path, name: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


AVAILABILITY = {
    "on PATH with its key": ("claude", True, {"ANTHROPIC_API_KEY": "k"}, True),
    "on PATH without credentials": ("gemini", True, {}, False),
    "credentials but not on PATH": ("codex", False, {"CODEX_API_KEY": "k"}, False),
    "command needs no CLI": ("command", False, {}, True),
    "an unknown runtime": ("ollama", True, {}, False),
}


@pytest.mark.parametrize(
    ("name", "on_path", "keys", "expected"), list(AVAILABILITY.values()), ids=list(AVAILABILITY)
)
def test_cli_available(
    tmp_path: Path, name: str, on_path: bool, keys: dict[str, Any], expected: bool
) -> None:
    if on_path:
        executable(tmp_path, name)
    environ = {"PATH": str(tmp_path), "HOME": str(tmp_path / "home"), **keys}
    assert cli_available(name, environ=environ) is expected
