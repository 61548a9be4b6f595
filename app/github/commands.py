"""The comment grammar: which lines of an issue comment are aqm commands, parsed into data. Pure.

A command is one line that starts (after at most three spaces) with `/aqm VERB`, `/approve` or
`/reject`, outside fenced code blocks (``` and ~~~), indented code blocks, `>` quotes, HTML
comments and HTML `<pre>`, `<code>` and `<details>` elements (a collapsed `<details>` hides what a
reviewer would have to open to see) — what GitHub shows as plain text at the start of a line.
Everything after the verb is read left to right: options (`--name VALUE` or `--name=VALUE`,
values quoted like a shell word) and a task id (`T-` + at least six hex digits, any case) first,
then free text, which is the rest of the line as typed (`--` ends the options early). Parsing
never raises: a bad line becomes `Invalid`, an unknown verb `Unknown` with a did-you-mean; the
caller replies to both.
(`/aqm approve` and `/aqm reject` are read as `/approve` and `/reject`.)

An edit (`issue_comment.edited`) counts only for the command lines it added: pass the body
before the edit as `previous` (GitHub sends it as `changes.body.from`).
"""

from __future__ import annotations

import difflib
import io
import re
import shlex
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

MAX_BODY_CHARS = 65_536  # GitHub's own limit on a comment: a longer body is not a human's comment
MAX_COMMAND_LINES = 200  # lines that address aqm, per comment; later ones are ignored
MAX_LINE_CHARS = 8_192
MAX_PARAMS = 50

TASK_ID = re.compile(r"^T-[0-9A-F]{6,}$", re.IGNORECASE)
_SHORT_TASK_ID = re.compile(r"^T-[0-9A-F]{1,5}$", re.IGNORECASE)
_CHUNK_ID = re.compile(r"^C-\d{1,9}$", re.IGNORECASE)
_PIPELINE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_AGENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,99}$")
_PARAM_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,99}$")

_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # what Markdown calls a line ending (not \x0b, \u2028...)
_COMMAND_START = re.compile(r"^ {0,3}/(?P<word>[A-Za-z][A-Za-z0-9_-]*)(?=\s|$)")
_INDENTED = re.compile(r"^(?: {4}| {0,3}\t)")
_QUOTE = re.compile(r"^ {0,3}>")
_FENCE_OPEN = re.compile(r"^ {0,3}(?P<fence>`{3,}(?=[^`]*$)|~{3,})")
_BACKTICKS = re.compile(r"`+")
_FENCE_CLOSE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})[ \t]*$")
_HIDING_TAG = re.compile(r"<(?P<close>/?)(?:pre|code|details)(?=[\s>/])", re.IGNORECASE)


# ---- what a comment can ask ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunCommand:
    pipeline: str | None = None
    agent: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    text: str = ""  # empty: the caller uses the issue or PR title and body


@dataclass(frozen=True, slots=True)
class AnswerCommand:
    task_id: str | None
    text: str


@dataclass(frozen=True, slots=True)
class CancelCommand:
    task_id: str | None = None


@dataclass(frozen=True, slots=True)
class RestartCommand:
    task_id: str | None = None
    from_stage: int | None = None


@dataclass(frozen=True, slots=True)
class FixCommand:
    task_id: str | None
    text: str


@dataclass(frozen=True, slots=True)
class StatusCommand:
    task_id: str | None = None


ChunkAction = Literal["list", "add", "done", "remove"]


@dataclass(frozen=True, slots=True)
class ChunksCommand:
    task_id: str | None = None
    action: ChunkAction = "list"
    value: str | None = None  # add: the description; done / remove: the chunk id (C-001)


@dataclass(frozen=True, slots=True)
class HelpCommand:
    pass


@dataclass(frozen=True, slots=True)
class ApproveCommand:
    task_id: str | None = None
    agent: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class RejectCommand:
    task_id: str | None
    agent: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Unknown:
    """A line that addresses aqm with a verb it does not know: answered with help."""

    verb: str  # as typed, with its prefix: "/aqm rnu", "/aprove"
    suggestion: str | None = None  # the command meant, with its prefix: "/aqm run"


@dataclass(frozen=True, slots=True)
class Invalid:
    """A known command with a bad option or a missing argument: answered with the message."""

    line: str
    message: str
    usage: str = ""


CommentCommand = (
    RunCommand
    | AnswerCommand
    | CancelCommand
    | RestartCommand
    | FixCommand
    | StatusCommand
    | ChunksCommand
    | HelpCommand
    | ApproveCommand
    | RejectCommand
    | Unknown
    | Invalid
)

