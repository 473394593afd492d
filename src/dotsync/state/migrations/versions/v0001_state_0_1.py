"""The state as dotsync 0.1 created it: members, runs, imports, removals, locks.

Frozen: later changes go in later revisions, never here (a 0.1 database is stamped with this
revision without running it)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "members",
        sa.Column("export", sa.String(200), primary_key=True),
        sa.Column("address_book_id", sa.BigInteger, primary_key=True),
        sa.Column("key", sa.String(500), primary_key=True),
        sa.Column("contact_id", sa.BigInteger, nullable=False),
        sa.Column("email_hash", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("export", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("full", sa.Boolean, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("counts", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("rejects_file", sa.Text),
        sa.Column("resumed_imports", sa.Integer, nullable=False),
        sa.Column("host", sa.String(200)),
        sa.Column("pid", sa.Integer),
    )
    op.create_index("ix_runs_export", "runs", ["export"])
    op.create_table(
        "imports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("export", sa.String(200), nullable=False),
        sa.Column("address_book_id", sa.BigInteger, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("import_id", sa.String(64)),
        sa.Column("batch_file", sa.Text, nullable=False),
        sa.Column("contacts", sa.Integer, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_imports_export_status", "imports", ["export", "status"])
    op.create_table(
        "removals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("export", sa.String(200), nullable=False),
        sa.Column("address_book_id", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("deletion_id", sa.String(64)),
        sa.Column("contact_ids", sa.Text, nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "locks",
        sa.Column("name", sa.String(400), primary_key=True),
        sa.Column("run_id", sa.Integer),
        sa.Column("export", sa.String(200), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("dotsync's state migrations go forward only")
