"""Open the async SQLAlchemy engine for a database URL, set up the way the store relies on.

SQLite (the default, one file): the parent folder is created; every connection gets WAL (readers
never wait for the writer), a busy timeout (a writer waits for another instead of failing with
"database is locked"), foreign keys (cascade of stages) and synchronous=NORMAL (with WAL: a
killed process loses nothing; a power cut may lose the last commits, never consistency).
PostgreSQL (asyncpg): connections are checked before use, so a restarted server costs no task;
`schema` puts the tables in that (existing) schema through the connection's search_path.
Bound parameters are never rendered into errors or logs: they hold prompts and outputs.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import URL, event, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.errors import ConfigError

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_PRAGMAS = (
    f"busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}",
    "foreign_keys = ON",
    "synchronous = NORMAL",
)
IN_MEMORY = ("", ":memory:")
ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
EXAMPLE_URLS = "sqlite+aiosqlite:///path/to/tasks.db or postgresql+asyncpg://user@host/database"
WAL_ATTEMPTS = 50
WAL_RETRY_S = 0.02


def open_engine(url: str, *, schema: str | None = None) -> AsyncEngine:
    """An engine for `url` (sqlite+aiosqlite:///path or postgresql+asyncpg://...)."""
    parsed = async_url(url)
    if parsed.get_backend_name() == "sqlite":
        if schema is not None:
            raise ValueError("schema applies to PostgreSQL only")
        return open_sqlite(parsed)
    return open_server(parsed, schema=schema)


def async_url(url: str) -> URL:
    """The URL with its async driver: `sqlite:///x.db` and `postgresql://...` are taken as meant."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"Not a database URL; expected {EXAMPLE_URLS}") from exc
    backend = "postgresql" if parsed.get_backend_name() == "postgres" else parsed.get_backend_name()
    if backend not in ASYNC_DRIVERS:
        raise ConfigError(f"The task store runs on SQLite or PostgreSQL, not {backend}: {EXAMPLE_URLS}")
    if parsed.drivername in (backend, "postgres"):
        return parsed.set(drivername=f"{backend}+{ASYNC_DRIVERS[backend]}")
    return parsed


def open_sqlite(url: URL) -> AsyncEngine:
    database = url.database or ""
    in_memory = database in IN_MEMORY or "mode=memory" in url.render_as_string()
    if not in_memory and not database.startswith("file:"):  # a file: URI is the caller's business
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, hide_parameters=True)
    event.listen(engine.sync_engine, "connect", lambda conn, _record: set_pragmas(conn, wal=not in_memory))
    return engine


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


def open_server(url: URL, *, schema: str | None) -> AsyncEngine:
    connect_args: dict[str, Any] = {}
    if schema is not None:
        if url.get_driver_name() != "asyncpg":
            raise ValueError("schema needs the asyncpg driver (postgresql+asyncpg://...)")
        connect_args["server_settings"] = {"search_path": schema}
    return create_async_engine(url, hide_parameters=True, pool_pre_ping=True, connect_args=connect_args)