_READ_ONLY = (HelpCommand, StatusCommand, Unknown, Invalid)


def needs_write(command: CommentCommand) -> bool:
    """Whether the commenter must have write access: every command but help and status.

    `Unknown` and `Invalid` act on nothing: they get their reply whoever typed them."""
    return not isinstance(command, _READ_ONLY)


USAGE = {
    "run": "/aqm run [--pipeline NAME] [--agent ID] [--param KEY=VALUE]... [task]",
    "answer": "/aqm answer [T-ID] <text>",
    "cancel": "/aqm cancel [T-ID]",
    "restart": "/aqm restart [T-ID] [--from-stage N]",
    "fix": "/aqm fix [T-ID] <what to change>",
    "status": "/aqm status [T-ID]",
    "chunks": "/aqm chunks [T-ID] [add <text> | done <C-ID> | remove <C-ID>]",
    "help": "/aqm help",
    "approve": "/approve [T-ID] [--agent ID] [reason]",
    "reject": "/reject [T-ID] [--agent ID] <reason>",
}

_NAMES: dict[type, str] = {
    RunCommand: "/aqm run",
    AnswerCommand: "/aqm answer",
    CancelCommand: "/aqm cancel",
    RestartCommand: "/aqm restart",
    FixCommand: "/aqm fix",
    StatusCommand: "/aqm status",
    ChunksCommand: "/aqm chunks",
    HelpCommand: "/aqm help",
    ApproveCommand: "/approve",
    RejectCommand: "/reject",
}


def command_name(command: CommentCommand) -> str:
    """The command as a user types its first words: `/aqm run`, `/approve`."""
    if isinstance(command, Unknown):
        return command.verb
    if isinstance(command, Invalid):
        return " ".join(command.line.split()[:2])[:60]
    return _NAMES[type(command)]


HELP_TEXT = """\
**aqm commands** — one per line, at the start of the line. Without a `T-ID`, a command means \
the newest task of this issue or pull request.

| Command | What it does |
|:--|:--|
| `/aqm run [--pipeline NAME] [--agent ID] [--param KEY=VALUE]… [task]` | Start a pipeline; \
with no task text, this issue or pull request is the task |
| `/approve [T-ID] [--agent ID] [reason]` | Approve the human gate that waits |
| `/reject [T-ID] [--agent ID] <reason>` | Reject it, saying why |
| `/aqm answer [T-ID] <text>` | Answer an agent's question |
| `/aqm status [T-ID]` | Show where a task is |
| `/aqm cancel [T-ID]` | Cancel a task |
| `/aqm restart [T-ID] [--from-stage N]` | Run a task again, by default from the stage that failed |
| `/aqm fix [T-ID] <what to change>` | Start a follow-up task on a task's result |
| `/aqm chunks [T-ID] [add <text> \\| done <C-ID> \\| remove <C-ID>]` | List or edit a task's chunks |
| `/aqm help` | This help |

Every command but `help` and `status` needs write access to the repository. A pull request \
review counts too: *Approve* approves the waiting gate, *Request changes* rejects it with the \
review's text as the reason.
"""


# ---- finding the command lines ------------------------------------------------------------------


def parse_comment(body: str, *, previous: str | None = None) -> list[CommentCommand]:
    """Every command of a comment, in order; with `previous`, only those the edit added."""
    lines = command_lines(body)
    if previous is not None:
        lines = _added(lines, command_lines(previous))
    return [parse_line(line) for line in lines]


def command_lines(body: str) -> list[str]:
    """The lines that address aqm, outside code and quotes, stripped; at most MAX_COMMAND_LINES."""
    if len(body) > MAX_BODY_CHARS:
        return []
    blocks = _Blocks()
    found: list[str] = []
    for line in _LINE_BREAK.split(body):
        if blocks.visible(line) and _addresses_aqm(line):
            found.append(line.strip())
            if len(found) == MAX_COMMAND_LINES:
                break
    return found


