"""Where a pull's rows go: a table of the source database (SQL sources), or a Parquet file beside
a file source, one current row per (export, profile key).

Both read back the export's rows (what the table says now, to tell a change from a report read
again) and write changes in one step: a transaction that deletes the changed keys' rows and
inserts the new ones, or a new file renamed over the old one. A pull killed before that step
wrote nothing; killed after it, it has written everything it read.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from dotsync.config import Config
from dotsync.drivers import missing_driver
from dotsync.errors import ConfigError, SourceError
from dotsync.pull.statuses import PullStatus, Scope, StatusChange

COLUMNS = (
    "key",
    "export",
    "address_book_id",
    "status",
    "reason",
    "scope",
    "changed_at",
    "pulled_at",
)
ARROW_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("export", pa.string()),
        ("address_book_id", pa.int64()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("scope", pa.string()),
        ("changed_at", pa.timestamp("us", tz="UTC")),
        ("pulled_at", pa.timestamp("us", tz="UTC")),
    ]
)
_CHUNK = 1000


class Destination(Protocol):
    description: str  # for messages and the report (no password)

    def current(self, export: str) -> dict[str, StatusChange]:
        """The export's rows as the table holds them now, by key."""
        ...

    def write(
        self, export: str, book_id: int, changes: Sequence[StatusChange], pulled_at: datetime
    ) -> None:
        """Replace the changed keys' rows of the export, all at once."""
        ...

    def forget(self, export: str) -> int:
        """Delete the export's rows (``dotsync remove``), if the table or file exists."""
        ...

    def close(self) -> None: ...


def open_destination(config: Config, *, create: bool = True) -> Destination:
    """The destination ``[pull]`` names for this source, checked (and, with ``create``, made if
    missing) before anything is read from DotDigital."""
    if config.source.url is not None:
        table = StatusTable(config.source.url, config.pull.table, config.pull.schema_name)
        if create:
            table.create()
        return table
    return StatusFile(config.pull.path)


def _as_change(
    setting: str, key: object, status: object, reason: object, scope: object, changed_at: object
) -> StatusChange:
    """A row read back. One edited by hand into what a pull never writes is named, with the
    setting of the table or file that holds it."""
    problem = "" if isinstance(changed_at, datetime) else "changed_at is not a date and time"
    if not problem:
        try:
            return StatusChange(
                str(key), PullStatus(str(status)), str(reason), Scope(str(scope)), _utc(changed_at)
            )
        except ValueError as exc:  # a status or scope no pull writes
            problem = str(exc)
    raise SourceError(
        f"{setting}: the row of key {key!r} does not say what `dotsync pull` writes ({problem}): "
        "fix or delete it"
    )


def _utc(moment: Any) -> datetime:
    assert isinstance(moment, datetime)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _records(
    export: str, book_id: int, changes: Sequence[StatusChange], pulled_at: datetime
) -> list[dict[str, object]]:
    return [
        {
            "key": c.key,
            "export": export,
            "address_book_id": book_id,
            "status": str(c.status),
            "reason": c.reason,
            "scope": str(c.scope),
            "changed_at": c.changed_at,
            "pulled_at": pulled_at,
        }
        for c in changes
    ]


# --- a table of the source database -----------------------------------------------------------


