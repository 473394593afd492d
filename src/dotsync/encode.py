"""Encode the contacts to send as v3 import bodies, in DuckDB (no per-row Python).

Each batch becomes two files in the run's scratch folder:
- ``batch-N.json``: the ``PUT /contacts/v3/import`` body, deleted once DotDigital has it (it holds
  e-mail addresses and names);
- ``batch-N.parquet``: key, e-mail hash, digest (and row version, when the rows carry one) of
  each contact, kept until the import is committed so a restarted run can commit an import it
  did not see finish.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dotsync import tables
from dotsync.identity import quote_literal

# DotDigital's limit is 50 MB per import body; stay under it with room for the envelope.
MAX_BODY_BYTES = 48 * 1024 * 1024
# Bounded so that one import's status reply (ids of every contact) stays a few MB: read into
# Python, a 250k-contact reply pushed a 1M export's peak memory from ~510 MB to ~590 MB.
MAX_CONTACTS_PER_IMPORT = 100_000


@dataclass(frozen=True)
class EncodeOptions:
    address_book_id: int
    merge_option: str = "overwrite"
    send_empty_values: bool = False
    subscription_status: str | None = None  # never sent unless the user asked
    max_body_bytes: int = MAX_BODY_BYTES
    max_contacts: int = MAX_CONTACTS_PER_IMPORT


@dataclass(frozen=True)
class Batch:
    seq: int
    body_file: Path
    members_file: Path
    contacts: int
    size: int


def contact_json_sql(fields: Sequence[str], options: EncodeOptions) -> str:
    """One v3 import contact as JSON text, from a ``members_valid`` row:
    ``{"matchIdentifier":"email","identifiers":{"email":...},"dataFields":{...},"lists":[...]}``.
    Built as text around ``to_json`` of each value (which escapes it): a third of the CPU of
    DuckDB's JSON writer over a map per row (measured, same objects).

    Empty values are left out, because in v3 a ``null`` data field erases what DotDigital holds,
    unless the user asked to send them."""
    entries = []
    for name in fields:
        key = quote_literal(json.dumps(name) + ":")
        value = f'to_json("f_{name}")'
        if options.send_empty_values:
            entries.append(f"{key} || coalesce({value}, 'null')")
        else:
            entries.append(f'CASE WHEN "f_{name}" IS NOT NULL THEN {key} || {value} END')
    data_fields = f"concat_ws(',', {', '.join(entries)})" if entries else "''"
    tail = f',"lists":[{int(options.address_book_id)}]'
    if options.subscription_status:
        channel = {"email": {"status": options.subscription_status}}
        tail += ',"channelProperties":' + json.dumps(channel, separators=(",", ":"))
    return (
        """'{"matchIdentifier":"email","identifiers":{"email":' || to_json(email) || """
        f"""'}},"dataFields":{{' || {data_fields} || {quote_literal("}" + tail + "}")}"""
    )


def _estimate_sql(fields: Sequence[str]) -> str:
    """Bytes of one encoded contact, estimated without encoding it (JSON punctuation per field
    plus the values); every body is measured after writing and split if the estimate was low."""
    values = " + ".join([f'coalesce(strlen("f_{f}"), 0) + {len(f) + 8}' for f in fields] or ["0"])
    return f"(strlen(email) + {values} + 96)"


def encode_batches(
    duck: duckdb.DuckDBPyConnection,
    fields: Sequence[str],
    options: EncodeOptions,
    folder: Path,
    *,
    source_table: tables.RunTable = tables.TO_SEND,
    first_seq: int = 0,
) -> list[Batch]:
    """Split ``source_table`` into import bodies under both limits and write their files."""
    return list(iter_batches(duck, fields, options, folder, source_table=source_table,
                             first_seq=first_seq))  # fmt: skip


def iter_batches(
    duck: duckdb.DuckDBPyConnection,
    fields: Sequence[str],
    options: EncodeOptions,
    folder: Path,
    *,
    source_table: tables.RunTable = tables.TO_SEND,
    first_seq: int = 0,
) -> Iterator[Batch]:
    """The batches of :func:`encode_batches`, each written when it is asked for: the delivery
    sends batch n while batch n+1 is encoded (DotDigital processes n meanwhile). The caller may
    use ``duck`` between batches, but not change ``source_table``."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    total = duck.execute(
        f"select count(*), coalesce(sum({_estimate_sql(fields)}), 0) from {source_table}"
    ).fetchone()
    assert total is not None
    count, estimate = int(total[0]), int(total[1])
    if count == 0:
        return
    budget = options.max_body_bytes * 9 // 10  # room for what the estimate misses (escapes)
    per_batch = max(1, min(options.max_contacts, count * budget // max(estimate, 1)))
    # Batches are ranges of the table's own row ids (no copy of a million rows to number them):
    # the id of every per_batch-th row starts one. Deleted rows (held back) leave gaps, which
    # only make a batch smaller.
    starts = [
        int(row[0])
        for row in duck.execute(
            f"""select rowid from (select rowid, row_number() over (order by rowid) - 1 as n
            from {source_table}) where n % {per_batch} = 0 order by rowid"""
        ).fetchall()
    ]
    end_row = duck.execute(f"select max(rowid) + 1 from {source_table}").fetchone()
    assert end_row is not None
    ranges = list(zip(starts, [*starts[1:], int(end_row[0])], strict=True))
    described = duck.execute(f"describe {source_table}").fetchall()
    version = ", row_version" if any(r[0] == "row_version" for r in described) else ""
    envelope = json.dumps({"mergeOption": options.merge_option}).removesuffix("}")
    contact = contact_json_sql(fields, options)
    seq = first_seq
    while ranges:
        lo, hi = ranges.pop(0)
        rows = f"from {source_table} where rowid >= {lo} and rowid < {hi}"
        body_file = _write_body(duck, folder / f"batch-{seq}.json", envelope, contact, rows)
        size = body_file.stat().st_size
        if size > options.max_body_bytes and hi - lo > 1:
            body_file.unlink()
            mid = (lo + hi) // 2
            ranges[:0] = [(lo, mid), (mid, hi)]  # too big after all: halve it, keep the order
            continue
        members_file = folder / f"batch-{seq}.parquet"
        tmp_members = members_file.with_suffix(".parquet.tmp")
        written = duck.execute(
            f"copy (select key, email_hash, digest{version} {rows}) "
            f"to {quote_literal(str(tmp_members))} (format parquet)"
        ).fetchall()
        tmp_members.replace(members_file)  # atomic: the file exists whole or not at all
        contacts = int(written[0][0]) if written else 0
        if contacts == 0:  # a range of deleted rows only
            body_file.unlink()
            members_file.unlink()
            continue
        seq += 1
        yield Batch(seq - 1, body_file, members_file, contacts, size)


def _write_body(
    duck: duckdb.DuckDBPyConnection, body_file: Path, envelope: str, contact: str, rows: str
) -> Path:
    """``{"mergeOption": ..., "contacts": [...]}`` for ``rows`` (a FROM and WHERE clause): DuckDB
    writes one contact's JSON a line (no quoting: ``to_json`` leaves no line end, quote or
    control character unescaped), and the lines are joined by commas into the array on the way
    to the body. Private (0600) from the first byte."""
    lines = body_file.with_suffix(".lines")
    tmp = body_file.with_suffix(".json.tmp")
    for path in (lines, tmp):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    written = duck.execute(
        f"copy (select {contact} {rows}) to {quote_literal(str(lines))} "
        "(format csv, header false, quote '', escape '', delimiter '\x01')"
    ).fetchall()
    with tmp.open("wb") as out, lines.open("rb") as src:
        out.write(envelope.encode() + b', "contacts": [')
        while chunk := src.read(1024 * 1024):
            out.write(chunk.replace(b"\n", b","))
        if written and written[0][0]:
            out.seek(-1, os.SEEK_END)  # the comma after the last contact
            out.truncate()
        out.write(b"]}")
    lines.unlink()
    tmp.chmod(0o600)
    tmp.replace(body_file)
    return body_file
