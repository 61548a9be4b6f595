"""What one delivery says in its thread: gathered while it is handled, posted as one comment. Pure.

A comment of a thousand command lines must not become a thousand comments (GitHub's secondary
rate limits then stop the whole installation), so a delivery answers at most once:

- commands refused for want of write access: one refusal naming each command once;
- lines that could not be read (`Invalid`): each distinct one shown, at most MAX_INVALID_SHOWN;
- what the commands performed had to say (a status card, "no task waits"...), each text once;
- unknown verbs and `/aqm help`: the help, once, led by each unknown verb once;
- commands past MAX_COMMANDS_PER_COMMENT: not run, and counted in one sentence;
- when the delivery failed for good: why, in one sentence.

The parts are joined under GitHub's limit on a comment's length. The run cards and queue notices
of the tasks a comment starts are the tasks' own comments, not replies: they are bounded by the
cap on commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.github import render
from app.github.commands import CommentCommand, Invalid, Unknown
from app.github.markdown import clip

MAX_COMMANDS_PER_COMMENT = 10  # a comment runs at most this many commands; the others are ignored
MAX_INVALID_SHOWN = 3
SEPARATOR = "\n\n---\n\n"


@dataclass
class Replies:
    """The one reply of a delivery, being gathered."""

    login: str = ""  # whom a refusal addresses
    refused: list[CommentCommand | str] = field(default_factory=list)
    invalid: list[Invalid] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)  # rendered replies of the commands performed
    unknown: list[Unknown] = field(default_factory=list)
    help_asked: bool = False
    ignored: int = 0  # commands past the cap
    failure: str | None = None  # why the delivery was given up

    def refuse(self, command: CommentCommand | str) -> None:
        self.refused.append(command)

    def add(self, text: str) -> None:
        self.parts.append(text)

    def ask_help(self, unknown: Unknown | None = None) -> None:
        self.help_asked = True
        if unknown is not None:
            self.unknown.append(unknown)

    def misread(self, invalid: Invalid) -> None:
        self.invalid.append(invalid)

    def render(self) -> str | None:
        """The reply's body; None when there is nothing to say."""
        sections = [*self._notes(), *dict.fromkeys(self.parts), *self._help()]
        if self.ignored:
            sections.append(render.escape_text(ignored_note(self.ignored)))
        if self.failure is not None:
            sections.append(render.escape_text(self.failure))
        return _joined(sections) if sections else None

    def _notes(self) -> list[str]:
        notes = [render.refusal(self.login, self.refused)] if self.refused else []
        distinct = list(dict.fromkeys(self.invalid))
        notes += [render.invalid_reply(invalid) for invalid in distinct[:MAX_INVALID_SHOWN]]
        if len(distinct) > MAX_INVALID_SHOWN:
            hidden = len(distinct) - MAX_INVALID_SHOWN
            notes.append(render.escape_text(f"{hidden} more lines could not be read either."))
        return notes

    def _help(self) -> list[str]:
        return [render.help_reply(self.unknown)] if self.help_asked else []


def ignored_note(count: int) -> str:
    return (
        f"Only the first {MAX_COMMANDS_PER_COMMENT} commands of a comment are run: "
        f"the other {count} were ignored. Comment them again to run them."
    )


def _joined(sections: list[str]) -> str:
    """The sections in order, as many whole ones as fit in one comment (the rest counted)."""
    limit = render.MAX_COMMENT_CHARS - 200
    kept: list[str] = []
    size = 0
    for section in sections:
        if kept and size + len(SEPARATOR) + len(section) > limit:
            left = len(sections) - len(kept)
            kept.append(render.escape_text(f"({left} more replies do not fit in this comment.)"))
            break
        kept.append(section.strip())
        size += len(SEPARATOR) + len(section)
    return clip(SEPARATOR.join(kept) + "\n", render.MAX_COMMENT_CHARS)