def status_table(name: str, schema: str | None) -> sa.Table:
    return sa.Table(
        name,
        sa.MetaData(schema=schema),
        sa.Column("key", sa.String(500), nullable=False),
        sa.Column("export", sa.String(200), nullable=False),
        sa.Column("address_book_id", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(100), nullable=False),
        sa.Column("scope", sa.String(10), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pulled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("export", "key"),
    )


class StatusTable:
    """``[pull] table`` (in ``schema``) of the source database, created if missing."""

    def __init__(self, url: str, name: str, schema: str | None) -> None:
        try:
            parsed = make_url(url)
        except sa.exc.ArgumentError:
            raise ConfigError(
                "not a SQLAlchemy URL (dialect+driver://...)", key="source.url"
            ) from None
        safe = parsed.render_as_string(hide_password=True)
        try:
            self.engine = sa.create_engine(parsed)
        except (ImportError, sa.exc.NoSuchModuleError) as exc:
            raise missing_driver("source.url", safe, exc) from None
        self.table = status_table(name, schema)
        self.description = f"table {self.table.fullname} of {safe}"
        self._key = "pull.schema" if schema else "pull.table"

    def create(self) -> None:
        """The schema and the table, if missing; a table of that name must be ours."""
        schema = self.table.schema
        with self._failing("create"):
            with self.engine.begin() as conn:
                if schema is not None:
                    conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
                self.table.create(conn, checkfirst=True)
            self._check_columns()

    @contextlib.contextmanager
    def _failing(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sa.exc.SQLAlchemyError as exc:
            original = getattr(exc, "orig", None)
            text = str(original) if original is not None else str(exc).split("\n[SQL:")[0]
            message = " ".join(line.strip() for line in text.splitlines() if line.strip())
            raise SourceError(
                f"{self._key}: cannot {doing} the {self.description}: {message}"
            ) from None

    def _check_columns(self) -> None:
        inspector = sa.inspect(self.engine)
        found = {
            c["name"] for c in inspector.get_columns(self.table.name, schema=self.table.schema)
        }
        missing = [c for c in COLUMNS if c not in found]
        if missing:
            raise SourceError(
                f"pull.table: the {self.description} exists without the columns "
                f"{', '.join(missing)}: it is not dotsync's; name another table with `table`"
            )

    def current(self, export: str) -> dict[str, StatusChange]:
        t = self.table
        query = sa.select(t.c.key, t.c.status, t.c.reason, t.c.scope, t.c.changed_at).where(
            t.c.export == export
        )
        with self._failing("read"), self.engine.connect() as conn:
            return {str(row[0]): _as_change("pull.table", *row) for row in conn.execute(query)}

    def write(
        self, export: str, book_id: int, changes: Sequence[StatusChange], pulled_at: datetime
    ) -> None:
        t = self.table
        with self._failing("write"), self.engine.begin() as conn:
            for start in range(0, len(changes), _CHUNK):
                chunk = changes[start : start + _CHUNK]
                conn.execute(
                    sa.delete(t).where(t.c.export == export, t.c.key.in_([c.key for c in chunk]))
                )
                conn.execute(sa.insert(t), _records(export, book_id, chunk, pulled_at))

    def forget(self, export: str) -> int:
        t = self.table
        with self._failing("clean"):
            if not sa.inspect(self.engine).has_table(t.name, schema=t.schema):
                return 0
            with self.engine.begin() as conn:
                return int(conn.execute(sa.delete(t).where(t.c.export == export)).rowcount)

    def close(self) -> None:
        self.engine.dispose()


# --- a Parquet file beside a file source ------------------------------------------------------


class StatusFile:
    """``[pull] path``: every export's rows in one Parquet file, rewritten whole by each pull
    (a new file renamed over the old one, under a lock: two pulls never lose each other's rows)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"file {path}"
        if path.exists():
            self._read()  # a file that is not ours is refused before anything is read

    def _read(self) -> pa.Table:
        try:
            table = pq.read_table(self.path)
        except (OSError, pa.ArrowException) as exc:
            raise SourceError(f"pull.path: cannot read {self.path}: {exc}") from None
        missing = [c for c in COLUMNS if c not in table.column_names]
        if missing:
            raise SourceError(
                f"pull.path: {self.path} has no columns {', '.join(missing)}: it is not a file "
                "`dotsync pull` wrote; name another file with `path`"
            )
        return table.select(list(COLUMNS)).cast(ARROW_SCHEMA)

    def current(self, export: str) -> dict[str, StatusChange]:
        if not self.path.exists():
            return {}
        rows = self._read().filter(pc.field("export") == export)
        columns = [rows.column(c).to_pylist() for c in ("key", "status", "reason", "scope")]
        changed = rows.column("changed_at").to_pylist()
        return {
            str(k): _as_change("pull.path", k, s, r, sc, at)
            for k, s, r, sc, at in zip(*columns, changed, strict=True)
        }

    def write(
        self, export: str, book_id: int, changes: Sequence[StatusChange], pulled_at: datetime
    ) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._locked():
                if changes or not self.path.exists():
                    self._replace(self._merged(export, book_id, changes, pulled_at))
        except OSError as exc:
            raise SourceError(f"pull.path: cannot write {self.path}: {exc.strerror}") from None

    def forget(self, export: str) -> int:
        if not self.path.exists():
            return 0
        try:
            with self._locked():
                old = self._read()
                gone = pc.equal(old.column("export"), export)
                count = pc.sum(gone).as_py() or 0
                if count:
                    self._replace(old.filter(pc.invert(gone)))
        except OSError as exc:
            raise SourceError(f"pull.path: cannot write {self.path}: {exc.strerror}") from None
        return int(count)

    def _merged(
        self, export: str, book_id: int, changes: Sequence[StatusChange], pulled_at: datetime
    ) -> pa.Table:
        new = pa.Table.from_pylist(_records(export, book_id, changes, pulled_at), ARROW_SCHEMA)
        if not self.path.exists():
            return new.sort_by([("export", "ascending"), ("key", "ascending")])
        old = self._read()
        replaced = pc.and_(
            pc.equal(old.column("export"), export),
            pc.is_in(old.column("key"), value_set=pa.array([c.key for c in changes])),
        )
        kept = old.filter(pc.invert(replaced))
        merged = pa.concat_tables([kept, new])
        return merged.sort_by([("export", "ascending"), ("key", "ascending")])

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Pulls of other exports (other processes, or threads of ``serve``) write this file too:
        one at a time reads, merges and replaces it."""
        lock = self.path.with_name(f".{self.path.name}.lock")
        with lock.open("a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _replace(self, table: pa.Table) -> None:
        """A new file beside the old, flushed to disk, renamed over it: readers see the old
        file or the new one, never half of one."""
        mode = self.path.stat().st_mode & 0o777 if self.path.exists() else 0o600
        fd, tmp_name = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                pq.write_table(table, handle)
                handle.flush()
                os.fsync(handle.fileno())
            tmp.chmod(mode)
            tmp.replace(self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a power cut
        finally:
            os.close(directory)

    def close(self) -> None:
        return None
