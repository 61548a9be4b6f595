"""GitHub ids as 64-bit integers: comment, check-run and installation ids are past 2**31 already.

Revision ID: 0004
Revises: 0003

Written by hand as a frozen snapshot: it must not import app.store.tables, which will change.
SQLite's INTEGER holds 64 bits whatever the declared type; PostgreSQL's integer does not.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("installation_id", "card_comment_id", "check_run_id")


def upgrade() -> None:
    with op.batch_alter_table("task_links") as batch:
        for name in COLUMNS:
            batch.alter_column(
                name, type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=True
            )


def downgrade() -> None:
    with op.batch_alter_table("task_links") as batch:
        for name in COLUMNS:
            batch.alter_column(
                name, type_=sa.Integer(), existing_type=sa.BigInteger(), existing_nullable=True
            )
