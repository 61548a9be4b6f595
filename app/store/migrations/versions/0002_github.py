"""GitHub: webhook deliveries (recorded once) and the link of a task to its thread.

Revision ID: 0002
Revises: 0001

Written by hand as a frozen snapshot: it must not import app.store.tables, which will change.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("event", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("received_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("finished_at", UTC_TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
    )
    op.create_index("ix_deliveries_status", "deliveries", ["status"])
    op.create_table(
        "task_links",
        sa.Column("task_id", sa.String(), nullable=False),
        sa.Column("repo", sa.String(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("is_pull", sa.Integer(), nullable=False),
        sa.Column("installation_id", sa.Integer(), nullable=True),
        sa.Column("head_sha", sa.String(), nullable=True),
        sa.Column("base_sha", sa.String(), nullable=True),
        sa.Column("card_comment_id", sa.Integer(), nullable=True),
        sa.Column("check_run_id", sa.Integer(), nullable=True),
        sa.Column("branch", sa.String(), nullable=True),
        sa.Column("pr_number", sa.Integer(), nullable=True),
        sa.Column("gate_sha", sa.String(), nullable=True),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("posted_stages", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name="fk_task_links_task_id_tasks", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_id", name="pk_task_links"),
    )
    op.create_index("ix_task_links_repo", "task_links", ["repo"])
    op.create_index("ix_task_links_number", "task_links", ["number"])


def downgrade() -> None:
    op.drop_index("ix_task_links_number", table_name="task_links")
    op.drop_index("ix_task_links_repo", table_name="task_links")
    op.drop_table("task_links")
    op.drop_index("ix_deliveries_status", table_name="deliveries")
    op.drop_table("deliveries")
