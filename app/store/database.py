"""Open the async SQLAlchemy engine for a database URL, set up the way the store relies on.

SQLite (the default, one file): the parent folder is created; every connection gets the pragmas of
app/store/schema.py (WAL, busy timeout, foreign keys, synchronous=NORMAL).
PostgreSQL (asyncpg): connections are checked before use, so a restarted server costs no task;
`schema` puts the tables in that (existing) schema through the connection's search_path.
Bound parameters are never rendered into errors or logs: they hold prompts and outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import URL, event, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.errors import ConfigError
from app.store.schema import set_pragmas

IN_MEMORY = ("", ":memory:")
ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
EXAMPLE_URLS = "sqlite+aiosqlite:///path/to/tasks.db or postgresql+asyncpg://user@host/database"


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


def open_server(url: URL, *, schema: str | None) -> AsyncEngine:
    connect_args: dict[str, Any] = {}
    if schema is not None:
        if url.get_driver_name() != "asyncpg":
            raise ValueError("schema needs the asyncpg driver (postgresql+asyncpg://...)")
        connect_args["server_settings"] = {"search_path": schema}
    return create_async_engine(url, hide_parameters=True, pool_pre_ping=True, connect_args=connect_args)