@dataclass
class _Blocks:
    """Where a line sits: inside a fenced code block, an HTML comment, an HTML element that hides
    commands (`<pre>`, `<code>`, `<details>`, nested), or in plain text."""

    fence: str | None = None  # the opening fence while inside a fenced block
    in_comment: bool = False
    hiding: int = 0  # HTML elements open that hide commands

    def visible(self, line: str) -> bool:
        """Whether the line is top-level text (and step past it)."""
        if self.fence is not None:
            closing = _FENCE_CLOSE.match(line)
            if closing and closing["fence"][0] == self.fence[0] and len(closing["fence"]) >= len(self.fence):
                self.fence = None
            return False
        was_in_comment, was_hiding = self.in_comment, self.hiding > 0
        if _INDENTED.match(line) or _QUOTE.match(line):
            self.in_comment = _outside_comments(line, self.in_comment)[1]
            return False
        opening = None if was_in_comment or was_hiding else _FENCE_OPEN.match(line)
        if opening:
            self.fence = opening["fence"]
            self.in_comment = False
            return False
        outside, self.in_comment = _outside_comments(line, self.in_comment)
        self.hiding = _hiding_after(outside, self.hiding)
        return not (was_in_comment or was_hiding)


def _outside_comments(line: str, open_: bool) -> tuple[str, bool]:
    """The parts of the line outside HTML comments (`<!-- ... -->`, inline code spans left out), and
    whether a comment is still open at its end."""
    if "<!--" not in line and "-->" not in line:
        return ("" if open_ else line), open_
    line = _without_code_spans(line)  # `<!--` in inline code opens nothing
    kept: list[str] = []
    position = 0
    while True:
        marker = "-->" if open_ else "<!--"
        found = line.find(marker, position)
        if not open_:
            kept.append(line[position : len(line) if found < 0 else found])
        if found < 0:
            return "".join(kept), open_
        open_, position = not open_, found + len(marker)


def _hiding_after(text: str, depth: int) -> int:
    """How many command-hiding HTML elements are open after `text` (its inline code aside)."""
    if "<" not in text:
        return depth
    for tag in _HIDING_TAG.finditer(_without_code_spans(text)):
        depth = max(depth - 1, 0) if tag["close"] else depth + 1
    return depth


def _without_code_spans(line: str) -> str:
    """The line with its inline code spans removed (a span closes at the next run of equal length)."""
    runs = list(_BACKTICKS.finditer(line))
    closer: dict[int, int] = {}  # index of a run -> index of the next run as long
    latest: dict[int, int] = {}
    for index in range(len(runs) - 1, -1, -1):
        length = len(runs[index][0])
        if length in latest:
            closer[index] = latest[length]
        latest[length] = index
    kept, position, index = [], 0, 0
    while index < len(runs):
        if index in closer:
            kept.append(line[position : runs[index].start()])
            position, index = runs[closer[index]].end(), closer[index]
        index += 1
    return "".join(kept) + line[position:]


def _addresses_aqm(line: str) -> bool:
    start = _COMMAND_START.match(line)
    return start is not None and (
        start["word"].lower() in _PREFIXES or _top_level_typo(start["word"]) is not None
    )


def _added(lines: list[str], before: list[str]) -> list[str]:
    """The lines an edit added: each line of `before` cancels one equal line (whitespace aside)."""
    remaining = Counter(_normal(line) for line in before)
    added: list[str] = []
    for line in lines:
        key = _normal(line)
        if remaining[key] > 0:
            remaining[key] -= 1
        else:
            added.append(line)
    return added


def _normal(line: str) -> str:
    return " ".join(line.split())


# ---- parsing one line ---------------------------------------------------------------------------

_PREFIXES = {"aqm", "approve", "reject"}
_ALIASES = {  # words people type for a command we have under another name
    "start": "/aqm run",
    "retry": "/aqm restart",
    "rerun": "/aqm restart",
    "stop": "/aqm cancel",
    "abort": "/aqm cancel",
    "reply": "/aqm answer",
    "human-input": "/aqm answer",
    "list": "/aqm status",
}


class _Bad(Exception):
    """A line we cannot read: becomes `Invalid` in parse_line, never leaves this module."""


@dataclass
class _Options:
    task_id: str | None = None
    flags: dict[str, list[str]] = field(default_factory=dict)
    text: str = ""

    def one(self, name: str) -> str | None:
        values = self.flags.get(name, [])
        if len(values) > 1:
            raise _Bad(f"--{name} is given {len(values)} times")
        return values[0] if values else None


@dataclass(frozen=True)
class _Verb:
    build: Callable[[_Options], CommentCommand]
    flags: frozenset[str] = frozenset()
    takes_task_id: bool = True


