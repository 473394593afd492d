"""``dotsync verify``: one row per check of a book, with its report (counts, samples by profile key
or contact id, call cost) and whether it recorded the unsubscribes and suppressions it read."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "verifies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("export", sa.String(200), nullable=False),
        sa.Column("account_id", sa.String(100)),
        sa.Column("address_book_id", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("repair", sa.Boolean, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("statuses_recorded", sa.Boolean, nullable=False),
        sa.Column("report", sa.Text),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_verifies_export", "verifies", ["export"])


def downgrade() -> None:
    raise NotImplementedError("dotsync's state migrations go forward only")
