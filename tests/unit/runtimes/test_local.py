"""`runtime: local` without a model: grammars, schema bounds, flags, how the model and extra are found."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from app.engine.gates import VERDICT_SCHEMA, entry_schema
from app.errors import CliNotFound, RuntimeFailed
from app.runtimes import local
from app.runtimes.local_worker import bounded_schema, choice_grammar, gbnf_literal, stub_value
from app.runtimes.registry import cli_available, get_runtime


def test_a_choice_grammar_allows_exactly_the_given_lines() -> None:
    assert choice_grammar(["HANDOFF: qa", "HANDOFF: dev"]) == 'root ::= "HANDOFF: qa" | "HANDOFF: dev"\n'


def test_grammar_literals_escape_quotes_backslashes_and_newlines() -> None:
    assert gbnf_literal('say "hi"\\\n') == '"say \\"hi\\"\\\\\\n"'


def test_a_choice_needs_a_line() -> None:
    with pytest.raises(ValueError):
        choice_grammar([])


def test_free_strings_get_a_length_bound_and_enums_keep_theirs() -> None:
    bounded = bounded_schema(VERDICT_SCHEMA)
    assert bounded["properties"]["reason"]["maxLength"] == 240
    assert "maxLength" not in bounded["properties"]["decision"]
    assert VERDICT_SCHEMA["properties"]["reason"] == {"type": "string"}  # the original is untouched
    nested = bounded_schema({"type": "array", "items": [{"type": "string", "maxLength": 5}]})
    assert nested["items"][0]["maxLength"] == 5


def test_the_stub_answer_fits_the_schema() -> None:
    assert stub_value(VERDICT_SCHEMA) == {"decision": "approved", "reason": "stub"}
    assert stub_value(entry_schema(("b", "c"))) == {"agent": "b"}


FLAGS = {
    "no flags: the defaults": ([], local.Generation()),
    "pairs": (
        ["--max-tokens", "64", "--temperature", "0.5"],
        local.Generation(max_tokens=64, temperature=0.5),
    ),
    "name=value": (
        ["--ctx=4096", "--threads=1", "--seed", "7"],
        local.Generation(ctx=4096, threads=1, seed=7),
    ),
}


@pytest.mark.parametrize(("flags", "expected"), list(FLAGS.values()), ids=list(FLAGS))
def test_cli_flags_set_the_generation(flags: list[str], expected: local.Generation) -> None:
    assert local.parse_flags(flags) == expected


@pytest.mark.parametrize("flags", [["--dangerously-skip-permissions"], ["--max-tokens"], ["--seed", "x"]])
def test_an_unknown_flag_or_a_bad_value_fails_the_stage(flags: list[str]) -> None:
    with pytest.raises(RuntimeFailed, match="local"):
        local.parse_flags(flags)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder first on sys.path, where a test puts stand-ins of the extra's packages."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(local, "ENGINE_PACKAGE", "aqm_test_llama_cpp")
    monkeypatch.setattr(local, "MODEL_PACKAGE", "aqm_test_smollm2")
    importlib.invalidate_caches()
    return tmp_path


def stand_in(site: Path, package: str, *files: str) -> Path:
    """A package whose import fails: finding it must never import it."""
    folder = site / package
    folder.mkdir()
    (folder / "__init__.py").write_text("raise ImportError('never import me')\n")
    for name in files:
        (folder / name).write_bytes(b"GGUF")
    importlib.invalidate_caches()
    return folder


def test_the_default_model_is_the_gguf_inside_the_model_package_found_without_importing_it(
    site: Path,
) -> None:
    folder = stand_in(site, "aqm_test_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    assert local.default_model_path() == folder / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert "aqm_test_smollm2" not in sys.modules


def test_local_is_available_only_with_the_extra_and_the_model(site: Path) -> None:
    assert not cli_available("local")
    stand_in(site, "aqm_test_llama_cpp")
    assert not cli_available("local")  # the engine without a model
    stand_in(site, "aqm_test_smollm2", "model.gguf")
    assert cli_available("local")
    assert get_runtime("local").default_model() == str(site / "aqm_test_smollm2" / "model.gguf")


def test_without_the_extra_a_local_stage_fails_naming_the_aqm_command_that_installs_it(
    site: Path, tmp_path: Path
) -> None:
    with pytest.raises(CliNotFound, match="run `aqm install-local`"):
        local.resolve_model(None, tmp_path)


def test_a_model_path_is_relative_to_the_project_and_must_exist(site: Path, tmp_path: Path) -> None:
    stand_in(site, "aqm_test_llama_cpp")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "tiny.gguf").write_bytes(b"GGUF")
    assert local.resolve_model("models/tiny.gguf", tmp_path) == tmp_path / "models" / "tiny.gguf"
    with pytest.raises(CliNotFound, match="does not exist"):
        local.resolve_model("models/missing.gguf", tmp_path)


def test_a_relative_model_path_never_follows_a_link_out_of_the_workspace(site: Path, tmp_path: Path) -> None:
    stand_in(site, "aqm_test_llama_cpp")
    (tmp_path / "outside.gguf").write_bytes(b"GGUF")
    workspace = tmp_path / "workspace"
    (workspace / "models").mkdir(parents=True)
    (workspace / "models" / "linked.gguf").symlink_to(tmp_path / "outside.gguf")
    (workspace / "linked").symlink_to(tmp_path)
    for model in ("models/linked.gguf", "linked/outside.gguf", "../outside.gguf"):
        with pytest.raises(CliNotFound, match="does not exist"):
            local.resolve_model(model, workspace)


def test_importing_the_registry_imports_neither_llama_cpp_nor_numpy() -> None:
    code = "import sys, app.runtimes.registry; print(sorted({'llama_cpp', 'numpy'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
