"""The ownership ledger of address books: who is in each book as far as dotsync knows, whose it
is (added by dotsync or found there), which export keeps which leavers, which book each export
writes, and when each book was read.

Beside a SQLite state the ledger's contacts live in one DuckDB file per book (``book_contacts``
and ``book_kept`` stay empty there); with a PostgreSQL state, in these tables. Members that
dotsync 0.1 confirmed are entered as added by dotsync by the first run that meets their book
(``ownership.BookReader``), not here: that needs the account id, known only once connected."""

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
