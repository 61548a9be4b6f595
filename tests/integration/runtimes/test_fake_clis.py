"""The fake CLIs themselves: the argv grammar, preconditions and output shapes of llm-clis.md."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import FakeClis


def run(
    *argv: str, cwd: Path, stdin: str | None = "hi", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, input=stdin, cwd=cwd, capture_output=True, text=True, timeout=20, env=env, check=False
    )


REJECTIONS = {
    "claude: an unknown option": (["claude", "-p", "--x"], 1, "error: unknown option '--x'"),
    "claude: stream-json needs --verbose": (
        ["claude", "-p", "--output-format", "stream-json"],
        1,
        "Error: When using --print, --output-format=stream-json requires --verbose",
    ),
    "claude: a bad output format": (
        ["claude", "-p", "--output-format", "yaml"],
        1,
        "Allowed choices are text, json, stream-json",
    ),
    "claude: bypass as root without IS_SANDBOX": (
        ["claude", "-p", "--dangerously-skip-permissions"],
        1,
        "cannot be used with root/sudo privileges",
    ),
    "codex: --full-auto is gone": (
        ["codex", "exec", "--full-auto", "-"],
        2,
        "error: unexpected argument '--full-auto' found",
    ),
    "codex: outside a git repository": (
        ["codex", "exec", "--json", "-"],
        1,
        "Not inside a trusted directory",
    ),
    "codex: a bad sandbox": (
        ["codex", "exec", "-s", "all", "-"],
        2,
        "error: invalid value 'all' for '--sandbox <SANDBOX_MODE>'",
    ),
    "gemini: an untrusted folder": (
        ["gemini", "-p", "x", "-o", "json"],
        55,
        "is not running in a trusted directory",
    ),
    "gemini: no input": (["gemini", "--skip-trust"], 42, "No input provided via stdin"),
}


@pytest.mark.parametrize(("argv", "exit_code", "stderr"), list(REJECTIONS.values()), ids=list(REJECTIONS))
def test_rejections(
    fake_clis: FakeClis, tmp_path: Path, argv: list[str], exit_code: int, stderr: str
) -> None:
    if "root/sudo" in stderr and os.geteuid() != 0:
        pytest.skip("the root check needs root")
    result = run(*argv, cwd=tmp_path, stdin="" if "No input" in stderr else "hi")
    assert (result.returncode, result.stdout) == (exit_code, "")
    assert stderr in result.stderr


def test_gemini_trusts_the_folder_through_the_environment_variable(
    fake_clis: FakeClis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_CLI_TRUST_WORKSPACE", "true")
    assert run("gemini", "-p", "x", cwd=tmp_path).returncode == 0


def test_codex_inside_a_git_repository_needs_no_skip_flag(fake_clis: FakeClis, tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "sub").mkdir()
    result = run("codex", "exec", "-", cwd=tmp_path / "sub")
    assert result.returncode == 0 and result.stdout == "[codex] hi\n"
    assert "OpenAI Codex v0.171.0" in result.stderr and "tokens used" in result.stderr


def test_text_modes_end_with_one_newline(fake_clis: FakeClis, tmp_path: Path) -> None:
    assert run("claude", "-p", cwd=tmp_path).stdout == "[claude] hi\n"
    assert run("gemini", "-p", "and more", "--skip-trust", cwd=tmp_path).stdout == "[gemini] hi\n"


def test_claude_json_is_one_line_identical_to_the_last_stream_json_line(
    fake_clis: FakeClis, tmp_path: Path
) -> None:
    fake_clis.script({"text": "same", "usage": {"input_tokens": 5, "output_tokens": 1, "cost_usd": 0.01}})
    one = json.loads(run("claude", "-p", "--output-format", "json", cwd=tmp_path).stdout)
    last = json.loads(
        run("claude", "-p", "--output-format", "stream-json", "--verbose", cwd=tmp_path).stdout.splitlines()[
            -1
        ]
    )
    volatile = {"session_id", "uuid", "duration_ms", "duration_api_ms"}
    assert {k: v for k, v in one.items() if k not in volatile} == {
        k: v for k, v in last.items() if k not in volatile
    }
    assert one["modelUsage"]["claude-fake-model"]["costUSD"] == 0.01


def test_gemini_json_is_pretty_without_a_trailing_newline(fake_clis: FakeClis, tmp_path: Path) -> None:
    stdout = run("gemini", "-p", "x", "-o", "json", "--skip-trust", cwd=tmp_path).stdout
    assert stdout.startswith("{\n  ") and stdout.endswith("}")
    assert json.loads(stdout)["response"] == "[gemini] hi"


def test_gemini_appends_p_to_stdin(fake_clis: FakeClis, tmp_path: Path) -> None:
    run("gemini", "-p", "the instruction", "--skip-trust", cwd=tmp_path, stdin="the task")
    expected = hashlib.sha256(b"the task\n\nthe instruction").hexdigest()
    assert fake_clis.calls()[0]["prompt_sha256"] == expected


def test_gemini_without_credentials_exits_41_with_the_message_on_stderr(
    fake_clis: FakeClis, tmp_path: Path
) -> None:
    fake_clis.log_out()
    result = run("gemini", "-p", "x", "-o", "stream-json", "--skip-trust", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (41, "")
    assert "Please set an Auth method" in result.stderr
    json_mode = run("gemini", "-p", "x", "-o", "json", "--skip-trust", cwd=tmp_path)
    assert json.loads(json_mode.stderr)["error"]["code"] == 41


def test_gemini_api_errors_exit_with_the_http_status_mod_256(fake_clis: FakeClis, tmp_path: Path) -> None:
    """With one attempt and a model named: no retries (each takes 5-30 s in the real one)."""
    settings = Path(os.environ["HOME"]) / ".gemini" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text('{"general": {"maxAttempts": 1}}')
    fake_clis.mode("429")
    result = run("gemini", "-p", "x", "-o", "stream-json", "--skip-trust", "-m", "m", cwd=tmp_path)
    last = json.loads(result.stdout.splitlines()[-1])
    assert result.returncode == 173 and last["status"] == "error"
    json_mode = run("gemini", "-p", "x", "-o", "json", "--skip-trust", "-m", "m", cwd=tmp_path)
    assert (json_mode.returncode, json_mode.stdout) == (
        173,
        "",
    ) and "Resource has been exhausted" in json_mode.stderr


def test_claude_without_credentials_reports_not_logged_in_on_stdout(
    fake_clis: FakeClis, tmp_path: Path
) -> None:
    fake_clis.log_out()
    result = run("claude", "-p", "--output-format", "json", cwd=tmp_path)
    answer = json.loads(result.stdout)
    assert (
        result.returncode == 1
        and answer["is_error"]
        and answer["result"] == "Not logged in · Please run /login"
    )


def test_codex_reads_stdin_to_eof_and_appends_it_to_an_argument(fake_clis: FakeClis, tmp_path: Path) -> None:
    result = run("codex", "exec", "--skip-git-repo-check", "the task", cwd=tmp_path, stdin="piped")
    assert "Reading additional input from stdin..." in result.stderr
    expected = hashlib.sha256(b"the task\n\n<stdin>\npiped\n</stdin>").hexdigest()
    assert fake_clis.calls()[0]["prompt_sha256"] == expected


def test_codex_login_status(fake_clis: FakeClis, tmp_path: Path) -> None:
    assert run("codex", "login", "status", cwd=tmp_path).returncode == 0
    fake_clis.log_out()
    result = run("codex", "login", "status", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (1, "Not logged in\n")


def test_versions(fake_clis: FakeClis, tmp_path: Path) -> None:
    assert run("claude", "--version", cwd=tmp_path).stdout == "2.1.337 (Claude Code)\n"
    assert run("codex", "--version", cwd=tmp_path).stdout == "codex-cli 0.171.0\n"


def test_an_unknown_mode_is_a_loud_test_error(fake_clis: FakeClis, tmp_path: Path) -> None:
    fake_clis.mode("teapot")
    result = run("claude", "-p", cwd=tmp_path)
    assert result.returncode == 99 and "unknown mode 'teapot'" in result.stderr


def test_claude_retries_a_401_unless_told_not_to_as_the_real_one(fake_clis: FakeClis, tmp_path: Path) -> None:
    fake_clis.mode("401")
    argv = ["claude", "-p", "hi", "--output-format", "stream-json", "--verbose"]
    once = run(*argv, cwd=tmp_path, env={**os.environ, "CLAUDE_CODE_MAX_RETRIES": "0"})
    assert once.returncode == 1 and "Invalid API key" in once.stdout.splitlines()[-1]
    with subprocess.Popen(
        argv, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True
    ) as retrying:
        assert retrying.stdout is not None
        lines = [json.loads(retrying.stdout.readline()) for _ in range(2)]
        retrying.kill()
    assert [line.get("subtype") for line in lines] == ["init", "api_retry"]
    assert lines[1]["max_retries"] == 10 and lines[1]["error_status"] == 401


def test_gemini_with_api_key_auth_selected_but_no_key_says_so(fake_clis: FakeClis, tmp_path: Path) -> None:
    fake_clis.log_out()
    settings = Path(os.environ["HOME"]) / ".gemini" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text('{"security": {"auth": {"selectedType": "gemini-api-key"}}}')
    result = run("gemini", "-p", "x", "-o", "stream-json", "--skip-trust", cwd=tmp_path)
    assert result.returncode == 41
    assert "When using Gemini API, you must specify the GEMINI_API_KEY environment variable." in result.stderr
