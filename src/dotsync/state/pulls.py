"""What ``dotsync pull`` keeps in the state database: its pulls (with their reports), where each
change feed of an export stands, and the keys of members DotDigital refused as suppressed.

The cursors of a pass are written only after the rows it read are in the destination (the caller
keeps that order): a crash in between reads them again, and the destination's de-duplication makes
that harmless.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
from sqlalchemy import Connection, Engine, RowMapping, delete, func, insert, select, update

from dotsync.state.arrow import query_to_arrow
from dotsync.state.migrate import SQLITE_BEGIN
from dotsync.state.schema import pull_cursors, pull_keys, pulls, refused_members, runs

REFUSED_TABLE = "pull_refused"  # (key, email_hash) in the pull's DuckDB connection
PULLED_TABLE = "pull_known"  # (key, contact_id, email_hash): keys earlier pulls wrote rows for
_CHUNK = 5000


@dataclass(frozen=True)
class FeedCursor:
    """Where one change feed stands. The next pass reads from ``watermark`` (less an overlap);
    a pass in progress (cut short by the call budget) goes on at ``skip`` (a feed paged by
    offset) or ``marker`` (by marker) of the same date, ``pass_since``, and ends with
    ``watermark = pass_started``."""

    watermark: datetime
    pass_since: datetime | None = None
    pass_started: datetime | None = None
    skip: int = 0
    marker: str | None = None


FeedKey = tuple[str, int]
"""(feed name, address book id: 0 for the account's feeds)."""


@dataclass(frozen=True)
class PullRecord:
    pull_id: int
    export: str
    address_book_id: int
    status: str
    started_at: datetime
    finished_at: datetime | None
    report: str | None  # dotsync.pull.PullReport as JSON
    error: str | None


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back: everything stored is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class PullStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
            with conn.begin():
                yield conn

    # --- where a first pull starts -------------------------------------------------------------

    def first_run_at(self, export: str) -> datetime | None:
        """When the export's first recorded run started (before it, dotsync sent nobody)."""
        with self.engine.connect() as conn:
            value = conn.execute(
                select(func.min(runs.c.started_at)).where(runs.c.export == export)
            ).scalar()
        return _aware(value)

    # --- cursors -------------------------------------------------------------------------------

    def cursors(self, export: str, account: str) -> dict[FeedKey, FeedCursor]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(pull_cursors).where(
                    pull_cursors.c.export == export, pull_cursors.c.account_id == account
                )
            ).mappings()
            return {
                (str(r["feed"]), int(r["address_book_id"])): FeedCursor(
                    watermark=_aware(r["watermark"]) or r["watermark"],
                    pass_since=_aware(r["pass_since"]),
                    pass_started=_aware(r["pass_started_at"]),
                    skip=int(r["skip"]),
                    marker=r["marker"],
                )
                for r in rows
            }

    def save_pull(
        self,
        export: str,
        account: str,
        cursors: Mapping[FeedKey, FeedCursor],
        *,
        book_id: int = 0,
        keys: Sequence[tuple[str, int | None, str | None]] = (),
    ) -> None:
        """Every feed's new position, and the (key, contact id, e-mail hash) of each row the pull
        wrote, in one transaction."""
        now = _now()
        with self._tx() as conn:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start : start + _CHUNK]
                conn.execute(
                    delete(pull_keys).where(
                        pull_keys.c.export == export,
                        pull_keys.c.address_book_id == book_id,
                        pull_keys.c.key.in_([key for key, _c, _h in chunk]),
                    )
                )
                conn.execute(
                    insert(pull_keys),
                    [
                        {
                            "export": export,
                            "address_book_id": book_id,
                            "key": key,
                            "contact_id": contact_id,
                            "email_hash": email_hash,
                        }
                        for key, (contact_id, email_hash) in {
                            k: (c, h) for k, c, h in chunk
                        }.items()
                    ],
                )
            for (feed, feed_book), cursor in cursors.items():
                key = {
                    "export": export,
                    "account_id": account,
                    "feed": feed,
                    "address_book_id": feed_book,
                }
                values = {
                    "watermark": cursor.watermark,
                    "pass_since": cursor.pass_since,
                    "pass_started_at": cursor.pass_started,
                    "skip": cursor.skip,
                    "marker": cursor.marker,
                    "updated_at": now,
                }
                done = conn.execute(
                    update(pull_cursors)
                    .where(*(pull_cursors.c[k] == v for k, v in key.items()))
                    .values(**values)
                )
                if not done.rowcount:
                    conn.execute(insert(pull_cursors).values(**key, **values))

    # --- pulls ---------------------------------------------------------------------------------

    def start(self, export: str, book_id: int) -> tuple[int, datetime]:
        """A new pull of the export (whose lock the caller holds: a pull of it still "running"
        was killed, and is recorded as interrupted)."""
        started = _now()
        with self._tx() as conn:
            conn.execute(
                update(pulls)
                .where(pulls.c.export == export, pulls.c.status == "running")
                .values(status="interrupted", finished_at=started, error="killed")
            )
            result = conn.execute(
                insert(pulls).values(
                    export=export, address_book_id=book_id, status="running", started_at=started
                )
            )
            return int(result.inserted_primary_key[0]), started  # type: ignore[index]

    def finish(
        self,
        pull_id: int,
        status: str,
        *,
        account: str | None,
        report: str | None,
        error: str | None = None,
    ) -> None:
        with self._tx() as conn:
            conn.execute(
                update(pulls)
                .where(pulls.c.id == pull_id)
                .values(
                    status=status,
                    account_id=account,
                    finished_at=_now(),
                    report=report,
                    error=error,
                )
            )

    def last_pulls(self) -> dict[str, PullRecord]:
        """The last finished pull of each export (whatever its status), by export."""
        latest = (
            select(func.max(pulls.c.id))
            .where(pulls.c.status != "running")
            .group_by(pulls.c.export)
            .scalar_subquery()
        )
        with self.engine.connect() as conn:
            rows = conn.execute(select(pulls).where(pulls.c.id.in_(latest))).mappings()
            return {str(r["export"]): _record(r) for r in rows}

    def list_pulls(self, export: str | None = None, limit: int = 50) -> list[PullRecord]:
        query = select(pulls).order_by(pulls.c.id.desc()).limit(limit)
        if export:
            query = query.where(pulls.c.export == export)
        with self.engine.connect() as conn:
            return [_record(r) for r in conn.execute(query).mappings()]

    # --- members refused as suppressed --------------------------------------------------------

    def remember_refused(
        self, export: str, book_id: int, run_id: int, rows: Sequence[tuple[str, str]]
    ) -> None:
        """(key, email_hash) of members DotDigital refused: the latest refusal of a key wins."""
        if not rows:
            return
        now = _now()
        with self._tx() as conn:
            for start in range(0, len(rows), _CHUNK):
                chunk = rows[start : start + _CHUNK]
                conn.execute(
                    delete(refused_members).where(
                        refused_members.c.export == export,
                        refused_members.c.address_book_id == book_id,
                        refused_members.c.key.in_([key for key, _h in chunk]),
                    )
                )
                conn.execute(
                    insert(refused_members),
                    [
                        {
                            "export": export,
                            "address_book_id": book_id,
                            "key": key,
                            "email_hash": email_hash,
                            "run_id": run_id,
                            "refused_at": now,
                        }
                        for key, email_hash in dict(chunk).items()
                    ],
                )

    def register_refused(self, duck: duckdb.DuckDBPyConnection, export: str, book_id: int) -> None:
        """``pull_refused(key, email_hash)`` in ``duck``: the export's refused members."""
        refused = query_to_arrow(  # noqa: F841 - read by name in the SQL below
            self.engine,
            select(refused_members.c.key, refused_members.c.email_hash).where(
                refused_members.c.export == export,
                refused_members.c.address_book_id == book_id,
            ),
            pa.schema([("key", pa.string()), ("email_hash", pa.string())]),
        )
        duck.execute(f"create or replace temp table {REFUSED_TABLE} as select * from refused")

    def register_pulled(self, duck: duckdb.DuckDBPyConnection, export: str, book_id: int) -> None:
        """``pull_known(key, contact_id, email_hash)`` in ``duck``: keys earlier pulls wrote."""
        known = query_to_arrow(  # noqa: F841 - read by name in the SQL below
            self.engine,
            select(pull_keys.c.key, pull_keys.c.contact_id, pull_keys.c.email_hash).where(
                pull_keys.c.export == export, pull_keys.c.address_book_id == book_id
            ),
            pa.schema(
                [("key", pa.string()), ("contact_id", pa.int64()), ("email_hash", pa.string())]
            ),
        )
        duck.execute(f"create or replace temp table {PULLED_TABLE} as select * from known")

    # --- removal of an export -----------------------------------------------------------------

    def forget(self, conn: Connection, export: str) -> None:
        """Inside the caller's transaction (``StateStore.remove_export``)."""
        for table in (pulls, pull_cursors, refused_members, pull_keys):
            conn.execute(delete(table).where(table.c.export == export))


def _record(row: RowMapping) -> PullRecord:
    return PullRecord(
        pull_id=int(row["id"]),
        export=str(row["export"]),
        address_book_id=int(row["address_book_id"]),
        status=str(row["status"]),
        started_at=_aware(row["started_at"]) or row["started_at"],
        finished_at=_aware(row["finished_at"]),
        report=row["report"],
        error=row["error"],
    )
