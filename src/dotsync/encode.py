"""Encode the contacts to send as v3 import bodies, in DuckDB (no per-row Python).

Each batch becomes two files in the run's scratch folder:
- ``batch-N.json``: the ``PUT /contacts/v3/import`` body, deleted once DotDigital has it (it holds
  e-mail addresses and names);
- ``batch-N.parquet``: key, e-mail hash and digest of each contact, kept until the import is
  committed so a restarted run can commit an import it did not see finish.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

# DotDigital's limit is 50 MB per import body; stay under it with room for the envelope.
MAX_BODY_BYTES = 48 * 1024 * 1024
# Bounded so that one import's status reply (ids of every contact) stays a few MB.
MAX_CONTACTS_PER_IMPORT = 250_000


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


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def contact_json_sql(fields: Sequence[str], options: EncodeOptions) -> str:
    """The SQL expression of one contact of a v3 import, from a ``members_valid`` row.

    Empty values are left out, because in v3 a ``null`` data field erases what DotDigital holds,
    unless the user asked to send them."""
    entries = ", ".join(f"{{'k': {_sql_str(f)}, 'v': \"f_{f}\"}}" for f in fields)
    if not fields:
        data_fields = "map()"
    elif options.send_empty_values:
        data_fields = f"map_from_entries([{entries}])"
    else:
        data_fields = f"map_from_entries(list_filter([{entries}], lambda e: e.v is not null))"
    parts = [
        "'matchIdentifier': 'email'",
        "'identifiers': {'email': email}",
        f"'dataFields': {data_fields}",
        f"'lists': [{int(options.address_book_id)}]",
    ]
    if options.subscription_status:
        status = _sql_str(options.subscription_status)
        parts.append(f"'channelProperties': {{'email': {{'status': {status}}}}}")
    return "to_json({" + ", ".join(parts) + "})"


def encode_batches(
    duck: duckdb.DuckDBPyConnection,
    fields: Sequence[str],
    options: EncodeOptions,
    folder: Path,
    *,
    source_table: str = "to_send",
    first_seq: int = 0,
) -> list[Batch]:
    """Split ``source_table`` into import bodies under both limits and write their files."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    duck.execute(
        f"""create or replace temp table encoded as
        select key, email_hash, digest, {contact_json_sql(fields, options)} as body
        from {source_table}"""
    )
    total = duck.execute("select count(*), coalesce(sum(length(body) + 2), 0) from encoded").fetchone()
    assert total is not None
    count, size = int(total[0]), int(total[1])
    if count == 0:
        return []
    per_batch = min(options.max_contacts, max(1, count * options.max_body_bytes // max(size, 1)))
    while True:  # rows vary in length: shrink the batch until every batch fits
        duck.execute(
            f"""create or replace temp table batched as
            select *, ((row_number() over () - 1) // {per_batch})::integer as batch from encoded"""
        )
        biggest = duck.execute(
            "select max(s) from (select sum(length(body) + 2) as s from batched group by batch)"
        ).fetchone()
        assert biggest is not None
        if int(biggest[0]) <= options.max_body_bytes or per_batch == 1:
            break
        per_batch = max(1, per_batch * 9 // 10)
    sizes = duck.execute(
        "select batch, count(*), sum(length(body) + 2) from batched group by batch order by batch"
    ).fetchall()
    envelope = json.dumps({"mergeOption": options.merge_option}).removesuffix("}")
    batches = []
    for batch_no, contacts, body_size in sizes:
        seq = first_seq + int(batch_no)
        body_file, members_file = folder / f"batch-{seq}.json", folder / f"batch-{seq}.parquet"
        raw = folder / f"batch-{seq}.lines"
        duck.execute(
            f"copy (select body from batched where batch = {int(batch_no)}) to "
            f"{_sql_str(str(raw))} (format csv, header false, quote '', escape '', delimiter '\x01')"
        )
        _wrap_lines(raw, body_file, envelope)
        tmp_members = members_file.with_suffix(".parquet.tmp")
        duck.execute(
            f"copy (select key, email_hash, digest from batched where batch = {int(batch_no)}) "
            f"to {_sql_str(str(tmp_members))} (format parquet)"
        )
        os.replace(tmp_members, members_file)  # atomic: the file exists whole or not at all
        batches.append(Batch(seq, body_file, members_file, int(contacts), body_file.stat().st_size))
    return batches


def _wrap_lines(lines_file: Path, body_file: Path, envelope: str) -> None:
    """``{"mergeOption": ..., "contacts": [line, line, ...]}`` from one JSON object per line."""
    tmp = body_file.with_suffix(".json.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out, lines_file.open("rb") as src:
        out.write(envelope.encode() + b', "contacts": [')
        first = True
        for line in src:
            if not first:
                out.write(b",")
            out.write(line.rstrip(b"\n"))
            first = False
        out.write(b"]}")
    lines_file.unlink()
    os.replace(tmp, body_file)
