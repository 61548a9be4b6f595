"""Bring a database to the newest schema when a store connects, cheaply when it already is.

The common case (the schema is current) costs one `SELECT version_num FROM alembic_version`
and never imports alembic, which takes a noticeable share of a CLI command's start-up. Only a
fresh or older database pays for alembic, inside one transaction that first takes a lock (a
PostgreSQL advisory lock; SQLite's write lock via BEGIN IMMEDIATE), so that two processes
starting on a fresh database do not both create the tables.

A developer writing the next revision (and updating HEAD_REVISION):

    from alembic import command
    from app.store.migrate import alembic_config
    command.revision(alembic_config(url="sqlite+aiosqlite:///scratch.db"), "add x", autogenerate=True)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

HEAD_REVISION = "0003"  # the newest file in migrations/versions/; a test checks they agree
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
MIGRATION_LOCK_KEY = 0x61716D_0001  # pg_advisory_xact_lock key: "aqm", migrations


async def migrate(engine: AsyncEngine) -> None:
    """Upgrade the database to HEAD_REVISION unless it is there already."""
    if await current_revision(engine) == HEAD_REVISION:
        return
    async with engine.connect() as connection:
        await lock_for_migration(connection)
        await connection.run_sync(upgrade_to_head)
        await connection.commit()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The database's alembic revision; None for a fresh database (no alembic_version table)."""
    async with engine.connect() as connection:
        try:
            result = await connection.execute(text("SELECT version_num FROM alembic_version"))
        except DBAPIError:
            return None  # no such table; a broken connection fails again, loudly, in the upgrade
        return result.scalar_one_or_none()


async def lock_for_migration(connection: AsyncConnection) -> None:
    """Serialise migrations between processes for the rest of this connection's transaction."""
    if connection.dialect.name == "postgresql":
        await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    elif connection.dialect.name == "sqlite":
        await connection.exec_driver_sql("BEGIN IMMEDIATE")


def upgrade_to_head(connection: Connection) -> None:
    """Run alembic's upgrade on the caller's connection and transaction (imports alembic)."""
    from alembic import command  # deferred: only a fresh or old database needs alembic
    from alembic.util import CommandError

    try:
        command.upgrade(alembic_config(connection=connection), "head")
    except CommandError as exc:  # e.g. a revision from a newer aqm than this one
        raise StoreError(f"Cannot migrate the database to revision {HEAD_REVISION}: {exc}") from exc


def alembic_config(*, url: str | None = None, connection: Connection | None = None) -> Config:
    """An alembic Config built in code: no alembic.ini on the user's machine."""
    from alembic.config import Config  # deferred, as above

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config
