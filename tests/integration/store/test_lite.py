"""The CLI's sqlite3 store and the SQLAlchemy store are two doors to the same file.

The contract tests of the other files run on the sqlite3 store too (the `lite` case of the
`database` fixture); these check what only two stores can get wrong: a file written by one reads
back identically through the other, migrations, which URLs the CLI opens how, and that the CLI
never loads SQLAlchemy on a database already in use.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app.errors import StoreError
from app.store import migrate
from app.store.api import open_store
from app.store.lite import LiteTaskStore, sqlite_file
from app.store.schema import HEAD_REVISION
from app.store.store import TaskStore
from tests.integration.store.helpers import stage


async def write_task(store: TaskStore | LiteTaskStore) -> str:
    task = await store.create_task(
        pipeline="p", description="fix it \x00 now", state={"nested": {"list": [1, 2.5, None, "é"]}}
    )
    await store.commit(
        task.id,
        status="in_progress",
        state={"step": 2},
        error="nul \x00 here",
        stages=[stage(task.id, 1), stage(task.id, 2, cost_usd=None, finished_at=None, output_text="ü" * 10)],
        expected_version=1,
    )
    return task.id


@pytest.mark.parametrize("writer", ["sqlalchemy", "lite"])
async def test_what_one_store_writes_the_other_reads_back_identically(tmp_path: Path, writer: str) -> None:
    path = tmp_path / "tasks.db"
    heavy = await TaskStore.connect(f"sqlite+aiosqlite:///{path}")
    lite = await LiteTaskStore.connect(path)
    try:
        task_id = await write_task(heavy if writer == "sqlalchemy" else lite)
        assert await lite.get_task(task_id) == await heavy.get_task(task_id)
        assert await lite.list_stages(task_id) == await heavy.list_stages(task_id)
        assert await lite.list_stages(task_id, texts=False) == await heavy.list_stages(task_id, texts=False)
        assert await lite.list_tasks() == await heavy.list_tasks()
        assert (await lite.get_task(task_id)).description == "fix it \ufffd now"
        # and each goes on committing where the other left off
        assert await heavy.commit(task_id, status="completed", state={}, expected_version=2) == 3
        assert await lite.commit(task_id, status="completed", state={}, expected_version=3) == 4
    finally:
        await heavy.close()
        await lite.close()


async def test_a_new_file_is_migrated_to_the_head_revision(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "folder" / "aqm.db"
    store = await LiteTaskStore.connect(path)
    await store.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [(HEAD_REVISION,)]
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///relative/tasks.db", Path("relative/tasks.db")),
        ("sqlite+aiosqlite:////abs/tasks.db", Path("/abs/tasks.db")),
        ("sqlite+pysqlite:///x.db", Path("x.db")),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("sqlite:///file:x.db?mode=memory&uri=true", None),
        ("postgresql+asyncpg://postgres@127.0.0.1/test", None),
        (None, None),
    ],
)
def test_only_plain_sqlite_files_go_to_the_sqlite3_store(url: str | None, expected: Path | None) -> None:
    assert sqlite_file(url) == expected


async def test_the_cli_opens_a_file_with_sqlite3_and_anything_else_with_sqlalchemy(tmp_path: Path) -> None:
    lite = await open_store(None, default_file=tmp_path / "a.db")
    memory = await open_store("sqlite://", default_file=tmp_path / "unused.db")
    try:
        assert isinstance(lite, LiteTaskStore)
        assert isinstance(memory, TaskStore)
    finally:
        await lite.close()
        await memory.close()


def sqlite_master(path: Path) -> list[tuple[str, str, str, str | None]]:
    with sqlite3.connect(path) as connection:
        return connection.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name"
        ).fetchall()


def same_schema(path: Path) -> list[tuple[str, str, str, tuple[str, ...] | None]]:
    """sqlite_master with each table's constraints in a fixed order: alembic's batch copy of a
    table writes them in a different order from one run to the next, which means nothing."""

    def lines(sql: str | None) -> tuple[str, ...] | None:
        if sql is None:
            return None
        found = [line.rstrip(", ") for line in sql.split("\n")]
        return (
            *(x for x in found if not x.startswith("\tCONSTRAINT")),
            *sorted(x for x in found if x.startswith("\tCONSTRAINT")),
        )

    return [(kind, name, table, lines(sql)) for kind, name, table, sql in sqlite_master(path)]


async def test_a_new_file_gets_the_schema_alembic_makes_stamped_with_its_revision(tmp_path: Path) -> None:
    by_alembic, by_lite = tmp_path / "alembic.db", tmp_path / "lite.db"
    async with await TaskStore.connect(f"sqlite+aiosqlite:///{by_alembic}"):
        pass
    async with await LiteTaskStore.connect(by_lite):
        pass
    made = [sql for _type, _name, _table, sql in sqlite_master(by_alembic) if sql is not None]
    paste = "app/store/sqlite_head.py is behind the migrations; its statements are now:\n" + "\n".join(
        map(repr, made)
    )
    assert same_schema(by_lite) == same_schema(by_alembic), paste
    with sqlite3.connect(by_lite) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [(HEAD_REVISION,)]


async def test_a_file_the_lite_store_created_takes_the_sqlalchemy_store_without_a_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tasks.db"
    async with await LiteTaskStore.connect(path) as lite:
        task = await lite.create_task(pipeline="p", description="d", state={})

    def fail(_connection: object) -> None:
        raise AssertionError("alembic ran on a file the lite store had made")

    monkeypatch.setattr(migrate, "upgrade_to_head", fail)
    async with await TaskStore.connect(f"sqlite+aiosqlite:///{path}") as heavy:
        assert (await heavy.get_task(task.id)).description == "d"


async def test_a_file_with_tables_but_no_revision_is_not_given_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE tasks (id TEXT)")
    with pytest.raises(StoreError):  # alembic's upgrade finds the table there and refuses
        await LiteTaskStore.connect(path)
    assert [name for _type, name, _table, _sql in sqlite_master(path)] == ["tasks"]


def test_cli_commands_never_import_sqlalchemy_on_a_new_or_a_current_file(tmp_path: Path) -> None:
    (tmp_path / ".aqm").mkdir()
    (tmp_path / ".aqm" / "agents.yaml").write_text(
        "agents:\n  - id: a\n    runtime: command\n    command: 'true'\n", encoding="utf-8"
    )
    probe = (
        "import sys\nfrom app.cli import main\ncode = main(['list'])\n"
        "print(code, 'sqlalchemy' in sys.modules, 'aiosqlite' in sys.modules)"
    )

    def run() -> str:
        done = subprocess.run(
            [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
        )
        return done.stdout.strip().splitlines()[-1]

    assert run() == "0 False False"  # the first command creates the file
    assert (tmp_path / ".aqm" / "aqm.db").is_file()
    assert run() == "0 False False"


def test_cli_commands_read_aqm_database_url_without_the_servers_settings(tmp_path: Path) -> None:
    (tmp_path / ".aqm").mkdir()
    (tmp_path / ".aqm" / "agents.yaml").write_text(
        "agents:\n  - id: a\n    runtime: command\n    command: 'true'\n", encoding="utf-8"
    )
    elsewhere = tmp_path / "elsewhere.db"
    probe = "import sys\nfrom app.cli import main\ncode = main(['list'])\nprint(code, 'pydantic_settings' in sys.modules)"
    env = {**os.environ, "AQM_DATABASE_URL": f"sqlite+aiosqlite:///{elsewhere}", "AQM_PORT": "not a port"}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "0 False"  # a bad server setting is not its business
    assert elsewhere.is_file() and not (tmp_path / ".aqm" / "aqm.db").exists()
    env["AQM_DATABASE_URL"] = ""  # empty: unset, the project's own file
    subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, check=True)
    assert (tmp_path / ".aqm" / "aqm.db").is_file()
