"""Fixtures of the store tests: each test runs on SQLite (a temporary file) and on PostgreSQL.

PostgreSQL isolation: every test gets a schema of its own, `aqm_store_<random hex>`, created
before it and dropped (CASCADE) after it, and the store under test is pointed at it through
the connection's search_path (`TaskStore.connect(url, schema=...)`). Migrations run in it from
empty, as on a user's machine; nothing is shared between tests or left for the next run, and
two test runs at once do not meet. Without a server on 127.0.0.1:5432 the PostgreSQL cases
skip, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.store.database import open_engine
from app.store.lite import LiteTaskStore, sqlite_file
from app.store.store import TaskStore
from tests.conftest import service_up

POSTGRES_PORT = 5432
POSTGRES_URL = f"postgresql+asyncpg://postgres@127.0.0.1:{POSTGRES_PORT}/test"
SCHEMA_PREFIX = "aqm_store_"


@dataclass(frozen=True, slots=True)
class Database:
    """Where a test's store lives: the URL and (PostgreSQL) the test's own schema."""

    kind: str  # "sqlite" | "lite" (the CLI's sqlite3 store, same file format) | "postgresql"
    url: str
    schema: str | None = None

    async def connect(self, **kwargs: Any) -> TaskStore:
        if self.kind == "lite":
            path = sqlite_file(self.url)
            assert path is not None
            return await LiteTaskStore.connect(path, **kwargs)  # type: ignore[return-value]
        return await TaskStore.connect(self.url, schema=self.schema, **kwargs)

    def engine(self) -> AsyncEngine:
        """A plain engine on the same database, for looking behind the store's back."""
        return open_engine(self.url, schema=self.schema)


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    schema = f"{SCHEMA_PREFIX}{secrets.token_hex(6)}"  # [a-z0-9_]: safe to splice into DDL
    admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
        yield schema
    finally:
        async with admin.connect() as connection:
            await connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.dispose()


@asynccontextmanager
async def open_database(kind: str, tmp_path: Path) -> AsyncIterator[Database]:
    if kind in ("sqlite", "lite"):
        yield Database(kind, f"sqlite+aiosqlite:///{tmp_path / 'data' / 'tasks.db'}")
        return
    if not service_up(POSTGRES_PORT):
        pytest.skip(f"no PostgreSQL on 127.0.0.1:{POSTGRES_PORT}")
    async with postgres_schema() as schema:
        yield Database("postgresql", POSTGRES_URL, schema)


@pytest.fixture(params=["sqlite", "lite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with open_database(request.param, tmp_path) as opened:
        yield opened


@pytest.fixture
async def store(database: Database) -> AsyncIterator[TaskStore]:
    async with await database.connect() as opened:
        yield opened
