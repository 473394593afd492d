"""The embedded default source: profile files (CSV, Parquet, JSON) or a .duckdb file, read in place.

Segment queries run in the per-run DuckDB itself: the profile file (and every ``[source.tables]``
file) is a view there, a .duckdb file is attached read-only and put on the search path, so segment
SQL can name its tables directly.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb

from dotsync import tables
from dotsync.config.models import SegmentConfig, SourceConfig
from dotsync.errors import SourceError
from dotsync.segments import (
    file_relation_sql,
    memberships_sql,
    probe_sql,
    quote_identifier,
    quote_literal,
    segment_failure,
    segment_keys_sql,
    segment_sizes_sql,
)
from dotsync.sources.base import (
    ChangeMarker,
    require_columns,
    require_key,
    row_version_sql,
    segment_sizes_of,
    split_kept,
)

log = logging.getLogger(__name__)

DATABASE_SUFFIXES = (".duckdb", ".ddb", ".db")
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
ATTACHED = "dotsync_source"
TEXT_VIEW = "dotsync_profiles_text"  # the profile file with every column as written
SOURCE_REJECTED = tables.SOURCE_REJECTED  # rows of the profile file DuckDB could not read


def _sql_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(quote_literal(v) for v in values) + "]"


def database_message(exc: BaseException) -> str:
    """The database's own message, first lines only (DuckDB appends long hints)."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines[:3])


