"""What the engine reads in an agent's output: line-anchored directives and KEY: value lines.

A directive counts only at the start of a line (after optional spaces or a list bullet),
outside fenced code blocks, so an agent that quotes its instructions or shows an example in
a code block does not trigger it:

    HANDOFF: reviewer            -> route to reviewer (condition: auto)
    CHUNK_ADD: write the tests   -> add a chunk (sessions with chunks:)
    CHUNK_DONE: C-001            -> mark a chunk done
    CHUNK_REMOVE: C-002          -> remove a chunk
    HUMAN_INPUT: which database? -> ask the user and pause (human_input on_demand/both)
    SEVERITY: critical           -> what `severity == critical` conditions compare
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

_LINE = re.compile(r"^[ \t]*(?:[-*][ \t]+)?([A-Za-z_][A-Za-z0-9_.\-]*)[ \t]*:[ \t]*(.*?)[ \t]*$")
_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_CHUNK_ID = re.compile(r"^C-\d{3,}$", re.IGNORECASE)
_FENCE = re.compile(r"^[ \t]*(```|~~~)")
_LOOSE_HANDOFF = re.compile(r"HANDOFF:[ \t]*([^\n]*)", re.IGNORECASE)
_JSON_BLOCK = re.compile(r"```(?:json)?[ \t]*\n(.*?)\n[ \t]*```", re.DOTALL)


def prose_lines(output: str) -> Iterator[str]:
    """The output's lines outside fenced code blocks."""
    fenced = False
    for line in output.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield line


def key_lines(output: str) -> Iterator[tuple[str, str]]:
    """(KEY, value) for every `KEY: value` line outside code blocks, in order; KEY upper-cased."""
    for line in prose_lines(output):
        match = _LINE.match(line)
        if match:
            yield match.group(1).upper(), match.group(2)


def directive_values(output: str, name: str) -> list[str]:
    """Values of every `NAME: value` line (NAME case-insensitive)."""
    wanted = name.upper()
    return [value for key, value in key_lines(output) if key == wanted and value]


def handoff_targets(output: str) -> list[str]:
    """Agent ids named by HANDOFF: lines, comma-separated, deduplicated, in order.

    `HANDOFF: qa.` or `HANDOFF: qa  # because` name `qa`: trailing punctuation and comments
    are dropped instead of producing an id that matches nothing (aqm's defect)."""
    return [word for word in handoff_words(output) if _ID.match(word)]


def handoff_words(output: str) -> list[str]:
    """Every name the output's HANDOFF: lines give, ids or not (`*`, `none`), deduplicated, in order.

    The engine fails a stage whose HANDOFF names no agent instead of ignoring the word."""
    return _names(directive_values(output, "HANDOFF"))


def loose_handoff_words(output: str) -> list[str]:
    """What aqm would read as HANDOFF names: `HANDOFF:` anywhere, also mid-line and in code blocks.

    Only used to explain, never to route: an agent whose HANDOFF is not at the start of a line
    would silently end its branch here while aqm would follow it."""
    return _names(m.group(1) for m in _LOOSE_HANDOFF.finditer(output))


def _names(values: Iterable[str]) -> list[str]:
    names: list[str] = []
    for value in values:
        for part in value.split("#", 1)[0].split(","):
            word = part.strip().strip("`*'\"").rstrip(".;:!)")
            word = word.split()[0] if word.split() else ("*" if "*" in part else "")
            if word and word not in names:
                names.append(word)
    return names


def chunk_ids(values: list[str]) -> list[str]:
    return [v.split()[0].upper() for v in values if v.split() and _CHUNK_ID.match(v.split()[0])]


def has_line(output: str, keyword: str) -> bool:
    """True when a line of the output (outside code blocks) is exactly `keyword` (case-insensitive).

    Used for session votes: "I will NOT VOTE: AGREE yet" is not a vote."""
    wanted = " ".join(keyword.split()).casefold()
    for line in prose_lines(output):
        text = " ".join(line.strip().strip("*_`").split()).casefold()
        if text == wanted:
            return True
    return False


def lookup(output: str, key: str) -> str | None:
    """The value a condition compares for KEY: its last `KEY: value` line, else a top-level
    field of the output's JSON object (the whole output, or its last fenced json block)."""
    wanted = key.upper()
    found = None
    for name, value in key_lines(output):
        if name == wanted:
            found = value
    if found is not None:
        return found
    document = json_object(output)
    if document is None:
        return None
    for name, value in document.items():
        if name.upper() == wanted and not isinstance(value, dict | list):
            return _scalar_text(value)
    return None


def json_object(output: str) -> dict[str, Any] | None:
    """The output parsed as one JSON object, or its last fenced json block, or None."""
    candidates = [output.strip(), *reversed(_JSON_BLOCK.findall(output))]
    for text in candidates:
        if not text.startswith("{"):
            continue
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
