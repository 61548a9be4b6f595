"""GitHub Markdown that untrusted text cannot break out of: escaping, code blocks, splitting. Pure.

Every value a template prints is escaped unless it is `Safe` — Markdown built here from
escaped parts. The template environment's `finalize` does it, so a template cannot forget:
`{{ task.description }}` prints `&lt;details&gt;`, never an open `<details>`. The filters
build the safe shapes: `text` (one inert line that links nothing), `code` (an inline code span), `cell_code`
(the same inside a table row), `login` (a `@name` that pings no one), `mention` (a ping of
the person a reply is addressed to), `fenced` (a code block whose fence is longer than any
backtick run inside it).

GitHub links more than Markdown does: `#123`, `GH-123` and `owner/repo#123` (issues), `@name`
(a ping), bare URLs and `www.` hosts, emails, and 7 to 40 hex digits (a commit). `text` puts an
invisible word joiner (U+2060) into each of those, so they read the same and link nothing (the
input's own joiners are dropped first, so no one can pre-empt it). Task and chunk ids (`T-1A2B3C4D`,
`C-001`) are left whole: people copy them into commands. Code spans and blocks link nothing anyway.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from typing import Any
from urllib.parse import quote

import jinja2

_CONTROLS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
_MARKDOWN = re.compile(r"([\\`*_\[\]|~])")  # inline syntax; `<`, `>`, `&` become entities
_LINE_START = re.compile(r"^(?:[#+=-]|(\d{1,9})([.)])(?=\s|$))")  # headings, lists, setext underlines
_AUTOLINK = re.compile(
    r"(?P<mark>[#@])(?=[A-Za-z0-9])"  # #123, owner/repo#1, @name, owner/repo@sha, a@b.example
    r"|(?P<gh>\bGH-)(?=\d)"  # GH-123
    r"|(?P<scheme>:)(?=//)"  # https://host, ftp://host
    r"|(?P<www>\bwww)(?=\.)"  # www.host
    r"|(?<![0-9A-Za-z_])(?<![TtCc]-)(?P<sha>(?=[0-9A-Fa-f]*\d)[0-9A-Fa-f]{7,})(?![0-9A-Za-z_])",  # a commit
    re.IGNORECASE,
)
_BACKTICKS = re.compile(r"`+")
_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")  # GitHub's logins (bots have "[bot]")
_WORD_JOINER = "\u2060"  # invisible: `@\u2060name` neither links nor pings


class Safe(str):
    """Markdown built here from escaped parts: templates print it as it is."""

    __slots__ = ()


def clean(value: str) -> str:
    """Line endings made `\\n`; control, zero-width and bidi-override characters dropped."""
    return _CONTROLS.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))


def truncate(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: max(limit - 1, 0)] + "…"


def text(value: object, limit: int = 300) -> Safe:
    """Untrusted text as one line of inert Markdown: no HTML, no links, no pings, no line-start syntax."""
    flat = truncate(" ".join(clean(str(value)).split()), limit)
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    flat = _MARKDOWN.sub(r"\\\1", flat)
    flat = _LINE_START.sub(lambda m: f"{m[1]}\\{m[2]}" if m[1] else f"\\{m[0]}", flat)
    return Safe(_AUTOLINK.sub(_unlink, flat))


def _unlink(found: re.Match[str]) -> str:
    """One reference GitHub would link, with word joiners where they break it (every six hex digits
    of a commit id: GitHub links seven or more)."""
    sha = found["sha"]
    if sha is not None:
        return _WORD_JOINER.join(sha[start : start + 6] for start in range(0, len(sha), 6))
    return found[0] + _WORD_JOINER


def code(value: object, limit: int = 200) -> Safe:
    """An inline code span that no backtick inside can close (HTML and `@` are inert in code)."""
    flat = truncate(" ".join(clean(str(value)).split()), limit)
    if not flat:
        return Safe("")
    fence = "`" * (longest_run(flat) + 1)
    pad = " " if flat[0] == "`" or flat[-1] == "`" else ""
    return Safe(f"{fence}{pad}{flat}{pad}{fence}")


def cell_code(value: object, limit: int = 200) -> Safe:
    """An inline code span in a table row: GFM splits cells on `|` even inside code."""
    return Safe(code(value, limit).replace("|", "\\|"))


def login(value: object) -> Safe:
    """A user's login, shown without pinging them."""
    return code("@" + str(value).removeprefix("@"), limit=60)


