"""A PostgreSQL schema of a test's own on the real server, dropped after the test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine


@contextmanager
def scratch_schema(url: str, prefix: str) -> Iterator[tuple[str, Engine]]:
    """A new schema ``{prefix}_<random>`` and an engine on ``url``; the schema and all it holds
    are dropped on exit, so tests running together (``-n``) never see each other's tables."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    try:
        yield name, engine
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
        engine.dispose()
