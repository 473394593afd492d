"""The web console: its users, the audit log, run and cancel requests, the first admin's setup
link, and who started each run."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("started_by", sa.String(64)))
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("session_generation", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(64)),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(50), nullable=False),
        sa.Column("detail", sa.Text),
    )
    op.create_index("ix_audit_log_target", "audit_log", ["target"])
    op.create_table(
        "run_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("export", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("taken_by", sa.String(200)),
        sa.Column("taken_at", sa.DateTime(timezone=True)),
        sa.Column("run_id", sa.Integer),
        sa.Column("outcome", sa.String(40)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_run_requests_pending", "run_requests", ["taken_at", "kind"])
    op.create_table(
        "setup_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("dotsync's state migrations go forward only")