def mention(value: object) -> Safe:
    """The login a reply is addressed to: a real `@login` ping when it is a valid GitHub login."""
    name = str(value).removeprefix("@")
    return Safe("@" + name) if _LOGIN.match(name) else login(name)


def fenced(value: object, info: str = "") -> Safe:
    """A fenced code block around `value`, its fence longer than any backtick run inside."""
    body = clean(str(value))
    fence = "`" * max(3, longest_run(body) + 1)
    body = body if body.endswith("\n") else body + "\n"
    return Safe(f"{fence}{info}\n{body}{fence}")


def link_target(url: str | None) -> Safe | None:
    """A URL fit for `[text](url)`: http or https only, with nothing that could end the link."""
    if not url or not url.startswith(("http://", "https://")):
        return None
    return Safe(quote(clean(url), safe=":/?#@!$&*+,;=%~"))


def longest_run(value: str) -> int:
    return max((len(run) for run in _BACKTICKS.findall(value)), default=0)


def clip(value: str, limit: int) -> str:
    """The last resort against an over-long body: cut, and say so."""
    if len(value) <= limit:
        return value
    note = "\n\n*(cut to fit GitHub's limit)*\n"
    return value[: max(limit - len(note), 0)] + note[:limit]


# ---- splitting long outputs ---------------------------------------------------------------------


def split_output(output: str, *, room: int, max_parts: int) -> tuple[list[str], int]:
    """Cut an output at line ends into pieces whose `fenced()` block is at most `room` characters.

    Returns at most `max_parts` pieces (at least one) and how many characters they leave out."""
    output = clean(output)
    pieces: list[str] = []
    current: list[str] = []
    size = run = consumed = 0
    for line in _short_lines(output.split("\n"), room):
        run_with = max(run, longest_run(line))
        if current and size + len(line) + 1 + 2 * max(3, run_with + 1) + 2 > room:
            pieces.append("\n".join(current))
            consumed += size
            if len(pieces) == max(max_parts, 1):
                return pieces, max(len(output) - consumed, 0)
            current, size, run_with = [], 0, longest_run(line)
        current.append(line)
        size += len(line) + 1
        run = run_with
    pieces.append("\n".join(current))
    return pieces, 0


def _short_lines(lines: Iterable[str], room: int) -> Iterable[str]:
    """Lines too long for one fenced piece, cut into segments that fit."""
    for line in lines:
        width = room - 8 - 2 * max(3, longest_run(line) + 1)
        if len(line) <= width:
            yield line
            continue
        width = max(width, (room - 8) // 3, 1)
        for start in range(0, len(line), width):
            yield line[start : start + width]


# ---- the template environment -------------------------------------------------------------------


def _finalize(value: object) -> str:
    """Every `{{ value }}` of a template: escaped unless Safe (one space kept at either end)."""
    if isinstance(value, Safe):
        return value
    if value is None:
        return ""
    plain = str(value)
    lead = " " if plain[:1].isspace() else ""
    trail = " " if plain[-1:].isspace() and plain.strip() else ""
    return lead + text(plain, limit=10_000) + trail


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("app.github", "templates"),
        autoescape=False,  # noqa: S701 - Markdown, not HTML: _finalize escapes every value for GitHub
        finalize=_finalize,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(text=text, code=code, cell_code=cell_code, login=login, mention=mention, fenced=fenced)
    return env


def render_template(template: str, **values: Any) -> str:
    return environment().get_template(template).render(**values).strip() + "\n"
