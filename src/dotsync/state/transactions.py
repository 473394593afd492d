"""The two kinds of transaction every table of the state is written and read in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from dotsync.state.migrate import SQLITE_BEGIN


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A checkpoint that writes: on SQLite it takes the write lock at once (BEGIN IMMEDIATE) so
    that what it read stays true until it commits."""
    with engine.connect() as conn:
        conn.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        with conn.begin():
            yield conn


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    with engine.begin() as conn:
        yield conn
