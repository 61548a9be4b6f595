"""The `aqm` command as a user runs it: a real process in a real directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

AQM = str(Path(sys.executable).parent / "aqm")
AQM_COMMANDS = [
    "init",
    "run",
    "status",
    "list",
    "approve",
    "reject",
    "human-input",
    "cancel",
    "priority",
    "agents",
    "context",
    "validate",
    "serve",
    "fix",
    "restart",
    "pull",
    "publish",
    "search",
    "pipeline",
    "chunks",
]


def aqm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AQM, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    assert aqm("init", "--yes", cwd=tmp_path).returncode == 0
    return tmp_path


def test_help_lists_every_aqm_command(tmp_path: Path) -> None:
    result = aqm("--help", cwd=tmp_path)
    assert result.returncode == 0
    missing = [c for c in AQM_COMMANDS if c not in result.stdout]
    assert not missing


@pytest.mark.parametrize("command", [*AQM_COMMANDS, "schema", "worker", "pipeline list", "pipeline default"])
def test_every_command_has_help(command: str, tmp_path: Path) -> None:
    result = aqm(*command.split(), "--help", cwd=tmp_path)
    assert (result.returncode, result.stdout.startswith("usage: aqm")) == (0, True), result.stderr


def test_a_command_of_a_later_issue_says_so_and_fails(project: Path) -> None:
    result = aqm("pull", "code-review", cwd=project)
    assert result.returncode == 2
    assert "not available in this version" in result.stderr


def test_init_writes_aqm_layout_that_validates(tmp_path: Path) -> None:
    result = aqm("init", "--yes", "--runtime", "gemini", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".aqm/pipelines/default.yaml").read_text().count("runtime: gemini") == 2
    assert (tmp_path / ".aqm/config.yaml").is_file()
    validated = aqm("validate", cwd=tmp_path)
    assert validated.returncode == 0 and "Valid — .aqm/pipelines/default.yaml" in validated.stdout


def test_init_keeps_an_existing_pipeline_unless_forced(project: Path) -> None:
    pipeline = project / ".aqm/pipelines/default.yaml"
    pipeline.write_text("agents:\n  - {id: mine, runtime: codex}\n")
    assert "kept the existing" in aqm("init", "--yes", cwd=project).stdout
    assert "mine" in pipeline.read_text()
    aqm("init", "--yes", "--force", cwd=project)
    assert "planner" in pipeline.read_text()


def test_legacy_agents_yaml_is_the_default_pipeline(tmp_path: Path) -> None:
    (tmp_path / ".aqm").mkdir()
    (tmp_path / ".aqm/agents.yaml").write_text("agents:\n  - {id: solo, runtime: claude}\n")
    assert aqm("pipeline", "list", cwd=tmp_path).stdout.strip() == "* default  (agents.yaml)"
    result = aqm("agents", cwd=tmp_path)
    assert "solo [claude]" in result.stdout


def test_validate_reports_every_error_with_position_and_exit_1(project: Path) -> None:
    (project / ".aqm/pipelines/broken.yaml").write_text(
        "agents:\n  - id: a\n    runtime: claude\n    handoff: [{to: b}]\n  - {id: c, runtime: gpt}\n"
    )
    result = aqm("validate", cwd=project)
    assert result.returncode == 1
    assert "Valid — .aqm/pipelines/default.yaml" in result.stdout
    assert (
        ".aqm/pipelines/broken.yaml:4:5: unknown key 'handoff'\n    fix: did you mean 'handoffs'?"
        in result.stderr
    )
    assert ".aqm/pipelines/broken.yaml:5:22: runtime:" in result.stderr


def test_validate_a_single_file_anywhere(tmp_path: Path) -> None:
    file = tmp_path / "p.yaml"
    file.write_text("agents:\n  - {id: a, runtime: claude, handoffs: [{to: developer}]}\n")
    result = aqm("validate", str(file), cwd=tmp_path)
    assert result.returncode == 1
    assert "p.yaml:2:46: handoff target 'developer' does not exist" in result.stderr


def test_a_broken_config_yaml_is_an_error_not_defaults(project: Path) -> None:
    (project / ".aqm/config.yaml").write_text("pipeline:\n  max_stage: 5\n")
    result = aqm("validate", cwd=project)
    assert result.returncode == 1
    assert (
        ".aqm/config.yaml:2:3: unknown key 'max_stage'\n    fix: did you mean 'max_stages'?" in result.stderr
    )


def test_validate_notes_an_ignored_to_under_auto_and_passes_even_strict(project: Path) -> None:
    (project / ".aqm/pipelines/default.yaml").write_text(
        "agents:\n  - {id: a, runtime: claude, handoffs: [{to: b, condition: auto}]}\n  - {id: b, runtime: claude}\n"
    )
    result = aqm("validate", "--strict", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "note: .aqm/pipelines/default.yaml:2:" in result.stderr
    assert "to: 'b' is ignored under condition: auto" in result.stderr


def test_validate_strict_fails_on_warnings(project: Path) -> None:
    (project / ".aqm/pipelines/default.yaml").write_text(
        "agents:\n  - {id: a, runtime: claude, chunks: {}}\n"
    )
    assert aqm("validate", cwd=project).returncode == 0
    assert aqm("validate", "--strict", cwd=project).returncode == 1


def test_params_are_given_with_param(project: Path) -> None:
    (project / ".aqm/pipelines/default.yaml").write_text(
        "params: {model: {required: true}}\nagents:\n  - {id: a, runtime: claude, model: '${{ params.model }}'}\n"
    )
    assert "--param model=<value>" in aqm("validate", cwd=project).stderr
    assert aqm("validate", "--param", "model=opus", cwd=project).returncode == 0
    assert "model opus" in aqm("agents", "--param", "model=opus", cwd=project).stdout


def test_agents_as_mermaid(project: Path) -> None:
    result = aqm("agents", "--format", "mermaid", cwd=project)
    assert result.stdout.splitlines()[0] == "flowchart TD"
    assert '  planner -->|"always"| executor' in result.stdout


def test_pipeline_default_sets_config_and_refuses_unknown_names(project: Path) -> None:
    (project / ".aqm/pipelines/review.yaml").write_text("agents:\n  - {id: r, runtime: gemini}\n")
    assert aqm("pipeline", "default", "review", cwd=project).returncode == 0
    assert aqm("pipeline", "default", cwd=project).stdout.strip() == "review"
    assert "* review" in aqm("pipeline", "list", cwd=project).stdout
    assert "r [gemini]" in aqm("agents", cwd=project).stdout
    refused = aqm("pipeline", "default", "nope", cwd=project)
    assert refused.returncode == 1 and "no pipeline named 'nope'" in refused.stderr
    assert "pipeline:" in (project / ".aqm/config.yaml").read_text()  # the rest of config.yaml is kept


def test_schema_describes_agents_yaml_with_its_shorthands(tmp_path: Path) -> None:
    schema = json.loads(aqm("schema", cwd=tmp_path).stdout)
    agent = schema["$defs"]["Agent"]
    assert schema["$schema"].endswith("2020-12/schema")
    assert agent["additionalProperties"] is False
    assert {"handoffs", "gate", "human_input", "command", "cli_flags"} <= set(agent["properties"])
    human = json.dumps(agent["properties"]["human_input"])
    assert '"boolean"' in human and "on_demand" in human
    config = json.loads(aqm("schema", "--config", cwd=tmp_path).stdout)
    assert "github" in config["properties"]


def test_no_project_is_a_clear_error(tmp_path: Path) -> None:
    result = aqm("validate", cwd=tmp_path)
    assert (result.returncode, result.stderr.strip()) == (
        1,
        "Error: Cannot find .aqm/ directory. Please run 'aqm init' first.",
    )


def test_validate_ends_with_all_of_its_output_through_a_pipe_and_its_exit_code(project: Path) -> None:
    pipelines = project / ".aqm" / "pipelines"
    agent = "agents:\n  - id: a\n    runtime: command\n    command: 'true'\n"
    for number in range(1500):  # ~100 KB of "Valid —" lines: more than a pipe holds at once
        (pipelines / f"p{number:04d}.yaml").write_text(agent, encoding="utf-8")
    (pipelines / "zz_broken.yaml").write_text("agents:\n  - id: b\n    runtime: nope\n", encoding="utf-8")
    result = aqm("validate", cwd=project)
    assert result.returncode == 1
    assert sum(line.startswith("Valid — ") for line in result.stdout.splitlines()) == 1501  # + default
    assert "Invalid — .aqm/pipelines/zz_broken.yaml" in result.stderr


@pytest.mark.parametrize("argv", [["--help"], ["validate"], ["agents"], ["schema"]])
def test_light_commands_import_no_server_libraries(argv: list[str], project: Path) -> None:
    code = (
        "import sys\nfrom app.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('fastapi', 'githubkit', 'sqlalchemy', 'httpx', 'arq', 'rich') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=project, capture_output=True, text=True, check=False
    )
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr


def test_the_command_in_an_install_that_has_everything_says_so_and_installs_nothing() -> None:
    result = subprocess.run([AQM, "install-local"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "runtime: local is installed" in result.stdout
