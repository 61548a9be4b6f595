"""What both stores share without importing SQLAlchemy: the schema revision, SQLite's set-up.

The CLI's store (app/store/lite.py, the standard library's sqlite3) and the SQLAlchemy store
(app/store/store.py) open the same files: both check the alembic revision against
HEAD_REVISION, and both give every SQLite connection the same pragmas — WAL (readers never wait
for the writer), a busy timeout (a writer waits for another instead of failing with "database is
locked"), foreign keys (cascade of stages) and synchronous=NORMAL (with WAL: a killed process
loses nothing; a power cut may lose the last commits, never consistency).
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

HEAD_REVISION = "0005"  # the newest file in migrations/versions/; a test checks they agree

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_PRAGMAS = (
    f"busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}",
    "foreign_keys = ON",
    "synchronous = NORMAL",
)
WAL_ATTEMPTS = 50
WAL_RETRY_S = 0.02


def set_pragmas(dbapi_connection: Any, *, wal: bool) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
        if wal:
            use_wal(cursor)
    finally:
        cursor.close()


def use_wal(cursor: Any) -> None:
    """Switch the file to WAL (it stays so). Two connections switching a fresh file at once
    make one fail with "database is locked" without waiting: that one tries again."""
    for attempt in range(1, WAL_ATTEMPTS + 1):
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError:
            if attempt == WAL_ATTEMPTS:
                raise
            time.sleep(WAL_RETRY_S)  # blocks the event loop briefly, only ever on a brand-new file
