"""`runtime: command`: run the agent's `command:` words (no shell) as a stage.

The stage input goes to stdin, and its path in `AQM_INPUT_FILE` (a file of the run's `Stage`: the
one AQM_* variable a child sees, and it holds no secret). The output is stdout, then stderr under a
`--- stderr ---` line when there is any. A non-zero exit is not an error but the stage's verdict:
`Finished(exit_code=N)`, which the engine routes on (DESIGN.md, config keys we add). Only a missing
executable, a timeout or a cancellation raise. The child gets the base allowlisted environment and
the agent's `env:`, no LLM credentials.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from app.errors import RuntimeFailed
from app.runtimes.base import Finished, RunRequest, RuntimeEvent, TextDelta
from app.runtimes.process import MIB, ProcessRuntime, allowed_env, run_process

NAME = "command"
INPUT_FILE_VAR = "AQM_INPUT_FILE"
INPUT_FILE_NAME = "aqm-input.txt"
STDERR_LABEL = "--- stderr ---"
STDERR_KEPT_BYTES = 1 * MIB  # the end of a longer stderr is kept, with a note of what was cut


def command_output(stdout: str, stderr: str, *, stderr_bytes: int | None = None) -> str:
    """stdout, then the stderr section; `stderr_bytes` (the full size) notes a truncated stderr."""
    if not stderr:
        return stdout
    if stderr_bytes is not None and stderr_bytes > len(stderr.encode("utf-8")):
        stderr = f"[first {stderr_bytes - len(stderr.encode('utf-8'))} bytes of stderr cut]\n{stderr}"
    separator = "" if not stdout or stdout.endswith("\n") else "\n"
    return f"{stdout}{separator}{STDERR_LABEL}\n{stderr}"


class CommandRuntime(ProcessRuntime):
    """`runtime: command`."""

    name = NAME

    def default_model(self) -> str | None:
        return None

    async def run(self, request: RunRequest) -> AsyncIterator[RuntimeEvent]:
        if not request.argv:
            raise RuntimeFailed("runtime: command needs a `command:` to run")
        chunks: list[str] = []
        with self.launcher.stage() as stage:
            input_file = stage.file(INPUT_FILE_NAME, request.prompt)
            env = {**allowed_env(request.env), INPUT_FILE_VAR: str(input_file)}
            async with run_process(
                request.argv,
                stdin=request.prompt,
                cwd=request.workdir,
                env=env,
                timeout_s=request.timeout_s,
                stderr_tail_bytes=STDERR_KEPT_BYTES,
                stage=stage,
            ) as child:
                async for line in child:
                    chunks.append(line)
                    yield TextDelta(line)
        output = command_output("".join(chunks), child.stderr_tail, stderr_bytes=child.stderr_bytes)
        yield Finished(output=output, exit_code=child.exit_code)