def parse_line(line: str) -> CommentCommand:
    """One command line (as command_lines returns it) → its command, `Unknown` or `Invalid`."""
    line = line.strip()
    word, rest = _first_word(line.removeprefix("/"))
    word = word.lower()
    if word == "aqm":
        verb, rest = _first_word(rest)
        return _parse_verb(verb.lower() or "help", rest, line, typed=f"/aqm {verb[:40]}")
    if word in ("approve", "reject"):
        return _parse_verb(word, rest, line, typed=f"/{word}")
    return Unknown(f"/{word[:40]}", _top_level_typo(word))


def _parse_verb(verb: str, rest: str, line: str, *, typed: str) -> CommentCommand:
    spec = _VERBS.get(verb)
    if spec is None:
        return Unknown(typed, _suggest_verb(verb))
    if len(line) > MAX_LINE_CHARS:
        return Invalid(line[:200], f"the line is longer than {MAX_LINE_CHARS:,} characters", USAGE[verb])
    try:
        return spec.build(_read_options(rest, spec))
    except _Bad as bad:
        return Invalid(line, str(bad), USAGE[verb])


def _first_word(text: str) -> tuple[str, str]:
    parts = text.split(maxsplit=1)
    if not parts:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""


def _suggest_verb(verb: str) -> str | None:
    if verb in _ALIASES:
        return _ALIASES[verb]
    close = difflib.get_close_matches(verb, list(_VERBS), n=1, cutoff=0.6)
    return _canonical(close[0]) if close else None


def _canonical(verb: str) -> str:
    return f"/{verb}" if verb in ("approve", "reject") else f"/aqm {verb}"


def _top_level_typo(word: str) -> str | None:
    """`/aprove` → `/approve`: only near misses, so other bots' commands (/assign, /retest) stay theirs."""
    close = difflib.get_close_matches(word.lower(), ["approve", "reject"], n=1, cutoff=0.8)
    return f"/{close[0]}" if close and close[0] != word.lower() else None


# ---- options and free text ----------------------------------------------------------------------


def _read_options(rest: str, verb: _Verb) -> _Options:
    options = _Options()
    position = _skip_space(rest, 0)
    while position < len(rest):
        rest = _undash(rest, position)
        word = _raw_token(rest, position)
        if word == "--":
            position = _skip_space(rest, position + 2)
            break
        if word.startswith("--"):
            position = _read_flag(rest, position, verb, options)
        elif verb.takes_task_id and options.task_id is None and TASK_ID.match(word):
            options.task_id = word.upper()
            position = _skip_space(rest, position + len(word))
        elif verb.takes_task_id and options.task_id is None and _SHORT_TASK_ID.match(word):
            raise _Bad(f"'{word}' is not a task id: they are T- and at least six hex digits, like T-1A2B3C")
        else:
            break
    options.text = _free_text(rest[position:])
    return options


def _undash(text: str, position: int) -> str:
    """An em or en dash where an option starts is "--" that a phone or a word processor ate."""
    if text.startswith(("—", "–"), position):
        return text[:position] + "--" + text[position + 1 :]
    return text


def _read_flag(rest: str, position: int, verb: _Verb, options: _Options) -> int:
    word, position = _shell_word(rest, position)
    name, has_value, value = word[2:].partition("=")
    name = name.lower()
    if name not in verb.flags:
        raise _Bad(_unknown_flag(name, verb.flags))
    if not has_value:
        if position >= len(rest) or rest.startswith("--", position):
            raise _Bad(f"--{name} needs a value")
        value, position = _shell_word(rest, position)
    options.flags.setdefault(name, []).append(value)
    return position


def _unknown_flag(name: str, flags: frozenset[str]) -> str:
    if not flags:
        return f"unknown option --{name}: this command takes none"
    close = difflib.get_close_matches(name, sorted(flags), n=1, cutoff=0.6)
    hint = f"did you mean --{close[0]}?" if close else "use " + ", ".join(f"--{f}" for f in sorted(flags))
    return f"unknown option --{name}: {hint}"


