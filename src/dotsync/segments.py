"""Segment definitions → SQL text returning one column ``key`` (VARCHAR) of profile keys.

Pure functions: they take the identifiers already quoted for the target dialect (DuckDB or a
SQLAlchemy database) and return SQL; the sources run it. The user's ``where`` and ``sql`` are their
own SQL, trusted like the rest of the configuration file, so they are embedded as written.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

from dotsync.config.models import SegmentConfig

Quote = Callable[[str], str]


def quote_identifier(name: str) -> str:
    """Standard SQL identifier quoting (DuckDB, PostgreSQL, SQLite)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def strip_statement(sql: str) -> str:
    """The user's SQL without trailing semicolons, so it can be nested as a subquery."""
    return sql.strip().rstrip(";").strip()


def file_relation_sql(
    path: Path,
    *,
    as_text: bool = False,
    text_columns: Collection[str] = (),
    described: Sequence[tuple[str, str]] = (),
) -> str:
    """A DuckDB FROM item reading a profile, table or membership file in place.

    CSV, typed: column types are sniffed over the whole file (``sample_size = -1``) so that segment
    predicates such as ``lifetime_value > 1000`` compare numbers.
    CSV, ``as_text``: every column as VARCHAR, exactly as written, for the mapped values, which our
    own validation then checks row by row with a reason.

    ``text_columns`` (the key columns) are read as text whatever the file's kind, so that a key is
    the text as written: a sniffed number would rewrite ``1.50`` as ``1.5`` and ``10.10`` as
    ``10.1``. ``described`` is the file's (column, type) list as DuckDB detects it, used to keep
    only the columns that exist (CSV) and to type the other columns of a JSON file as detected.
    """
    literal = quote_literal(str(path))
    suffix = path.suffix.lower()
    names = [name for name, _type in described]
    text = [name for name in dict.fromkeys(text_columns) if not names or name in names]
    if suffix in (".csv", ".tsv", ".txt"):
        # ignore_errors skips rows DuckDB cannot read (invalid UTF-8, wrong column count); the
        # DuckDB source scans the file once beforehand with store_rejects to report each of them
        # with its line number, so nothing is skipped silently.
        typing = "all_varchar = true" if as_text else "sample_size = -1"
        if text and not as_text:
            types = ", ".join(f"{quote_literal(name)}: 'VARCHAR'" for name in text)
            typing += f", types = {{{types}}}"
        return f"read_csv({literal}, header = true, {typing}, ignore_errors = true)"
    if suffix in (".parquet", ".pq"):
        # Parquet keeps its own types: a DECIMAL(10,2) key reads back as '1.50'.
        return _keys_as_text(f"read_parquet({literal})", text)
    if suffix in (".json", ".jsonl", ".ndjson"):
        if not text or not described:
            return f"read_json_auto({literal})"
        # A JSON number key read as text keeps its digits (a DOUBLE would turn 2 into '2.0' and a
        # 20-digit id into '1e+20'). JSON itself does not tell 1.50 from 1.5: write keys with
        # decimals as JSON strings to keep them exactly.
        columns = ", ".join(
            f"{quote_literal(name)}: {quote_literal('VARCHAR' if name in text else kind)}"
            for name, kind in described
        )
        return f"read_json({literal}, columns = {{{columns}}})"
    raise ValueError(f"unsupported file type {suffix!r} for {path.name}: use CSV, Parquet or JSON")


def _keys_as_text(relation: str, text_columns: Sequence[str]) -> str:
    if not text_columns:
        return relation
    casts = ", ".join(
        f"CAST({quote_identifier(name)} AS VARCHAR) AS {quote_identifier(name)}"
        for name in text_columns
    )
    return f"(SELECT * REPLACE ({casts}) FROM {relation})"


