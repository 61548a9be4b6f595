"""Deliveries retried with backoff and de-duplicated; a step log so a retry repeats no side effect.

Revision ID: 0005
Revises: 0004

Written by hand as a frozen snapshot: it must not import app.store.tables, which will change.
`next_attempt_at`: when the reconciler may hand a pending delivery out again (its batches are
ordered by it). `dedup_key`: what the delivery is about (app/github/webhook.py `delivery_key`),
unique, so the same event under another GUID is recorded as a duplicate. `delivery_steps`: the
side effects a delivery has performed (a command, its one reply), each once.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIMESTAMP = sa.DateTime(timezone=True)
STEPS_FOREIGN_KEY = "fk_delivery_steps_delivery_id_deliveries"  # the tables' naming convention


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("next_attempt_at", UTC_TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("dedup_key", sa.String(), nullable=True))
        batch.create_unique_constraint("uq_deliveries_dedup_key", ["dedup_key"])
        batch.create_index("ix_deliveries_next_attempt_at", ["next_attempt_at"])
    op.execute("UPDATE deliveries SET next_attempt_at = received_at WHERE status = 'pending'")
    op.create_table(
        "delivery_steps",
        sa.Column(
            "delivery_id",
            sa.String(),
            sa.ForeignKey("deliveries.id", name=STEPS_FOREIGN_KEY, ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("step", sa.String(), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("done_at", UTC_TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("delivery_id", "step", name="pk_delivery_steps"),
    )


def downgrade() -> None:
    op.drop_table("delivery_steps")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index("ix_deliveries_next_attempt_at")
        batch.drop_constraint("uq_deliveries_dedup_key", type_="unique")
        batch.drop_column("dedup_key")
        batch.drop_column("next_attempt_at")
