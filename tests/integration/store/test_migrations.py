"""The schema: created from empty at connect, left alone when current, and equal to the ORM tables."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from app.errors import ConfigError, StoreError
from app.store import migrate
from app.store.migrate import alembic_config, current_revision
from app.store.schema import HEAD_REVISION
from app.store.store import TaskStore
from app.store.tables import Base
from tests.integration.store.conftest import Database
from tests.integration.store.helpers import new_task


def schema_differences(connection: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


def test_head_revision_names_the_newest_migration_script() -> None:
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION


async def test_connecting_to_an_empty_database_migrates_it_to_head(database: Database) -> None:
    engine = database.engine()
    try:
        assert await current_revision(engine) is None
        async with await database.connect():
            pass
        assert await current_revision(engine) == HEAD_REVISION
    finally:
        await engine.dispose()


async def test_the_migrated_schema_is_the_one_the_tables_describe(database: Database) -> None:
    async with await database.connect():
        pass
    engine = database.engine()
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(schema_differences) == []
    finally:
        await engine.dispose()


async def test_reconnecting_keeps_the_data_and_does_not_run_alembic(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with await database.connect() as store:
        task = await new_task(store)

    def fail(_connection: Connection) -> None:
        raise AssertionError("alembic ran on a database already at head")

    monkeypatch.setattr(migrate, "upgrade_to_head", fail)
    async with await database.connect() as store:
        assert (await store.get_task(task.id)).description == task.description


async def test_stores_opening_a_fresh_database_at_once_all_work(database: Database) -> None:
    stores = await asyncio.gather(*(database.connect() for _ in range(4)))
    try:
        created = [await new_task(opened) for opened in stores]
        assert len(await stores[0].list_tasks()) == len(created)
    finally:
        for opened in stores:
            await opened.close()


async def test_a_database_from_a_newer_release_is_refused(database: Database) -> None:
    async with await database.connect():
        pass
    engine = database.engine()
    try:
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": "9999"})
    finally:
        await engine.dispose()
    with pytest.raises(StoreError, match="9999"):
        await database.connect()


async def test_the_sqlite_file_and_its_folder_are_created_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "tasks.db"
    async with await TaskStore.connect(f"sqlite+aiosqlite:///{path}"):
        pass
    assert path.is_file()
    engine = Database("sqlite", f"sqlite+aiosqlite:///{path}").engine()
    try:
        async with engine.connect() as connection:
            assert (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
            assert (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar_one() >= 5000
    finally:
        await engine.dispose()


async def test_an_unreachable_server_is_a_store_error_without_the_password() -> None:
    with pytest.raises(StoreError, match="Cannot open the task store") as raised:
        await TaskStore.connect("postgresql+asyncpg://postgres:s3cret@127.0.0.1:1/test")
    assert "s3cret" not in str(raised.value)


async def test_an_in_memory_sqlite_store_works() -> None:
    async with await TaskStore.connect("sqlite+aiosqlite:///:memory:") as store:
        task = await new_task(store)
        assert (await store.get_task(task.id)).id == task.id


async def test_a_url_without_an_async_driver_gets_one(tmp_path: Path) -> None:
    async with await TaskStore.connect(f"sqlite:///{tmp_path / 'tasks.db'}") as store:
        assert (await new_task(store)).version == 1


@pytest.mark.parametrize("url", ["mysql+aiomysql://root@127.0.0.1/aqm", "not a url"])
async def test_a_database_other_than_sqlite_or_postgresql_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="sqlite\\+aiosqlite:///"):
        await TaskStore.connect(url)


async def test_a_schema_is_for_postgresql_only(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PostgreSQL only"):
        await TaskStore.connect(f"sqlite+aiosqlite:///{tmp_path / 'tasks.db'}", schema="aqm")
