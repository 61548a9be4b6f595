"""The SQLite schema at HEAD_REVISION, as alembic's migrations leave it: what a new file gets.

A fresh project's first `aqm run` creates its store from these statements with the standard
library's sqlite3 instead of running the migrations, which import alembic and SQLAlchemy (about
20 MiB and 0.2 s, most of a first run's footprint), then stamps alembic_version with
SQLITE_HEAD_REVISION, so later migrations apply to the file as to any other (and when this
snapshot falls behind HEAD_REVISION, alembic brings a new file the rest of the way: slower, never
wrong). The migrations stay the one definition of the schema: these statements are
`sqlite_master.sql` of a file alembic migrated to head, in creation order, and
tests/integration/store/test_lite.py checks that a file made either way has the same
sqlite_master; after a new revision it fails and prints the statements to paste here.
"""

# The statements are verbatim sqlite_master text, one string each, however long.
# ruff: noqa: E501

from __future__ import annotations

SQLITE_HEAD_REVISION = "0005"  # the revision these statements are the schema of
SQLITE_HEAD_DDL: tuple[str, ...] = (
    "CREATE TABLE alembic_version (\n\tversion_num VARCHAR(32) NOT NULL, \n\tCONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n)",
    "CREATE TABLE tasks (\n\tid VARCHAR NOT NULL, \n\tpipeline VARCHAR NOT NULL, \n\tdescription TEXT NOT NULL, \n\tstatus VARCHAR NOT NULL, \n\tpriority INTEGER NOT NULL, \n\tkind VARCHAR NOT NULL, \n\tparent_task_id VARCHAR, \n\tstate JSON NOT NULL, \n\terror TEXT, \n\tversion INTEGER NOT NULL, \n\tcreated_at DATETIME NOT NULL, \n\tupdated_at DATETIME NOT NULL, \n\tCONSTRAINT pk_tasks PRIMARY KEY (id)\n)",
    "CREATE INDEX ix_tasks_status ON tasks (status)",
    "CREATE INDEX ix_tasks_created_at ON tasks (created_at)",
    "CREATE TABLE stages (\n\ttask_id VARCHAR NOT NULL, \n\tnumber INTEGER NOT NULL, \n\tagent_id VARCHAR NOT NULL, \n\tbranch VARCHAR NOT NULL, \n\tkind VARCHAR NOT NULL, \n\ttask_name TEXT NOT NULL, \n\tstatus VARCHAR NOT NULL, \n\tinput_text TEXT NOT NULL, \n\toutput_text TEXT NOT NULL, \n\tgate_result VARCHAR, \n\treject_reason TEXT, \n\tretry_count INTEGER NOT NULL, \n\tretry_reason TEXT, \n\truntime VARCHAR, \n\tmodel VARCHAR, \n\tinput_tokens INTEGER NOT NULL, \n\toutput_tokens INTEGER NOT NULL, \n\tcost_usd DOUBLE, \n\terror TEXT, \n\tstarted_at DATETIME, \n\tfinished_at DATETIME, \n\tstate_before JSON NOT NULL, \n\tCONSTRAINT pk_stages PRIMARY KEY (task_id, number), \n\tCONSTRAINT fk_stages_task_id_tasks FOREIGN KEY(task_id) REFERENCES tasks (id) ON DELETE CASCADE\n)",
    "CREATE TABLE \"task_links\" (\n\ttask_id VARCHAR NOT NULL, \n\trepo VARCHAR NOT NULL, \n\tnumber INTEGER NOT NULL, \n\tis_pull INTEGER NOT NULL, \n\tinstallation_id BIGINT, \n\thead_sha VARCHAR, \n\tbase_sha VARCHAR, \n\tcard_comment_id BIGINT, \n\tcheck_run_id BIGINT, \n\tbranch VARCHAR, \n\tpr_number INTEGER, \n\tgate_sha VARCHAR, \n\tactor VARCHAR NOT NULL, \n\tposted_stages JSON NOT NULL, \n\tsource VARCHAR, \n\trequested_at DATETIME, \n\tqueued INTEGER DEFAULT '0' NOT NULL, \n\tlease_owner VARCHAR, \n\tlease_expires_at DATETIME, \n\tCONSTRAINT pk_task_links PRIMARY KEY (task_id), \n\tCONSTRAINT fk_task_links_task_id_tasks FOREIGN KEY(task_id) REFERENCES tasks (id) ON DELETE CASCADE, \n\tCONSTRAINT uq_task_links_source UNIQUE (source)\n)",
    "CREATE INDEX ix_task_links_number ON task_links (number)",
    "CREATE INDEX ix_task_links_repo ON task_links (repo)",
    'CREATE TABLE "deliveries" (\n\tid VARCHAR NOT NULL, \n\tevent VARCHAR NOT NULL, \n\taction VARCHAR, \n\tbody TEXT NOT NULL, \n\tstatus VARCHAR NOT NULL, \n\tattempts INTEGER NOT NULL, \n\terror TEXT, \n\treceived_at DATETIME NOT NULL, \n\tfinished_at DATETIME, \n\tattempted_at DATETIME, \n\tnext_attempt_at DATETIME, \n\tdedup_key VARCHAR, \n\tCONSTRAINT pk_deliveries PRIMARY KEY (id), \n\tCONSTRAINT uq_deliveries_dedup_key UNIQUE (dedup_key)\n)',
    "CREATE INDEX ix_deliveries_status ON deliveries (status)",
    "CREATE INDEX ix_deliveries_next_attempt_at ON deliveries (next_attempt_at)",
    "CREATE TABLE delivery_steps (\n\tdelivery_id VARCHAR NOT NULL, \n\tstep VARCHAR NOT NULL, \n\tresult TEXT, \n\tdone_at DATETIME NOT NULL, \n\tCONSTRAINT pk_delivery_steps PRIMARY KEY (delivery_id, step), \n\tCONSTRAINT fk_delivery_steps_delivery_id_deliveries FOREIGN KEY(delivery_id) REFERENCES deliveries (id) ON DELETE CASCADE\n)",
)
