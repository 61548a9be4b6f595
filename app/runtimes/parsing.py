"""Pure helpers the adapters' parsers share: JSON lines, tool summaries, strict JSON answers, failures."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.errors import BadAnswer, ExitedNonZero, NotAuthenticated, RateLimited, RuntimeFailed

MESSAGE_TAIL_CHARS = 2000  # of stderr or an error text, quoted in an error message
TOOL_DETAIL_CHARS = 120
TOOL_DETAIL_KEYS = ("command", "file_path", "path", "pattern", "query", "url", "description")
FENCED_JSON = re.compile(r"```json[ \t]*\n(.*?)\n[ \t]*```", re.DOTALL | re.IGNORECASE)
QUOTED_LINE_CHARS = 500  # of the line that says "auth" or "429", quoted in the error
AUTH_STATUS = re.compile(r"\b(401|403)\b")


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """How one CLI words the failures its author must read plainly: no or bad credentials (what to
    check: `auth_hint`) and the provider's 429. Matched case-insensitively in its error text."""

    runtime: str
    auth_markers: tuple[str, ...]
    rate_markers: tuple[str, ...]
    auth_hint: str  # "check ANTHROPIC_API_KEY"

    def classify(self, text: str) -> RuntimeFailed | None:
        """NotAuthenticated or RateLimited when `text` says so (quoting the line that does), else None."""
        if (line := _line_with(text, self.auth_markers)) is not None:
            status = AUTH_STATUS.search(line)
            code = f" ({status.group(1)})" if status else ""
            return NotAuthenticated(
                f"{self.runtime}: authentication failed{code}: {self.auth_hint} ({self.runtime} said: {line})"
            )
        if (line := _line_with(text, self.rate_markers)) is not None:
            return RateLimited(
                f"{self.runtime}: rate limited (429) by its provider: wait, or raise the quota "
                f"({self.runtime} said: {line})"
            )
        return None


def _line_with(text: str, markers: tuple[str, ...]) -> str | None:
    """The first line of `text` holding one of `markers` (case-insensitive), shortened; else None."""
    for line in text.splitlines():
        if any(marker.lower() in line.lower() for marker in markers):
            return shorten(line, QUOTED_LINE_CHARS)
    return None


def json_object(line: str) -> dict[str, Any] | None:
    """One JSONL line as an object; None for blank lines, non-JSON noise and non-objects."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def summarize_tool_input(tool_input: object) -> str:
    """A short, human-readable summary of a tool call's input (never the whole input)."""
    if isinstance(tool_input, Mapping):
        for key in TOOL_DETAIL_KEYS:
            if isinstance(value := tool_input.get(key), str) and value:
                return shorten(value, TOOL_DETAIL_CHARS)
    text = tool_input if isinstance(tool_input, str) else json.dumps(tool_input, ensure_ascii=False)
    return shorten(text, TOOL_DETAIL_CHARS)


def shorten(text: str, max_chars: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def tail(text: str, max_chars: int = MESSAGE_TAIL_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= max_chars else "…" + text[-max_chars:]


def parse_json_answer(text: str, schema: Mapping[str, Any], *, runtime: str) -> Any:
    """The answer as JSON: the whole text, else its last fenced ```json block. BadAnswer otherwise.

    Checks the top-level shape the schema asks for (an object with its `required` keys); a full
    JSON Schema validation is the caller's business.
    """
    candidates = [text.strip(), *reversed(FENCED_JSON.findall(text))]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        _check_shape(value, schema, runtime=runtime)
        return value
    raise BadAnswer(f"{runtime} was asked for JSON but answered: {shorten(text, 300)!r}", partial_output=text)


def _check_shape(value: object, schema: Mapping[str, Any], *, runtime: str) -> None:
    if schema.get("type") != "object":
        return
    if not isinstance(value, dict):
        raise BadAnswer(f"{runtime} answered JSON that is not an object: {shorten(json.dumps(value), 300)}")
    missing = [key for key in schema.get("required", ()) if key not in value]
    if missing:
        raise BadAnswer(f"{runtime} answered JSON without the required keys {missing}")


def failure(message: str, *, exit_code: int, stderr_tail: str, diagnosis: Diagnosis) -> RuntimeFailed:
    """The error for a CLI that reported a failure: auth or rate limit when it says so, else by exit code."""
    if (known := diagnosis.classify(message)) is not None:
        return known
    text = f"{diagnosis.runtime} failed: {tail(message)}"
    if exit_code != 0:
        return ExitedNonZero(text, exit_code=exit_code, stderr_tail=stderr_tail)
    return RuntimeFailed(text)


def exit_failure(exit_code: int, stderr_tail: str, *, diagnosis: Diagnosis) -> RuntimeFailed:
    """The error for a non-zero exit the output did not explain: its stderr may still say why."""
    if (known := diagnosis.classify(stderr_tail)) is not None:
        return known
    return exited_non_zero(diagnosis.runtime, exit_code, stderr_tail)


def exited_non_zero(runtime: str, exit_code: int, stderr_tail: str) -> ExitedNonZero:
    """A CLI that exited non-zero without a failure report of its own: quote the end of its stderr."""
    how = f"was killed by signal {-exit_code}" if exit_code < 0 else f"exited with code {exit_code}"
    quoted = tail(stderr_tail) or "(nothing on stderr)"
    return ExitedNonZero(f"{runtime} {how}: {quoted}", exit_code=exit_code, stderr_tail=stderr_tail)


def as_int(value: object) -> int:
    """A token count from JSON: ints (not bools) as they are, anything else 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def as_float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
