"""Runtime names (agents.yaml `runtime:`) to adapters, and whether an LLM CLI could run here.

`cli_available` is how the offline demo decides between a real CLI and its own runtimes: the
executable is on PATH and its credentials are present (variables, or a login's files in HOME);
for `local`, llama-cpp-python and the default model are installed. It starts no process (nor
imports llama_cpp), so it cannot tell a revoked key from a good one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping

from app.errors import CliNotFound
from app.runtimes import claude, codex, command, gemini, local
from app.runtimes.base import Runtime

ADAPTERS: dict[str, Callable[[], Runtime]] = {
    claude.NAME: claude.ClaudeRuntime,
    gemini.NAME: gemini.GeminiRuntime,
    codex.NAME: codex.CodexRuntime,
    command.NAME: command.CommandRuntime,
    local.NAME: local.LocalRuntime,
}
CREDENTIAL_CHECKS: dict[str, Callable[[Mapping[str, str]], bool]] = {
    claude.NAME: claude.has_credentials,
    gemini.NAME: gemini.has_credentials,
    codex.NAME: codex.has_credentials,
}


def get_runtime(name: str) -> Runtime:
    """The adapter for `name`; CliNotFound (a stage failure, not a crash) for a runtime not built in."""
    try:
        factory = ADAPTERS[name]
    except KeyError:
        available = ", ".join(sorted(ADAPTERS))
        raise CliNotFound(f"runtime {name!r} is not available here (available: {available})") from None
    return factory()


def cli_available(name: str, *, environ: Mapping[str, str] | None = None) -> bool:
    """True when runtime `name` can run here: always for `command`; for `local`, when its extra and
    model are installed; for a CLI, on PATH with credentials."""
    environ = os.environ if environ is None else environ
    if name == command.NAME:
        return True
    if name == local.NAME:
        return local.available()
    has_credentials = CREDENTIAL_CHECKS.get(name)
    if has_credentials is None:
        return False
    return shutil.which(name, path=environ.get("PATH", "")) is not None and has_credentials(environ)
