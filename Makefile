# The two commands of the README's Quick start: `make demo` and `make test`.
# Each creates .venv and installs what it needs on first use (Python 3.11+, a Debian machine).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# apt-get needs root: as another user (a CI runner's, which has sudo) it goes through sudo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint typecheck unit bench clean bytecode image-test

# The `local` extra (runtime: local) is built portably by scripts/install_local.sh, which keeps the
# built wheel in ~/.cache/aqm-wheels: about 4 minutes the first time on a machine, seconds after.
# bubblewrap (`bwrap`) is the stage sandbox (app/runtimes/sandbox.py): installed with apt-get when missing.
# The real claude, gemini and codex of tests/conformance (pinned) are installed by scripts/install_clis.sh
# into ~/.cache/aqm-clis: about 30 s and 930 MB the first time on a machine, nothing after.
$(STAMP): pyproject.toml constraints.txt scripts/install_local.sh scripts/install_clis.sh
	command -v bwrap >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q bubblewrap; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24,<27"
	$(BIN)/python -m pip install --quiet -c constraints.txt --config-settings editable_mode=compat -e ".[dev]"
	scripts/install_local.sh $(BIN)/python
	scripts/install_clis.sh
	touch $(STAMP)

# Our modules as a pip install leaves them: compiled once, not at every `aqm` start (machines that
# set PYTHONDONTWRITEBYTECODE=1 otherwise recompile them in every process). Skips what is current.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q app

demo: $(STAMP) bytecode
	$(BIN)/python -m app.playground

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) bytecode
	$(BIN)/pytest

test: lint typecheck unit

bench: $(STAMP) bytecode
	$(BIN)/python bench/validate.py
	$(BIN)/python bench/store.py
	$(BIN)/python bench/runtime_prompt.py
	$(BIN)/python bench/orchestration.py
	$(BIN)/python bench/tokens.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/local_model.py
	$(BIN)/python bench/webhook_latency.py
	$(BIN)/python bench/webhook_latency.py --commands 0.05
	$(BIN)/python bench/github_calls.py
	$(BIN)/python bench/first_card.py
	$(BIN)/python bench/sandbox.py
	$(BIN)/python bench/action.py

# The container image (Dockerfile) built with podman and run for real by tests/image: /healthz, a
# signed delivery from the simulator, a non-root server, a sandboxed stage. The base is made with
# debootstrap and cached in IMAGE_CACHE (scripts/image.sh): a warm run rebuilds only what changed.
IMAGE_CACHE ?= $(HOME)/.cache/aqm-image
IMAGE ?= localhost/aqm:test
image-test: $(STAMP)
	AQM_IMAGE=$(IMAGE) AQM_IMAGE_CACHE=$(IMAGE_CACHE) scripts/image.sh build
	AQM_TEST_IMAGE=$(IMAGE) CONTAINERS_CONF=$(IMAGE_CACHE)/containers.conf $(BIN)/pytest -p no:cacheprovider tests/image

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
