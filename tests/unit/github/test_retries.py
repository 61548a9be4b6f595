"""The delivery retry policy: which failures are tried again, after how long, and when they end."""

from __future__ import annotations

import pytest

from app.github.gateway import GitHubError
from app.github.retries import (
    MAX_BACKOFF_S,
    MAX_PERMANENT_ATTEMPTS,
    MAX_TRANSIENT_ATTEMPTS,
    GiveUp,
    Retry,
    after_failure,
)

GONE = GitHubError("react: GitHub answered 404", status=404)
DOWN = GitHubError("comment: GitHub answered 502", status=502)
LIMITED = GitHubError("comment: rate limited", status=403, retry_after_s=900.0)

DECISIONS = {
    "a 404 is tried again at first": (GONE, 1, Retry(120.0, "react: GitHub answered 404")),
    "the backoff doubles": (GONE, 2, Retry(240.0, "react: GitHub answered 404")),
    "a 404 ends at the permanent cap": (
        GONE,
        MAX_PERMANENT_ATTEMPTS,
        GiveUp("react: GitHub answered 404", "react: GitHub answered 404"),
    ),
    "a 502 goes on past the permanent cap": (DOWN, MAX_PERMANENT_ATTEMPTS, Retry(480.0, str(DOWN))),
    "a 502 ends at the transient cap": (DOWN, MAX_TRANSIENT_ATTEMPTS, GiveUp(str(DOWN), str(DOWN))),
    "a rate limit waits at least its Retry-After": (LIMITED, 1, Retry(900.0, str(LIMITED))),
    "the backoff is capped": (DOWN, MAX_TRANSIENT_ATTEMPTS - 1, Retry(MAX_BACKOFF_S, str(DOWN))),
    "an error of ours is permanent and shown without its text": (
        ValueError("postgresql://user:secret@db"),
        MAX_PERMANENT_ATTEMPTS,
        GiveUp("ValueError: postgresql://user:secret@db", "an internal error (see the server's log)"),
    ),
}


@pytest.mark.parametrize(("error", "attempts", "expected"), list(DECISIONS.values()), ids=list(DECISIONS))
def test_failed_deliveries_are_retried_with_backoff_up_to_a_cap(
    error: Exception, attempts: int, expected: Retry | GiveUp
) -> None:
    assert after_failure(error, attempts=attempts, base_s=120.0) == expected
