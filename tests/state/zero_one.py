"""A state as dotsync 0.1 wrote it, for upgrade tests. Two ways:

- ``zero_one_source`` + ``run_zero_one``: the real 0.1 code (commit c4cd3e2, the last commit before
  the schema was versioned), taken out of the repository's history and run in a subprocess, e.g.
  ``run_zero_one(src, "export", "news", "--config", str(config_path))``.
- ``write_zero_one_state``: the 0.1 tables from the frozen copy of their DDL below, filled with a
  finished run, a committed import and members (in a DuckDB member file beside a SQLite state, in
  the ``members`` table of any other database, as 0.1 kept them).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    insert,
)

ZERO_ONE_COMMIT = "c4cd3e24b114ee8142c1e1e4a641f2547e49ce2e"
REPOSITORY = Path(__file__).resolve().parents[2]


def zero_one_source(folder: Path) -> Path:
    """The ``src`` folder of dotsync 0.1, extracted into ``folder``. Skips the test when the
    repository's history is not there (a shallow clone or an unpacked archive)."""
    git = shutil.which("git")
    if git is None:
        pytest.skip("needs git to take dotsync 0.1 out of the repository's history")
    archive = subprocess.run(
        [git, "-C", str(REPOSITORY), "archive", "--format=tar", ZERO_ONE_COMMIT, "src"],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        pytest.skip(f"the repository's history lacks dotsync 0.1 ({ZERO_ONE_COMMIT[:7]})")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    return folder / "src"


_RUN_ZERO_ONE = """
import sys
from pathlib import Path
import dotsync, dotsync.cli
assert Path(dotsync.__file__).is_relative_to(sys.argv[1]), dotsync.__file__
sys.argv = ["dotsync", *sys.argv[2:]]
dotsync.cli.main()
"""


def run_zero_one(src: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``dotsync ARGS`` of version 0.1 (the environment's variables passed on)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [sys.executable, "-c", _RUN_ZERO_ONE, str(src), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )


# --- the 0.1 schema, frozen (src/dotsync/state/schema.py at 0.1) ---------------------------------

zero_one_metadata = MetaData()
zero_one_members = Table(
    "members",
    zero_one_metadata,
    Column("export", String(200), primary_key=True),
    Column("address_book_id", BigInteger, primary_key=True),
    Column("key", String(500), primary_key=True),
    Column("contact_id", BigInteger, nullable=False),
    Column("email_hash", String(64), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("run_id", Integer, nullable=False),
)
zero_one_runs = Table(
    "runs",
    zero_one_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("export", String(200), nullable=False, index=True),
    Column("status", String(20), nullable=False),
    Column("full", Boolean, nullable=False, default=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("counts", Text),
    Column("error", Text),
    Column("rejects_file", Text),
    Column("resumed_imports", Integer, nullable=False, default=0),
    Column("host", String(200)),
    Column("pid", Integer),
)
zero_one_imports = Table(
    "imports",
    zero_one_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("export", String(200), nullable=False),
    Column("address_book_id", BigInteger, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("import_id", String(64)),
    Column("batch_file", Text, nullable=False),
    Column("contacts", Integer, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("submitted_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("error", Text),
)
Index("ix_imports_export_status", zero_one_imports.c.export, zero_one_imports.c.status)
Table(
    "removals",
    zero_one_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("export", String(200), nullable=False),
    Column("address_book_id", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),
    Column("deletion_id", String(64)),
    Column("contact_ids", Text, nullable=False),
    Column("submitted_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
)
Table(
    "locks",
    zero_one_metadata,
    Column("name", String(400), primary_key=True),
    Column("run_id", Integer),
    Column("export", String(200), nullable=False),
    Column("host", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
)

# The member file of an export beside a SQLite state, as 0.1 created it (no meta table).
ZERO_ONE_MEMBER_FILE_DDL = """create table if not exists members (
    address_book_id bigint not null, key varchar not null, contact_id bigint not null,
    email_hash varchar not null, digest varchar not null, run_id integer not null)"""


def zero_one_member_file(state_url: str, export: str) -> Path:
    """Where 0.1 kept the member file of ``export`` beside the SQLite state at ``state_url``."""
    return Path(state_url.removeprefix("sqlite:///")).parent / "members" / f"{export}.duckdb"


def write_zero_one_state(
    url: str,
    members: list[tuple[str, int, str, str]],
    *,
    export: str = "news",
    book_id: int = 7,
) -> int:
    """A state as 0.1 left it after one successful run that confirmed ``members`` (key, contact
    id, e-mail hash, digest). Returns the run's id."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    now = datetime.now(UTC)
    try:
        zero_one_metadata.create_all(engine)
        with engine.begin() as conn:
            run_id = int(
                conn.execute(
                    insert(zero_one_runs).values(
                        export=export,
                        status="succeeded",
                        full=False,
                        started_at=now,
                        finished_at=now,
                        counts=json.dumps({"sent": len(members)}),
                        resumed_imports=0,
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
            )
            conn.execute(
                insert(zero_one_imports).values(
                    run_id=run_id,
                    export=export,
                    address_book_id=book_id,
                    seq=0,
                    status="committed",
                    import_id="import-0-1",
                    batch_file="batch-0.parquet",
                    contacts=len(members),
                    bytes=100,
                    submitted_at=now,
                    finished_at=now,
                )
            )
            if not url.startswith("sqlite:///"):
                rows = [
                    {
                        "export": export,
                        "address_book_id": book_id,
                        "key": k,
                        "contact_id": c,
                        "email_hash": h,
                        "digest": d,
                        "run_id": run_id,
                    }
                    for k, c, h, d in members
                ]
                if rows:
                    conn.execute(insert(zero_one_members), rows)
    finally:
        engine.dispose()
    if url.startswith("sqlite:///"):
        path = zero_one_member_file(url, export)
        path.parent.mkdir(parents=True, exist_ok=True)
        with duckdb.connect(str(path)) as duck:
            duck.execute(ZERO_ONE_MEMBER_FILE_DDL)
            duck.executemany(
                "insert into members values (?, ?, ?, ?, ?, ?)",
                [(book_id, k, c, h, d, run_id) for k, c, h, d in members],
            )
    return run_id
