"""Removals record their kind: ``remove`` (out of the book, a bulk deletion) or ``unsubscribe``
(unsubscribed from the book, ``on_segment_exit = unsubscribe``), so that an interrupted run's
unsubscribes are finished by the next run like its removals."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("removals") as batch:
        batch.add_column(sa.Column("kind", sa.String(20), nullable=False, server_default="remove"))


def downgrade() -> None:
    raise NotImplementedError("dotsync's state migrations go forward only")