class DuckDBSource:
    def __init__(self, config: SourceConfig) -> None:
        assert config.path is not None
        self._config = config
        self._path = config.path
        self._is_database = self._path.suffix.lower() in DATABASE_SUFFIXES
        for label, path in [("source.path", self._path), *self._table_files()]:
            if not path.is_file():
                # A table file `dotsync pull` writes appears with the first pull.
                hint = "" if label == "source.path" else " (if `dotsync pull` writes it, pull once)"
                raise SourceError(f"{label}: the file {path} does not exist{hint}")
        self._own = duckdb.connect()
        self._own_registered = False  # the views on _own, made when first needed
        self._described: dict[Path, list[tuple[str, str]]] = {}
        self._sniffed: dict[Path, tuple[Any, ...]] = {}
        self._columns: list[str] | None = None
        self._table = self._profile_table_name()

    # -- the ProfileSource interface ---------------------------------------------------------

    def columns(self) -> list[str]:
        """The profile table's columns, read once. A file's are read without typing it: a CSV
        typed over its whole file (for segment predicates) is parsed whole at each binding,
        about a second a million rows, while its names are in its header."""
        if self._columns is not None:
            return self._columns
        try:
            if self._is_database:
                self._registered_own()
                relation = self._profiles()
            else:
                relation = self._file_relation(self._path, [self._config.key], as_text=True)
            rows = self._own.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
        except duckdb.Error as exc:
            raise SourceError(
                f"cannot read the profiles {self._path}: {database_message(exc)}"
            ) from exc
        self._columns = [str(row[0]) for row in rows]
        return self._columns

    def load_members(
        self,
        duck: duckdb.DuckDBPyConnection,
        segments: Mapping[str, SegmentConfig],
        columns: Sequence[str],
        marker: ChangeMarker | None = None,
    ) -> dict[str, int]:
        wanted = [*columns, marker.column] if marker is not None else list(columns)
        require_columns(wanted, self.columns(), self._table, key=self._config.key)
        self._register(duck)
        keys = self._keys_sql(duck, segments)
        key = quote_identifier(self._config.key)
        version = "NULL"
        if marker is not None:
            version = row_version_sql(
                marker, f"CAST(p.{quote_identifier(marker.column)} AS VARCHAR)"
            )
        # With a marker, a CSV's scan for unreadable rows also keeps each row's key and marker
        # (_dotsync_versions): one parse of the file instead of two.
        versions = (
            f"CAST(p.{key} AS VARCHAR) AS key, {version} AS row_version"
            if marker is not None
            else None
        )
        versions_read = self._record_unreadable_rows(duck, versions)
        # Keys first (one row per member, its segments as a list), then one join to the profile
        # columns: a per-(member, segment) staging table sorted on every column cost 4x the time
        # and 6x the memory at a million profiles.
        selected = "".join(
            f", CAST(p.{quote_identifier(column)} AS VARCHAR) AS src_{index}"
            for index, column in enumerate(columns)
        )
        readable = f"key NOT IN (SELECT key FROM {SOURCE_REJECTED} WHERE key IS NOT NULL)"
        if len(keys) == 1:
            # One segment (the usual export): its list is a constant, no aggregate per key
            # (measured at 1M: 0.45 s instead of 1.4 s).
            members = (
                f"SELECT DISTINCT key, [{quote_literal(next(iter(keys)))}]::VARCHAR[] AS segments "
                f"FROM ({memberships_sql(keys)}) WHERE {readable}"
            )
        else:
            members = (
                "SELECT key, list_sort(list(DISTINCT segment)) AS segments "
                f"FROM ({memberships_sql(keys)}) WHERE {readable} GROUP BY key"
            )
        try:
            duck.execute(f"CREATE OR REPLACE TEMP TABLE member_keys AS {members}")
            # Sizes count keys, one row per member in member_keys, kept or read.
            sizes = segment_sizes_of(duck, list(segments), table="member_keys")
            if marker is None:
                split_kept(duck, None)
            else:
                # Two columns of every row (key, marker), read once (a CSV is parsed whole on
                # every scan): the members whose confirmed version is the row's now, and whose
                # key has one profile row, are kept unread.
                if not versions_read:
                    duck.execute(
                        f"CREATE OR REPLACE TEMP TABLE _dotsync_versions AS "
                        f"SELECT {versions} FROM {self._values()} p"
                    )
                duck.execute(
                    f"""CREATE OR REPLACE TEMP TABLE {tables.MEMBERS_KEPT} AS
                    SELECT m.key, m.segments FROM member_keys m
                    JOIN _dotsync_versions v ON v.key = m.key
                    JOIN {marker.known} k ON k.key = m.key
                    WHERE v.row_version = k.row_version AND m.key NOT IN (
                      SELECT key FROM _dotsync_versions GROUP BY 1 HAVING count(*) > 1)"""
                )
                duck.execute("DROP TABLE _dotsync_versions")
            duck.execute(
                f"""CREATE OR REPLACE TEMP TABLE member_keys AS SELECT * FROM member_keys
                WHERE key NOT IN (SELECT key FROM {tables.MEMBERS_KEPT})"""
            )
            # Nothing to read when every member was kept: the file is not scanned again.
            to_read = duck.execute("SELECT count(*) FROM member_keys").fetchall()[0][0]
            duck.execute(
                f"""CREATE OR REPLACE TABLE {tables.MEMBERS_RAW} AS
                SELECT m.key::VARCHAR AS key, m.segments::VARCHAR[] AS segments,
                  {version}::VARCHAR AS row_version{selected}
                FROM {self._values()} p
                RIGHT JOIN member_keys m ON CAST(p.{key} AS VARCHAR) = m.key
                {"" if to_read else "WHERE false"}"""
            )
        except duckdb.Error as exc:
            raise SourceError(
                f"reading the segments' members failed: {database_message(exc)}"
            ) from exc
        # A row that could not be read is reported once, as unreadable (above), not also as a
        # member without e-mail. Profile rows sharing a key stay one row each: validation rejects
        # them all as duplicate_key.
        duck.execute("DROP TABLE member_keys")
        duck.execute(f"ALTER TABLE {tables.MEMBERS_RAW} ALTER COLUMN key SET NOT NULL")
        return sizes

    def segment_sizes(self, segments: Mapping[str, SegmentConfig]) -> dict[str, int]:
        self._registered_own()
        keys = self._keys_sql(self._own, segments)
        sizes = dict.fromkeys(segments, 0)
        try:
            rows = self._own.execute(segment_sizes_sql(keys)).fetchall()
        except duckdb.Error as exc:
            raise SourceError(f"counting the segments failed: {database_message(exc)}") from exc
        sizes.update({str(name): int(size) for name, size in rows})
        return sizes

    def close(self) -> None:
        self._own.close()

    def fence(self, folders: Sequence[Path]) -> None:
        """From now on, SQL run here (segment counts typed in the console) reads only inside
        ``folders`` and the files of ``[source]``; no other file, no network, no extension; and
        the settings cannot be changed back. Views over the source, made before, still read."""
        files = [self._path, *(path for _label, path in self._table_files())]
        try:
            self._own.execute(
                "SET allowed_directories = "
                + _sql_list([str(folder.resolve()) + "/" for folder in folders])
            )
            self._own.execute("SET allowed_paths = " + _sql_list([str(f.resolve()) for f in files]))
            self._own.execute("SET enable_external_access = false")
            self._own.execute("SET lock_configuration = true")
        except duckdb.Error as exc:  # an older DuckDB without these settings: refuse, never run
            raise SourceError(f"cannot fence DuckDB: {database_message(exc)}") from exc

    def interrupt(self) -> None:
        """Stop the query running now (from another thread): it fails with an interruption."""
        self._own.interrupt()

    # -- helpers -------------------------------------------------------------------------------

    def _registered_own(self) -> None:
        if not self._own_registered:
            self._register(self._own)
            self._own_registered = True

    def _table_files(self) -> list[tuple[str, Path]]:
        return [(f"source.tables.{name}", path) for name, path in self._config.tables.items()]

    def _profile_table_name(self) -> str:
        if not self._is_database:
            return self._config.table or "profiles"
        if self._config.table is not None:
            return self._config.table
        self._own.execute(f"ATTACH {quote_literal(str(self._path))} AS {ATTACHED} (READ_ONLY)")
        tables = [
            str(row[0])
            for row in self._own.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [ATTACHED]
            ).fetchall()
        ]
        self._own.execute(f"DETACH {ATTACHED}")
        if len(tables) != 1:
            raise SourceError(
                f"source.table: {self._path} holds {len(tables)} tables ({', '.join(tables)}); "
                "name the profiles table with `table = ...` under [source]"
            )
        return tables[0]

    def _profiles(self) -> str:
        if self._is_database:
            return f"{ATTACHED}.{quote_identifier(self._table)}"
        return quote_identifier(self._table)

    def _values(self) -> str:
        """Where mapped values are read: as written, for CSV (see ``file_relation_sql``)."""
        return self._profiles() if self._is_database else TEXT_VIEW

    def _file_relation(
        self, path: Path, text_columns: Sequence[str], *, as_text: bool = False
    ) -> str:
        """The file as a FROM item, its ``text_columns`` (keys) read as written."""
        if path not in self._described:
            # The all-text read sniffs a sample only: this costs no full scan of a large CSV.
            rows = self._own.execute(
                f"DESCRIBE SELECT * FROM {file_relation_sql(path, as_text=True)}"
            ).fetchall()
            self._described[path] = [(str(row[0]), str(row[1])) for row in rows]
        if not as_text and path.suffix.lower() in CSV_SUFFIXES:
            return self._typed_csv(path, text_columns)
        return file_relation_sql(
            path, as_text=as_text, text_columns=text_columns, described=self._described[path]
        )

    def _typed_csv(self, path: Path, text_columns: Sequence[str]) -> str:
        """A CSV typed from its whole file, as ``read_csv(sample_size = -1)`` types it, with what
        DuckDB's sniffer found spelled out (dialect, column types, date formats): the file is
        sniffed once a run, not again at each binding of a query over it (a full parse, about a
        second a million rows; a refresh bound it three times). Keys are read as written."""
        if path not in self._sniffed:
            row = self._own.execute(
                "SELECT Delimiter, Quote, Escape, NewLineDelimiter, Comment, SkipRows, HasHeader, "
                "Columns, DateFormat, TimestampFormat "
                "FROM sniff_csv(?, sample_size = -1, ignore_errors = true)",
                [str(path)],
            ).fetchone()
            assert row is not None
            self._sniffed[path] = row
        delim, quote, escape, new_line, comment, skip, header, columns, dates, stamps = (
            self._sniffed[path]
        )

        def option(value: object) -> str:
            return quote_literal("" if value in (None, "(empty)") else str(value))

        types = ", ".join(
            f"{quote_literal(str(c['name']))}: "
            f"{quote_literal('VARCHAR' if c['name'] in text_columns else str(c['type']))}"
            for c in columns
        )
        options = [
            "auto_detect = false",
            f"delim = {option(delim)}",
            f"quote = {option(quote)}",
            f"escape = {option(escape)}",
            f"new_line = {option(new_line)}",
            f"comment = {option(comment)}",
            f"skip = {int(skip)}",
            f"header = {'true' if header else 'false'}",
            f"columns = {{{types}}}",
            "ignore_errors = true",
        ]
        if dates:
            options.append(f"dateformat = {option(dates)}")
        if stamps:
            options.append(f"timestampformat = {option(stamps)}")
        return f"read_csv({quote_literal(str(path))}, {', '.join(options)})"

    def _register(self, con: duckdb.DuckDBPyConnection) -> None:
        try:
            if self._is_database:
                attached = con.execute(
                    "SELECT count(*) FROM duckdb_databases() WHERE database_name = ?", [ATTACHED]
                ).fetchone()
                if not attached or not attached[0]:
                    con.execute(
                        f"ATTACH {quote_literal(str(self._path))} AS {ATTACHED} (READ_ONLY)"
                    )
                # Unqualified names in segment SQL find the attached tables; new tables
                # (members_raw)
                # still go to the run's own database, which stays first.
                current = con.execute("SELECT current_database()").fetchone()
                assert current is not None
                con.execute(
                    f"SET search_path = {quote_literal(f'{current[0]}.main,{ATTACHED}.main')}"
                )
            else:
                key = [self._config.key]
                con.execute(
                    f"CREATE OR REPLACE VIEW {quote_identifier(self._table)} AS "
                    f"SELECT * FROM {self._file_relation(self._path, key)}"
                )
                con.execute(
                    f"CREATE OR REPLACE VIEW {TEXT_VIEW} AS "
                    f"SELECT * FROM {self._file_relation(self._path, key, as_text=True)}"
                )
            # A column of a table file named like the key is a key too: read as text, so that
            # segment SQL joining it to the profiles compares the keys as written, not as numbers.
            for name, path in self._config.tables.items():
                con.execute(
                    f"CREATE OR REPLACE VIEW {quote_identifier(name)} AS "
                    f"SELECT * FROM {self._file_relation(path, [self._config.key])}"
                )
        except (duckdb.Error, ValueError) as exc:
            raise SourceError(
                f"cannot open the source {self._path}: {database_message(exc)}"
            ) from exc

    def _keys_sql(
        self, con: duckdb.DuckDBPyConnection, segments: Mapping[str, SegmentConfig]
    ) -> dict[str, str]:
        """Each segment's key query, each checked on its own so an error names its segment."""
        require_key(self._config.key, self.columns(), self._table)
        keys: dict[str, str] = {}
        for name, segment in segments.items():
            try:
                relation = self._membership_relation(name, segment)
            except (duckdb.Error, ValueError) as exc:
                raise SourceError(
                    f"segments.{name}.membership: cannot read it: {database_message(exc)}"
                ) from exc
            sql = segment_keys_sql(
                name,
                segment,
                profiles=self._profiles(),
                key_column=self._config.key,
                membership_relation=relation,
            )
            try:
                con.execute(probe_sql(sql)).fetchall()
            except (duckdb.Error, ValueError) as exc:
                raise SourceError(segment_failure(name, segment, str(exc))) from exc
            keys[name] = sql
        return keys

    def _membership_relation(self, name: str, segment: SegmentConfig) -> str | None:
        """The FROM item of a membership segment, its key and segment columns read as text."""
        member = segment.membership
        if member is None:
            return None
        membership_columns = [member.key_column, member.segment_column]
        if member.path is not None:
            if not member.path.is_file():
                raise SourceError(
                    f"segments.{name}.membership.path: the file {member.path} does not exist"
                )
            return self._file_relation(member.path, membership_columns)
        if member.table in self._config.tables:
            # Read again with its key and segment columns as text, whatever their names.
            return self._file_relation(self._config.tables[member.table], membership_columns)
        return quote_identifier(member.table or "")

    def _record_unreadable_rows(
        self, duck: duckdb.DuckDBPyConnection, versions: str | None = None
    ) -> bool:
        """Report CSV rows DuckDB cannot read (e.g. non-UTF-8 bytes) instead of crashing.

        Chosen over decoding with replacement characters, which would send corrupted names to
        DotDigital without anyone noticing: each such row is rejected with its line number (and its
        key when the line still parses), the others go on. ``mapping.validate`` adds these rows to
        ``members_rejected`` as ``unreadable_row``.
        """
        duck.execute(
            f"CREATE OR REPLACE TABLE {SOURCE_REJECTED} "
            "(key VARCHAR, reason VARCHAR, field VARCHAR, detail VARCHAR)"
        )
        if self._path.suffix.lower() not in CSV_SUFFIXES:
            return False
        read = f"""read_csv({quote_literal(str(self._path))},
            header = true, all_varchar = true, store_rejects = true) p"""
        # Every column is hashed so that DuckDB decodes (and checks) every value: a bare
        # count(*) would skip the decoding and find nothing.
        if versions is None:
            duck.execute(f"SELECT count(*), max(hash(COLUMNS(*))) FROM {read}").fetchall()
        else:  # the same rows the text view reads (store_rejects skips the unreadable ones)
            duck.execute(
                "CREATE OR REPLACE TEMP TABLE _dotsync_versions AS "
                f"SELECT {versions}, hash(*COLUMNS(*)) AS decoded FROM {read}"
            )
        rejects = duck.execute(
            "SELECT line, error_type, error_message, csv_line FROM reject_errors "
            "WHERE scan_id = (SELECT max(scan_id) FROM reject_errors) ORDER BY line"
        ).fetchall()
        if not rejects:
            return versions is not None
        key_index = self.columns().index(self._config.key)
        rows = [
            (
                _key_from_line(str(csv_line or ""), key_index),
                "unreadable_row",
                None,
                f"line {line} of {self._path.name}: {_short_reason(str(error_type), str(message))}",
            )
            for line, error_type, message, csv_line in rejects
        ]
        duck.executemany(f"INSERT INTO {SOURCE_REJECTED} VALUES (?, ?, ?, ?)", rows)
        log.warning("%d row(s) of %s could not be read and were rejected", len(rows), self._path)
        return versions is not None


def _short_reason(error_type: str, message: str) -> str:
    if error_type.upper() == "INVALID ENCODING":
        return "bytes that are not UTF-8 text; save the file as UTF-8"
    return message.splitlines()[0] if message else error_type.lower()


def _key_from_line(line: str, key_index: int) -> str | None:
    # A file with CRLF line ends gives the rejected line with the "\n" of the line before it in
    # front (and may keep its "\r"): without them the line is one CSV record again.
    try:
        fields = next(csv.reader([line.strip("\r\n")]))
    except (csv.Error, StopIteration):
        return None
    key = fields[key_index] if key_index < len(fields) else ""
    return key or None