def segment_keys_sql(
    name: str,
    segment: SegmentConfig,
    *,
    profiles: str,
    key_column: str,
    membership_relation: str | None = None,
    quote: Quote = quote_identifier,
) -> str:
    """SQL returning the distinct keys (``key`` VARCHAR, not NULL) of one segment.

    ``profiles`` is the quoted profiles table; ``membership_relation`` the FROM item of a membership
    segment (a quoted table, or a DuckDB file function from :func:`file_relation_sql`).
    """
    if segment.where is not None:
        inner = (
            f"SELECT CAST(p.{quote(key_column)} AS VARCHAR) AS k FROM {profiles} AS p "
            f"WHERE ({strip_statement(segment.where)})"
        )
    elif segment.sql is not None:
        # The first column holds the keys, whatever its name: a derived-column alias list shorter
        # than the column count renames only the first (PostgreSQL and DuckDB both allow it).
        inner = (
            f"SELECT CAST(q.dotsync_key AS VARCHAR) AS k "
            f"FROM ({strip_statement(segment.sql)}) AS q(dotsync_key)"
        )
    else:
        membership = segment.membership
        assert membership is not None and membership_relation is not None
        wanted = quote_literal(membership.segment or name)
        inner = (
            f"SELECT CAST(m.{quote(membership.key_column)} AS VARCHAR) AS k "
            f"FROM {membership_relation} AS m "
            f"WHERE CAST(m.{quote(membership.segment_column)} AS VARCHAR) = {wanted}"
        )
    return f"SELECT DISTINCT k AS key FROM ({inner}) AS s WHERE k IS NOT NULL"


def memberships_sql(keys_sql: Mapping[str, str]) -> str:
    """(key, segment) pairs of every segment, each pair once."""
    parts = [
        f"SELECT key, {quote_literal(name)} AS segment FROM ({sql}) AS s{index}"
        for index, (name, sql) in enumerate(keys_sql.items())
    ]
    return "\nUNION ALL\n".join(parts)


def members_with_columns_sql(
    keys_sql: Mapping[str, str],
    *,
    profiles: str,
    key_column: str,
    columns: Sequence[str],
    quote: Quote = quote_identifier,
) -> str:
    """Rows (key, segment, src_0, src_1, ...): the members joined to their mapped columns.

    A member key missing from the profiles table still yields a row (its columns NULL), so it is
    reported (missing e-mail) instead of vanishing.
    """
    selected = ", ".join(
        f"CAST(p.{quote(column)} AS VARCHAR) AS src_{index}" for index, column in enumerate(columns)
    )
    select_list = "m.key, m.segment" + (f", {selected}" if selected else "")
    return (
        f"SELECT {select_list} FROM ({memberships_sql(keys_sql)}) AS m "
        f"LEFT JOIN {profiles} AS p ON CAST(p.{quote(key_column)} AS VARCHAR) = m.key"
    )


def segment_sizes_sql(keys_sql: Mapping[str, str]) -> str:
    """(segment, size) for each segment."""
    return (
        f"SELECT segment, count(*) AS size FROM ({memberships_sql(keys_sql)}) AS m GROUP BY segment"
    )


def segment_failure(name: str, segment: SegmentConfig, database_message: str) -> str:
    """What to tell the person when a segment's query fails: the setting and the SQL they wrote,
    and the database's reason. DuckDB and PostgreSQL quote the failing statement back ("LINE 1:"
    and a caret under the error); that statement is the query built around the user's SQL, and
    the caret points into it, so both are left out."""
    reason = " ".join(
        line.strip()
        for line in database_message.split("\nLINE ", 1)[0].splitlines()
        if line.strip() and not line.startswith("LINE ")
    )
    if segment.where is not None:
        what = f"the predicate `{strip_statement(segment.where)}` (segments.{name}.where)"
    elif segment.sql is not None:
        what = f"the query (segments.{name}.sql)"
    else:
        what = f"the membership (segments.{name}.membership)"
    return f"segment {name!r}: {what} failed: {reason}"


def probe_sql(keys_sql: str) -> str:
    """A query the database plans but returns nothing from: checks a segment's SQL cheaply."""
    return f"SELECT key FROM ({keys_sql}) AS probe WHERE 1 = 0"
