"""When a delivery that failed is tried again, and when it is given up. Pure (no clock: the caller adds
the wait to its own now).

- Transient: GitHub answered 5xx or a rate limit, or did not answer (the gateway has already
  retried within its own budget). Tried again after a backoff, at most MAX_TRANSIENT_ATTEMPTS
  attempts in all.
- Permanent: any other answer (403, 404 — e.g. the comment was deleted before the 👀 reaction —,
  410, 422) or an error of ours. Tried again at most MAX_PERMANENT_ATTEMPTS attempts in all (a
  404 can be GitHub's replicas lagging behind the event), then given up.

The backoff doubles from `base_s` (AQM_REDELIVER_AFTER_S) per attempt, up to MAX_BACKOFF_S, and
is never shorter than GitHub's `Retry-After`. A given-up delivery is marked `failed` and leaves
the reconciler's batches; a retried one waits its backoff out behind the deliveries that are due.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.github.gateway import GitHubError, retryable

MAX_TRANSIENT_ATTEMPTS = 8
MAX_PERMANENT_ATTEMPTS = 3
MAX_BACKOFF_S = 3600.0


@dataclass(frozen=True, slots=True)
class Retry:
    after_s: float
    reason: str


@dataclass(frozen=True, slots=True)
class GiveUp:
    reason: str
    shown: str  # the reason as the thread may read it: no internals


def after_failure(error: Exception, *, attempts: int, base_s: float) -> Retry | GiveUp:
    """What to do after attempt number `attempts` (1 for the first) failed with `error`."""
    reason = str(error) if isinstance(error, GitHubError) else f"{type(error).__name__}: {error}"
    reason = reason[:2000]
    transient = isinstance(error, GitHubError) and retryable(error)
    cap = MAX_TRANSIENT_ATTEMPTS if transient else MAX_PERMANENT_ATTEMPTS
    if attempts >= cap:
        shown = str(error) if isinstance(error, GitHubError) else "an internal error (see the server's log)"
        return GiveUp(reason, shown)
    return Retry(backoff_s(attempts, base_s, error), reason)


def backoff_s(attempts: int, base_s: float, error: Exception) -> float:
    """The wait before the next attempt: doubling from `base_s`, capped, at least `Retry-After`."""
    wait = min(base_s * 2.0 ** max(attempts - 1, 0), MAX_BACKOFF_S)
    retry_after = error.retry_after_s if isinstance(error, GitHubError) else None
    return max(wait, min(retry_after or 0.0, MAX_BACKOFF_S))
