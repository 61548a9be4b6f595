"""Runtime names (agents.yaml `runtime:`) to adapters, and whether an LLM CLI could run here.

`cli_available` is how the offline demo decides between a real CLI and its own runtimes: the
executable is on PATH and its credentials are present (variables, or a login's files in HOME);
for `local`, llama-cpp-python and the default model are installed. It starts no process (nor
imports llama_cpp), so it cannot tell a revoked key from a good one.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from app.errors import CliNotFound
from app.runtimes.base import Runtime
from app.runtimes.process import UNSANDBOXED, Launcher

log = logging.getLogger("aqm.runtimes")

# runtime name -> (module, adapter class): a module is imported when its runtime is first asked
# for, so `aqm run` on claude does not load the others (the local runtime's among them)
ADAPTERS: dict[str, tuple[str, str]] = {
    "claude": ("app.runtimes.claude", "ClaudeRuntime"),
    "gemini": ("app.runtimes.gemini", "GeminiRuntime"),
    "codex": ("app.runtimes.codex", "CodexRuntime"),
    "command": ("app.runtimes.command", "CommandRuntime"),
    "local": ("app.runtimes.local", "LocalRuntime"),
}
CREDENTIAL_CLIS = ("claude", "gemini", "codex")  # their modules' `has_credentials`
# every adapter starts its processes through a Launcher: one per stage (process.ProcessRuntime), or
# for `local` warm children shared by stages, started the same way (local.pool_for)
LAUNCHED = frozenset({"claude", "gemini", "codex", "command", "local"})
RuntimeFactory = Callable[[str], Runtime]


def adapter_class(name: str) -> Callable[..., Runtime]:
    """The adapter class of runtime `name` (KeyError when there is none)."""
    module, attribute = ADAPTERS[name]
    factory: Callable[..., Runtime] = getattr(importlib.import_module(module), attribute)
    return factory


def get_runtime(name: str, *, launcher: Launcher = UNSANDBOXED) -> Runtime:
    """The adapter for `name`, starting its processes through `launcher`; CliNotFound (a stage
    failure, not a crash) for a runtime not built in."""
    try:
        factory = adapter_class(name)
    except KeyError:
        available = ", ".join(sorted(ADAPTERS))
        raise CliNotFound(f"runtime {name!r} is not available here (available: {available})") from None
    return factory(launcher) if name in LAUNCHED else factory()


def stage_launcher(*, sandbox: bool, data_dir: Path, logins: bool = False) -> Launcher:
    """The launcher of every stage: the sandbox (ConfigError when this machine has none), or, when
    the operator opted out, none, said loudly."""
    if not sandbox:
        log.warning("STAGES RUN UNSANDBOXED: every stage can read this process's secrets, database and files")
        return UNSANDBOXED
    from app.runtimes.sandbox import Sandbox

    return Sandbox.build(hidden=[data_dir], logins=logins)


def runtimes_for(launcher: Launcher) -> RuntimeFactory:
    """The runtime factory the driver is given: every adapter starting its processes via `launcher`."""
    return functools.partial(get_runtime, launcher=launcher)


def cli_available(name: str, *, environ: Mapping[str, str] | None = None) -> bool:
    """True when runtime `name` can run here: always for `command`; for `local`, when its extra and
    model are installed; for a CLI, on PATH with credentials."""
    environ = os.environ if environ is None else environ
    if name == "command":
        return True
    if name == "local":
        from app.runtimes import local

        return local.available()
    if name not in CREDENTIAL_CLIS:
        return False
    has_credentials: Callable[[Mapping[str, str]], bool] = importlib.import_module(
        ADAPTERS[name][0]
    ).has_credentials
    return shutil.which(name, path=environ.get("PATH", "")) is not None and has_credentials(environ)
