"""Did-you-mean hints for error messages."""

from __future__ import annotations

from collections.abc import Iterable


def suggest(word: str, choices: Iterable[str]) -> str:
    """'did you mean 'x'?' for the closest choice, or the list of choices when none is close."""
    import difflib

    options = sorted(str(c) for c in choices)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"use one of: {', '.join(options)}" if options else ""
