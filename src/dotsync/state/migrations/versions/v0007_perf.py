"""Each member's row version: the source's change marker (``[source] updated_at``) of the values
DotDigital confirmed, with the mapping's version, so that a refresh reads and validates again only
the rows whose marker moved. Null for members confirmed before (their rows are read again once)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("members", sa.Column("row_version", sa.String(500)))


def downgrade() -> None:
    raise NotImplementedError("dotsync's state migrations go forward only")
