"""Task leases and the per-thread queue (who runs a task, until when, in what order); delivery attempts.

Revision ID: 0003
Revises: 0002

Written by hand as a frozen snapshot: it must not import app.store.tables, which will change.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("attempted_at", UTC_TIMESTAMP, nullable=True))
    with op.batch_alter_table("task_links") as batch:
        batch.add_column(sa.Column("source", sa.String(), nullable=True))
        batch.add_column(sa.Column("requested_at", UTC_TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("queued", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("lease_owner", sa.String(), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", UTC_TIMESTAMP, nullable=True))
        batch.create_unique_constraint("uq_task_links_source", ["source"])


def downgrade() -> None:
    with op.batch_alter_table("task_links") as batch:
        batch.drop_constraint("uq_task_links_source", type_="unique")
        batch.drop_column("lease_expires_at")
        batch.drop_column("lease_owner")
        batch.drop_column("queued")
        batch.drop_column("requested_at")
        batch.drop_column("source")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("attempted_at")