def _shell_word(text: str, position: int) -> tuple[str, int]:
    """One shell-quoted word at `position` → (its value, where the next word starts)."""
    stream = io.StringIO(text[position:])
    lexer = shlex.shlex(stream, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        word = lexer.get_token()
    except ValueError as error:  # "No closing quotation", "No escaped character"
        raise _Bad(f"{str(error).lower()} in {_raw_token(text, position)!r}") from None
    consumed = stream.tell()
    return word or "", _skip_space(text, position + consumed)


def _raw_token(text: str, position: int) -> str:
    end = position
    while end < len(text) and not text[end].isspace():
        end += 1
    return text[position:end]


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def _free_text(text: str) -> str:
    """The rest of the line as typed; a text that is one quoted shell word loses its quotes."""
    text = text.strip()
    if len(text) >= 2 and text[0] in "'\"" and text[-1] == text[0]:
        try:
            words = shlex.split(text)
        except ValueError:
            return text
        if len(words) == 1:
            return words[0]
    return text


# ---- one builder per verb -----------------------------------------------------------------------


def _build_run(options: _Options) -> RunCommand:
    pipeline = options.one("pipeline")
    if pipeline is not None and not _PIPELINE.match(pipeline):
        raise _Bad(f"'{pipeline}' is not a pipeline name (letters, digits, '_', '-', '.')")
    return RunCommand(
        pipeline=pipeline,
        agent=_agent(options),
        params=_params(options.flags.get("param", [])),
        text=options.text,
    )


def _agent(options: _Options) -> str | None:
    agent = options.one("agent")
    if agent is not None and not _AGENT.match(agent):
        raise _Bad(f"'{agent}' is not an agent id (a letter or '_', then letters, digits, '_', '-')")
    return agent


def _params(pairs: list[str]) -> dict[str, str]:
    if len(pairs) > MAX_PARAMS:
        raise _Bad(f"at most {MAX_PARAMS} --param options")
    params: dict[str, str] = {}
    for pair in pairs:
        key, has_value, value = pair.partition("=")
        if not has_value or not _PARAM_KEY.match(key):
            raise _Bad(f"--param expects KEY=VALUE, got '{pair}'")
        if key in params:
            raise _Bad(f"--param {key} is given twice")
        params[key] = value
    return params


def _required(text: str, what: str) -> str:
    if not text:
        raise _Bad(f"{what} is missing")
    return text


def _nothing_more(options: _Options) -> None:
    if options.text:
        raise _Bad(f"unexpected '{options.text[:80]}'")


def _build_restart(options: _Options) -> RestartCommand:
    _nothing_more(options)
    value = options.one("from-stage")
    if value is None:
        return RestartCommand(options.task_id)
    if not value.isdecimal() or not 1 <= int(value) <= 1_000_000:
        raise _Bad(f"--from-stage expects a stage number (1, 2, ...), got '{value}'")
    return RestartCommand(options.task_id, int(value))


def _build_cancel(options: _Options) -> CancelCommand:
    _nothing_more(options)
    return CancelCommand(options.task_id)


def _build_status(options: _Options) -> StatusCommand:
    _nothing_more(options)
    return StatusCommand(options.task_id)


def _build_chunks(options: _Options) -> ChunksCommand:
    action, value = _first_word(options.text)
    action = action.lower() or "list"
    if action == "list":
        if value:
            raise _Bad(f"unexpected '{value[:80]}'")
        return ChunksCommand(options.task_id)
    if action == "add":
        return ChunksCommand(options.task_id, "add", _free_text(_required(value, "the chunk's text")))
    if action in ("done", "remove"):
        chunk_id = _required(value, "the chunk id (C-001)")
        if not _CHUNK_ID.match(chunk_id):
            raise _Bad(f"'{chunk_id[:40]}' is not a chunk id: they look like C-001")
        return ChunksCommand(options.task_id, "done" if action == "done" else "remove", chunk_id.upper())
    close = difflib.get_close_matches(action, ["list", "add", "done", "remove"], n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'?" if close else "use add, done or remove"
    raise _Bad(f"unknown chunks action '{action[:40]}': {hint}")


def _build_approve(options: _Options) -> ApproveCommand:
    return ApproveCommand(options.task_id, _agent(options), options.text or None)


def _build_reject(options: _Options) -> RejectCommand:
    agent = _agent(options)
    return RejectCommand(options.task_id, agent, _required(options.text, "the reason"))


_VERBS: dict[str, _Verb] = {
    "run": _Verb(_build_run, frozenset({"pipeline", "agent", "param"}), takes_task_id=False),
    "answer": _Verb(lambda o: AnswerCommand(o.task_id, _required(o.text, "the answer"))),
    "cancel": _Verb(_build_cancel),
    "restart": _Verb(_build_restart, frozenset({"from-stage"})),
    "fix": _Verb(lambda o: FixCommand(o.task_id, _required(o.text, "what to change"))),
    "status": _Verb(_build_status),
    "chunks": _Verb(_build_chunks),
    "help": _Verb(lambda o: HelpCommand(), takes_task_id=False),
    "approve": _Verb(_build_approve, frozenset({"agent"})),
    "reject": _Verb(_build_reject, frozenset({"agent"})),
}
