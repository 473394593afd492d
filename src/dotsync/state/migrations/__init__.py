"""Alembic migrations of the state database; run by :mod:`dotsync.state.migrate`, see README.md."""
