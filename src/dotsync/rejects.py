"""Rejected-rows files: one CSV per run with each rejected row's key, reason, field and detail.

They hold profile keys, never e-mail addresses or values, and are readable by their owner only
(the folder is 0700, the file 0600). Files older than the retention are deleted at each run."""

from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb

from dotsync import tables
from dotsync.identity import quote_literal


def write_rejects(
    duck: duckdb.DuckDBPyConnection, folder: Path, export: str, run_id: int
) -> Path | None:
    """Write one CSV of the run's rejects: rows validation refused (``members_rejected``) and
    contacts DotDigital refused (``delivery_failures``)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o700)
    sources = [f"select key, reason, field, detail from {tables.MEMBERS_REJECTED}"]
    existing = {r[0] for r in duck.execute("select table_name from duckdb_tables()").fetchall()}
    if tables.DELIVERY_FAILURES.name in existing:
        sources.append(f"select key, reason, field, detail from {tables.DELIVERY_FAILURES}")
    query = " union all ".join(sources)
    row = duck.execute(f"select count(*) from ({query})").fetchone()
    if not row or int(row[0]) == 0:
        return None
    path = folder / f"{export}-run{run_id}.csv"
    tmp = path.with_suffix(".csv.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    target = quote_literal(str(tmp))
    duck.execute(f"copy ({query} order by key) to {target} (format csv, header true)")
    tmp.chmod(0o600)
    tmp.replace(path)
    return path


def purge_old_rejects(folder: Path, retention_days: float) -> list[Path]:
    """Delete rejected-rows files older than the retention; returns what was deleted."""
    if not folder.is_dir():
        return []
    limit = time.time() - retention_days * 86400
    deleted = []
    for path in folder.glob("*.csv"):
        if path.stat().st_mtime < limit:
            path.unlink(missing_ok=True)
            deleted.append(path)
    return deleted
