"""``dotsync pull``: the pulls and their reports, where each change feed stands, the keys of
members DotDigital refused as suppressed and the keys pulls wrote rows for (so that a pull can
name them)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pulls",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("export", sa.String(200), nullable=False),
        sa.Column("account_id", sa.String(100)),
        sa.Column("address_book_id", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("report", sa.Text),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_pulls_export", "pulls", ["export"])
    op.create_table(
        "pull_cursors",
        sa.Column("export", sa.String(200), primary_key=True),
        sa.Column("account_id", sa.String(100), primary_key=True),
        sa.Column("feed", sa.String(40), primary_key=True),
        sa.Column("address_book_id", sa.BigInteger, primary_key=True),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pass_since", sa.DateTime(timezone=True)),
        sa.Column("pass_started_at", sa.DateTime(timezone=True)),
        sa.Column("skip", sa.Integer, nullable=False),
        sa.Column("marker", sa.String(500)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "refused_members",
        sa.Column("export", sa.String(200), primary_key=True),
        sa.Column("address_book_id", sa.BigInteger, primary_key=True),
        sa.Column("key", sa.String(500), primary_key=True),
        sa.Column("email_hash", sa.String(64), nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("refused_at", sa.DateTime(timezone=True), nullable=False),
    )

    op.create_table(
        "pull_keys",
        sa.Column("export", sa.String(200), primary_key=True),
        sa.Column("address_book_id", sa.BigInteger, primary_key=True),
        sa.Column("key", sa.String(500), primary_key=True),
        sa.Column("contact_id", sa.BigInteger),
        sa.Column("email_hash", sa.String(64)),
    )


def downgrade() -> None:
    raise NotImplementedError("dotsync's state migrations go forward only")
