"""Task ids: `T-` and upper-case hex digits from `secrets`, widened after collisions.

aqm took 24 bits of a hash of the clock and overwrote on collision (INSERT OR REPLACE); here
the primary key decides, a collision draws again, and repeated collisions draw longer ids.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

IdFactory = Callable[[int], str]  # number of hex digits -> a new id
ID_PREFIX = "T-"
# Digits per attempt: three tries at 6 (16.7 million ids), then 8, then 10.
DIGITS_PER_ATTEMPT = (6, 6, 6, 8, 8, 8, 10, 10, 10, 10)


def random_task_id(digits: int) -> str:
    """`T-` + `digits` upper-case hex digits from the operating system's CSPRNG."""
    return ID_PREFIX + secrets.token_hex((digits + 1) // 2)[:digits].upper()


def normalise_task_id(task_id: str) -> str:
    """Ids are stored upper-case: `t-abc123` names `T-ABC123`."""
    return task_id.strip().upper()
