"""The shared core of the fake `claude`, `gemini` and `codex` (llm-clis.md section 5). Stdlib only.

Each executable in this folder adds the folder to sys.path and calls its module's `main()`
(fake_claude.py, fake_gemini.py, fake_codex.py). A fake parses the real CLI's argv grammar and
rejects what it rejects, reads the prompt where the real one does, checks the real preconditions
(credentials, gemini's trusted folder, codex's git repository, claude's root bypass), then answers
in the real output formats with the real exit codes, error placement and stderr noise.

Test hooks: environment variables named FAKE_CLI_*, which the runtimes' environment allowlist
passes on (they hold file paths and a mode, never a secret):

FAKE_CLI_SCRIPT=/path/script.json   what to answer:
    {"rules": [RULE, ...], "default": ANSWER}
    RULE   = ANSWER + {"cli": "claude"|"gemini"|"codex"|null, "match": regex|null, "times": N|null}
    ANSWER = {"text": str, "json": any, "mode": MODE, "delay_s": float,
              "usage": {"input_tokens": int, "output_tokens": int, "cost_usd": float}}
    The first rule whose `cli` fits and whose `match` is found in the prompt (re.search) answers,
    at most `times` times (counted in <script>.counts.json under a lock, so parallel calls from
    several processes agree). Nothing matches: the script's `default`, else the text
    "[<cli>] <first line of the prompt>". With a JSON schema (claude --json-schema, codex
    --output-schema) the answer is `json`, else `text` when it parses, else a minimal instance.
    MODE: ok | tool (one tool call, then the answer) | 401 | 429 | 500 | hang (starts a child
    `sleep`, then never answers) | slow (pauses between events) | big-stderr (256 KiB on stderr
    first, then the answer) | exit1 (a crash: a line on stderr, exit 1) | snoop (a prompt-injected
    agent: the answer is every NAME=VALUE it can read, from its own environment and from every
    /proc/*/environ, its parent's included)
FAKE_CLI_MODE=MODE                  overrides every answer's mode
FAKE_CLI_LOG=/path/log.jsonl        one JSON line per call: cli, argv, cwd, pid, child_pids,
    env_keys (names only), stdin_bytes, stdin_sha256, prompt_sha256, mode, mcp (servers configured),
    started (wall-clock time.time() when the call began; a call logs before its `delay_s`, so it
    cannot finish before started + delay_s)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

MODES = frozenset({"ok", "tool", "401", "429", "500", "hang", "slow", "big-stderr", "exit1", "snoop"})
SLOW_PAUSE_S = 0.2
BIG_STDERR_BYTES = 256 * 1024
HANG_CHILD_S = 600


class Exit(Exception):
    """End the call: `stdout`/`stderr` are written as they are, then the process exits with `code`."""

    def __init__(self, code: int, *, stderr: str = "", stdout: str = "") -> None:
        super().__init__(code)
        self.code, self.stderr, self.stdout = code, stderr, stdout


@dataclass
class Answer:
    text: str | None = None
    json: Any = None
    mode: str = "ok"
    delay_s: float = 0.0
    usage: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Answer:
        return cls(
            text=data.get("text"),
            json=data.get("json"),
            mode=str(data.get("mode") or "ok"),
            delay_s=float(data.get("delay_s") or 0.0),
            usage=dict(data.get("usage") or {}),
        )

    def final_text(self, cli: str, prompt: str) -> str:
        if self.text is not None:
            return self.text
        if self.json is not None:
            return json.dumps(self.json, ensure_ascii=False)
        return default_text(cli, prompt)

    def structured(self, schema: Any) -> Any:
        """The JSON answer to a schema: `json`, else `text` when it parses, else a minimal instance."""
        if self.json is not None:
            return self.json
        if self.text is not None:
            with contextlib.suppress(ValueError):
                return json.loads(self.text)
        return minimal_instance(schema)

    def tokens(self, prompt: str, text: str) -> tuple[int, int, float]:
        """(input, output, cost): the script's numbers, else ones derived from the sizes."""
        input_tokens = int(self.usage.get("input_tokens", max(1, len(prompt.encode()) // 4)))
        output_tokens = int(self.usage.get("output_tokens", max(1, len(text.encode()) // 4)))
        cost = float(self.usage.get("cost_usd", round((input_tokens * 3 + output_tokens * 15) / 1e6, 6)))
        return input_tokens, output_tokens, cost


def default_text(cli: str, prompt: str) -> str:
    first = next((line.strip() for line in prompt.splitlines() if line.strip()), "")
    return f"[{cli}] {first[:80]}"


def minimal_instance(schema: Any) -> Any:
    """The smallest value a (simple) JSON Schema accepts: what a fake model answers when unscripted."""
    if not isinstance(schema, dict):
        return None
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) and kind else kind
    if kind == "object":
        properties = schema.get("properties") or {}
        return {key: minimal_instance(properties.get(key)) for key in schema.get("required") or []}
    return {"string": "", "integer": 0, "number": 0, "boolean": False, "array": []}.get(str(kind))


# ---- argv ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grammar:
    """A CLI's options: booleans, one-value options, repeatable and variadic ones, short aliases."""

    flags: frozenset[str]
    values: frozenset[str]
    unknown: Callable[[str], Exit]
    missing: Callable[[str], Exit]
    variadic: frozenset[str] = frozenset()  # values up to the next option (commander's `<x...>`)
    repeatable: frozenset[str] = frozenset()  # collected in a list
    aliases: dict[str, str] = field(default_factory=dict)


def parse_argv(argv: list[str], grammar: Grammar) -> tuple[dict[str, Any], list[str]]:
    """Options by their long name, and the positional words; Exit on what the grammar refuses."""
    options: dict[str, Any] = {}
    positionals: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        index += 1
        if arg == "--":
            positionals += argv[index:]
            break
        if not arg.startswith("-") or arg == "-":
            positionals.append(arg)
        else:
            index = _parse_option(arg, argv, index, grammar, options)
    return options, positionals


def _parse_option(arg: str, argv: list[str], index: int, grammar: Grammar, options: dict[str, Any]) -> int:
    name, has_value, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
    name = grammar.aliases.get(name, name)
    if name in grammar.flags:
        options[name] = True
        return index
    if name in grammar.variadic:
        values = [value] if has_value else []
        while index < len(argv) and not argv[index].startswith("-"):
            values.append(argv[index])
            index += 1
        if not values:
            raise grammar.missing(name)
        options.setdefault(name, []).extend(values)
        return index
    if name not in grammar.values:
        raise grammar.unknown(arg)
    if not has_value:
        if index >= len(argv):
            raise grammar.missing(name)
        value, index = argv[index], index + 1
    if name in grammar.repeatable:
        options.setdefault(name, []).append(value)
    else:
        options[name] = value
    return index


# ---- the script --------------------------------------------------------------------------------


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def choose_answer(cli: str, prompt: str) -> Answer:
    """The first fitting rule of FAKE_CLI_SCRIPT (counted), else its default; FAKE_CLI_MODE wins."""
    script_path = os.environ.get("FAKE_CLI_SCRIPT")
    script = json.loads(Path(script_path).read_text(encoding="utf-8")) if script_path else {}
    rule = _take_rule(cli, prompt, script.get("rules") or [], Path(script_path)) if script_path else None
    answer = Answer.from_dict(rule if rule is not None else script.get("default") or {})
    answer.mode = os.environ.get("FAKE_CLI_MODE") or answer.mode
    if answer.mode not in MODES:
        raise Exit(99, stderr=f"fakecli: unknown mode {answer.mode!r} (one of {sorted(MODES)})\n")
    if answer.mode == "snoop":
        answer.text = snooped_environment()
    return answer


def snooped_environment() -> str:
    """What a process can read of environments: its own, then each readable /proc/*/environ."""
    lines = [f"own {name}={value}" for name, value in sorted(os.environ.items())]
    for path in sorted(Path("/proc").glob("[0-9]*/environ")):
        with contextlib.suppress(OSError):
            for entry in path.read_bytes().split(b"\0"):
                lines.append(f"{path} {entry.decode('utf-8', errors='replace')}")
    return "\n".join(lines)


def _take_rule(cli: str, prompt: str, rules: list[dict[str, Any]], script: Path) -> dict[str, Any] | None:
    counts_path = script.with_name(script.name + ".counts.json")
    with locked(script.with_name(script.name + ".lock")):
        counts = json.loads(counts_path.read_text()) if counts_path.exists() else {}
        for index, rule in enumerate(rules):
            used = counts.get(str(index), 0)
            if not _fits(rule, cli, prompt) or (rule.get("times") is not None and used >= rule["times"]):
                continue
            counts[str(index)] = used + 1
            counts_path.write_text(json.dumps(counts))
            return rule
    return None


def _fits(rule: dict[str, Any], cli: str, prompt: str) -> bool:
    if rule.get("cli") not in (None, cli):
        return False
    return rule.get("match") is None or re.search(rule["match"], prompt) is not None


# ---- one call ------------------------------------------------------------------------------------


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Call:
    """One invocation: its argv, what it read, and its line in FAKE_CLI_LOG."""

    cli: str
    argv: list[str]
    record: dict[str, Any] = field(default_factory=dict)
    logged: bool = False

    def __post_init__(self) -> None:
        self.record = {
            "cli": self.cli,
            "argv": self.argv,
            "cwd": os.getcwd(),
            "pid": os.getpid(),
            "child_pids": [],
            "env_keys": sorted(os.environ),
            "stdin_bytes": 0,
            "stdin_sha256": sha256(b""),
            "prompt_sha256": None,
            "mode": None,
            "mcp": None,
            "started": time.time(),
        }

    def read_stdin(self) -> str:
        """All of stdin (nothing from a terminal), recorded; decoded as UTF-8."""
        data = b"" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.buffer.read()
        self.record.update(stdin_bytes=len(data), stdin_sha256=sha256(data))
        return data.decode("utf-8", errors="replace")

    def set_prompt(self, prompt: str) -> None:
        self.record["prompt_sha256"] = sha256(prompt.encode("utf-8"))

    def begin(self, answer: Answer) -> None:
        """Log the call (after starting the child of a hang), then wait the answer's delay."""
        self.record["mode"] = answer.mode
        if answer.mode == "hang":
            self.record["child_pids"].append(spawn_sleeper())
        self.write_log()
        time.sleep(answer.delay_s)

    def write_log(self) -> None:
        log_path = os.environ.get("FAKE_CLI_LOG")
        if self.logged or not log_path:
            return
        self.logged = True
        with locked(Path(log_path + ".lock")), Path(log_path).open("a", encoding="utf-8") as log:
            log.write(json.dumps(self.record) + "\n")


def run(cli: str, respond: Callable[[Call], int]) -> int:
    """The body of each fake: respond to the call, turn Exit into output and an exit status, log."""
    call = Call(cli, sys.argv[1:])
    try:
        return respond(call)
    except Exit as exit_:
        write_out(exit_.stdout)
        write_err(exit_.stderr)
        return exit_.code
    finally:
        call.write_log()


# ---- output ------------------------------------------------------------------------------------


def dumps(value: Any) -> str:
    """JSON as Node's JSON.stringify writes it: compact, UTF-8 kept."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def write_out(text: str) -> None:
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.buffer.flush()


def write_err(text: str) -> None:
    sys.stderr.buffer.write(text.encode("utf-8"))
    sys.stderr.buffer.flush()


class Lines:
    """JSON lines on stdout, pausing after each in slow mode."""

    def __init__(self, answer: Answer) -> None:
        self.pause_s = SLOW_PAUSE_S if answer.mode == "slow" else 0.0

    def emit(self, event: dict[str, Any]) -> None:
        write_out(dumps(event) + "\n")
        time.sleep(self.pause_s)


def big_stderr(line: str) -> None:
    """BIG_STDERR_BYTES of log lines on stderr, written before any stdout (catches pipe deadlocks)."""
    count = BIG_STDERR_BYTES // (len(line) + 1) + 1
    write_err((line + "\n") * count)


def spawn_sleeper() -> int:
    """A child in the fake's process group that holds stdout/stderr open, as a CLI's tools would."""
    import subprocess  # only hang mode pays for the import

    sleep = shutil.which("sleep") or "/bin/sleep"
    return subprocess.Popen([sleep, str(HANG_CHILD_S)], stdin=subprocess.DEVNULL).pid


def hang() -> NoReturn:
    while True:
        time.sleep(3600)


def chunks(text: str, parts: int = 3) -> list[str]:
    """The answer in a few streaming deltas."""
    size = max(1, -(-len(text) // parts))
    return [text[start : start + size] for start in range(0, len(text), size)] or [""]


def new_id() -> str:
    return str(uuid.uuid4())


def timestamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
