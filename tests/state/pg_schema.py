"""A state URL for each backend: a SQLite file in the test's folder, or a PostgreSQL schema of the
test's own (dropped after)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

BACKENDS = ["sqlite", "postgresql"]


@contextmanager
def state_url(backend: str, folder: Path, pg_url: str) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'state' / 'state.sqlite'}"
        return
    schema = f"dotsync_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'create schema "{schema}"'))
    try:
        yield f"{pg_url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'drop schema "{schema}" cascade'))
        admin.dispose()
