"""The one error tree of the project. Callers branch on the type, never on the text.

    AqmError                    every error we raise on purpose
    ├── ConfigError             a setting (AQM_* variable) is missing or contradicts another
    ├── ProjectError            no .aqm/ directory, unknown pipeline name, file we cannot write
    ├── SpecErrors              one or more problems in agents.yaml / config.yaml
    │       .errors: list[SpecError]   each with file, line, column, message and a fix hint
    ├── TaskError               a task id that does not exist, a command the task's status refuses
    ├── StoreError              the database refused (after its own retries)
    │   └── VersionConflict     another writer committed the task first (optimistic concurrency)
    └── RuntimeFailed           a stage's CLI or command did not produce an answer (.category)
        ├── CliNotFound         the executable is not on PATH            category "cli_missing"
        ├── NotAuthenticated    the CLI has no credentials               category "auth"
        ├── RateLimited         the provider refused with a 429          category "rate_limit"
        ├── TimedOut            killed after the runtime's timeout       category "timeout"
        ├── ExitedNonZero       exit code != 0 (.exit_code, .stderr_tail) category "exit"
        └── BadAnswer           the CLI answered, but not in the format asked (e.g. a JSON verdict)

"Failed" (the work said no: a gate rejected, a command exited 1) is not an error here: it
is an event the engine routes. RuntimeFailed means the machine did not answer: the agent's
`retry:` policy applies, then the task fails with the error. A worker that dies mid-stage
raises nothing: recovery re-runs that stage.

A SpecError is data, not an exception: validation collects every problem of a file and
raises them together, so an author fixes them in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass


class AqmError(Exception):
    """Base of every error we raise on purpose."""


class ConfigError(AqmError):
    """A required AQM_* setting is missing, or two settings contradict each other."""

    def __init__(self, message: str, *, variable: str | None = None) -> None:
        super().__init__(message)
        self.variable = variable


class ProjectError(AqmError):
    """The project layout is not what the command needs (no .aqm/, unknown pipeline...)."""


@dataclass(frozen=True, slots=True)
class SpecError:
    """One problem in a pipeline or config file, located at the offending YAML node."""

    message: str
    path: str
    line: int  # 1-based
    column: int  # 1-based
    fix: str = ""

    def render(self) -> str:
        text = f"{self.path}:{self.line}:{self.column}: {self.message}"
        return f"{text}\n    fix: {self.fix}" if self.fix else text


class SpecErrors(AqmError):
    """Every problem found in one validation run, in file order."""

    def __init__(self, errors: list[SpecError]) -> None:
        self.errors = sorted(set(errors), key=lambda e: (e.path, e.line, e.column, e.message))
        super().__init__("\n".join(e.render() for e in self.errors))


class TaskError(AqmError):
    """The task does not exist, or its status does not allow the command (approve a running task...)."""


class StoreError(AqmError):
    """The database refused an operation after its own retries."""


class VersionConflict(StoreError):
    """Another process committed the task since it was loaded: reload it, theirs wins."""


class RuntimeFailed(AqmError):
    """A CLI or command did not produce an answer. Callers branch on the subclass or `category`."""

    category = "unknown"

    def __init__(self, message: str, *, partial_output: str = "") -> None:
        super().__init__(message)
        self.partial_output = partial_output


class CliNotFound(RuntimeFailed):
    category = "cli_missing"


class NotAuthenticated(RuntimeFailed):
    category = "auth"


class RateLimited(RuntimeFailed):
    """The provider answered 429 (quota or rate): the CLI gave up; the retry policy decides."""

    category = "rate_limit"


class TimedOut(RuntimeFailed):
    category = "timeout"


class ExitedNonZero(RuntimeFailed):
    category = "exit"

    def __init__(
        self, message: str, *, exit_code: int, stderr_tail: str = "", partial_output: str = ""
    ) -> None:
        super().__init__(message, partial_output=partial_output)
        self.exit_code = exit_code
        self.stderr_tail = stderr_tail


class BadAnswer(RuntimeFailed):
    category = "bad_answer"
