"""The ownership ledger of each address book: its contacts (added or found, and their status),
the contacts ``keep`` exports hold, which book each export writes, and the reads of each book.

Written while merging the ledger (issue 10) with the versioned state: if the ledger brings a
revision of its own for these tables, that one replaces this file and ``0003`` follows it."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "book_contacts",
        sa.Column("account_id", sa.String(100), primary_key=True),
        sa.Column("address_book_id", sa.BigInteger, primary_key=True),
        sa.Column("email_hash", sa.String(64), primary_key=True),
        sa.Column("contact_id", sa.BigInteger),
        sa.Column("origin", sa.String(10)),
        sa.Column("status", sa.String(20)),
        sa.Column("run_id", sa.Integer, nullable=False),
    )
    op.create_table(
        "book_kept",
        sa.Column("account_id", sa.String(100), primary_key=True),
        sa.Column("address_book_id", sa.BigInteger, primary_key=True),
        sa.Column("export", sa.String(200), primary_key=True),
        sa.Column("email_hash", sa.String(64), primary_key=True),
        sa.Column("contact_id", sa.BigInteger),
    )
    op.create_table(
        "export_books",
        sa.Column("export", sa.String(200), primary_key=True),
        sa.Column("account_id", sa.String(100), nullable=False),
        sa.Column("address_book_id", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "book_reads",
        sa.Column("account_id", sa.String(100), primary_key=True),
        sa.Column("address_book_id", sa.BigInteger, primary_key=True),
        sa.Column("baseline_at", sa.DateTime(timezone=True)),
        sa.Column("baseline_contacts", sa.Integer),
        sa.Column("changes_from", sa.DateTime(timezone=True)),
        sa.Column("owners_decided_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    raise NotImplementedError("dotsync's state migrations go forward only")
