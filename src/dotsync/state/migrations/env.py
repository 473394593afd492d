"""Alembic's entry point. dotsync runs migrations itself (:mod:`dotsync.state.migrate`), on a
connection it has already locked: it hands that connection over in ``config.attributes``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from dotsync.state.schema import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise TypeError(
        "dotsync's state migrations run through dotsync.state.migrate.upgrade_schema, "
        "not from the alembic command line"
    )
# render_as_batch: SQLite cannot ALTER most things; batch operations copy the table instead.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():  # joins the caller's transaction, which holds the lock
    context.run_migrations()
