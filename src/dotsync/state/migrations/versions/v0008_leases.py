"""Leases for several `dotsync serve` workers sharing one state: a lock's holder, fence and expiry;
batch members kept in the state (another machine commits a batch it did not send); the workers'
heartbeats and the scheduled ticks they claim."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("locks") as batch:
        batch.add_column(sa.Column("holder", sa.String(300)))
        batch.add_column(sa.Column("fence", sa.BigInteger, nullable=False, server_default="0"))
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True)))
    op.create_table(
        "batch_members",
        sa.Column(
            "import_row",
            sa.Integer,
            sa.ForeignKey("imports.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "serve_workers",
        sa.Column("worker", sa.String(300), primary_key=True),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("running", sa.Text, nullable=False, server_default="[]"),
    )
    op.create_table(
        "serve_ticks",
        sa.Column("job", sa.String(300), primary_key=True),
        sa.Column("tick_at", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("holder", sa.String(300)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("run_status", sa.String(20)),
        sa.Column("run_id", sa.Integer),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
        sa.Column("workers", sa.Text),
    )


def downgrade() -> None:
    raise NotImplementedError("dotsync's state migrations go forward only")
