"""Pure parsing of import files: a v2 CSV or a v3 JSON body becomes rows to apply and rows refused.

Per-row Python is the hot path of a 500k-contact import, so rows are plain tuples and every
column's parser is chosen once. What happens to the accepted rows (suppression, create or update,
membership) is decided in SQL by ``apply.py``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from dotsync.emulator.values import (
    EMAIL_TYPES,
    MAX_STRING,
    OPT_IN_TYPES,
    PARSERS,
    ValueRejectedError,
    canonical_enum,
    is_valid_email,
)

# Merge options, by the names of both APIs, to ours: what happens to a stored value.
MERGE_OPTIONS = {
    "overwrite": "overwrite",  # v2 Overwrite / v3 overwrite: empty or null values clear
    "onlyoverwriteifnotempty": "ifNotEmpty",
    "overwriteifnotempty": "ifNotEmpty",
    "onlyoverwriteifcontactdatanotpopulated": "ifEmpty",
    "overwriteifempty": "ifEmpty",
}

# A staged row, in the order of ``ParsedImport.stage_columns``: v2 rows are (seq, email, *values
# of the file's mapped columns), leaving the fields' JSON to SQL; v3 rows carry their own JSON.
GoodRow = tuple[Any, ...]
V3_COLUMNS = ("seq", "email", "fields", "opt_in", "email_type", "vstatus", "lists")


@dataclass(frozen=True)
class BadRow:
    seq: int
    kind: str  # invalid | duplicate | failure
    email: str  # as given
    detail: str
    cells: tuple[str, ...] = ()  # v2: the file's other columns, for report-faults
    code: str = ""  # v3 failureCode


@dataclass
class ParsedImport:
    """``good`` is a generator: it fills ``bad`` as it is consumed (once, by the staging)."""

    good: Iterator[GoodRow]
    from_csv: bool = False
    columns: list[str] = field(default_factory=list)  # v2: headers other than Email
    mapped: list[tuple[str, str]] = field(default_factory=list)  # v2: (field, type) staged
    bad: list[BadRow] = field(default_factory=list)

    @property
    def stage_columns(self) -> tuple[str, ...]:
        if not self.from_csv:
            return V3_COLUMNS
        return ("seq", "email", *(f"c{k}" for k in range(len(self.mapped))))


class InvalidFileError(ValueError):
    """The file cannot be read at all: the import ends ``InvalidFileFormat``."""


def decode_csv(payload: bytes) -> str:
    try:
        return payload.decode("utf-8-sig")
    except UnicodeDecodeError:
        # DotDigital accepts Windows-1252 exports from Excel; latin-1 decodes any byte.
        return payload.decode("latin-1")


def csv_header(payload: bytes) -> list[str]:
    first = decode_csv(payload[:65536]).splitlines()[:1]
    return next(csv.reader(first), []) if first else []


def email_column(header: list[str]) -> int | None:
    for index, name in enumerate(header):
        if name.strip().lower() == "email":
            return index
    return None


def parse_csv(payload: bytes, field_types: dict[str, str]) -> ParsedImport:
    """Columns other than Email map to data fields by name, case-insensitively; a column that
    names no data field is ignored (DotDigital's API import leaves unmapped columns out:
    inferred). Cells are staged as they are (empty = NULL); typed fields are parsed here, and
    string fields only checked for length, the JSON being built in SQL."""
    reader = csv.reader(io.StringIO(decode_csv(payload)))
    header = next(reader, None)
    if header is None or (email_at := email_column(header)) is None:
        raise InvalidFileError("no Email column")
    mapped = [(i, name.strip().upper()) for i, name in enumerate(header)
              if i != email_at and name.strip().upper() in field_types]
    parsed = ParsedImport(iter(()), True, [h for i, h in enumerate(header) if i != email_at],
                          [(name, field_types[name]) for _, name in mapped])
    parsed.good = _csv_rows(reader, email_at, mapped, field_types, parsed.bad)
    return parsed


def _csv_rows(reader: Iterator[list[str]], email_at: int, mapped: list[tuple[int, str]],
              field_types: dict[str, str], bad: list[BadRow]) -> Iterator[GoodRow]:
    typed = [(k, PARSERS[field_types[name]]) for k, (_, name) in enumerate(mapped)
             if field_types[name] != "String"]
    indexes = [i for i, _ in mapped]
    width = max([email_at, *indexes]) + 1
    seen: set[str] = set()
    for seq, cells in enumerate(reader):
        if not cells:
            continue
        if len(cells) < width:
            cells = cells + [""] * (width - len(cells))
        raw = cells[email_at]
        email = raw.strip().lower()
        kind = detail = ""
        values: list[Any] = [cells[i] or None for i in indexes]
        if not is_valid_email(email):
            kind, detail = "invalid", "Invalid Email"
        elif email in seen:
            kind, detail = "duplicate", "Duplicate"
        else:
            seen.add(email)
            try:
                for k, parse in typed:
                    if values[k] is not None:
                        values[k] = parse(values[k])
            except ValueRejectedError as exc:
                kind, detail = "failure", exc.sentence
            else:
                if any(type(v) is str and len(v) > MAX_STRING for v in values):
                    kind, detail = "failure", "Data field value is too long"
        if kind:
            others = tuple(c for i, c in enumerate(cells) if i != email_at)
            bad.append(BadRow(seq, kind, raw, detail, others))
        else:
            yield (seq, email, *values)


def _get(obj: Any, name: str) -> Any:
    """``obj[name]`` matched case-insensitively, the documented camelCase spelling first (the
    fast path: this runs several times per contact of a 250k-contact body)."""
    if not isinstance(obj, dict):
        return None
    if name in obj:
        return obj[name]
    lowered = name.lower()
    return next((v for k, v in obj.items() if str(k).lower() == lowered), None)


def parse_v3(body: dict[str, Any], field_types: dict[str, str], merge: str) -> ParsedImport:
    parsed = ParsedImport(iter(()))
    parsed.good = _v3_rows(body, field_types, merge, parsed.bad)
    return parsed


def _v3_rows(body: dict[str, Any], field_types: dict[str, str], merge: str,
             bad: list[BadRow]) -> Iterator[GoodRow]:
    """v3 contacts. ``dataFields`` is an object whose keys match field names case-insensitively
    (``firstName`` is FIRSTNAME); null clears a value under overwrite. A contact with an
    unknown field or a bad value fails whole (the v3 document lets part of a contact through;
    failing it whole keeps what was stored unambiguous: our choice)."""
    keep_null = merge == "overwrite"
    seen: set[str] = set()
    for seq, contact in enumerate(body.get("contacts") or []):
        raw = str(_get(_get(contact, "identifiers"), "email") or "")
        email = raw.strip().lower()
        if not is_valid_email(email):
            bad.append(BadRow(seq, "invalid", raw, "Invalid value for 'email'"))
            continue
        if email in seen:
            bad.append(BadRow(seq, "duplicate", raw,
                                     f"Duplicate identifier detected for email '{raw}'"))
            continue
        seen.add(email)
        try:
            given = _get(contact, "dataFields")
            values = _v3_fields(given if isinstance(given, dict) else {}, field_types, keep_null)
            channel = _get(_get(contact, "channelProperties"), "email")
            opt_in, email_type = _get(channel, "optInType"), _get(channel, "emailType")
            status = _get(channel, "status")
            lists = _get(contact, "lists") or []
            row: GoodRow = (
                seq, email, json.dumps(values),
                None if opt_in is None else canonical_enum(opt_in, OPT_IN_TYPES, "Unknown"),
                None if email_type is None else canonical_enum(email_type, EMAIL_TYPES, "Html"),
                None if status is None else str(status).lower(),
                "[" + ",".join(str(int(i)) for i in lists) + "]",
            )
        except ValueRejectedError as exc:
            # Failure codes beyond the v3 document's examples are ours (assumption).
            code = exc.code if exc.code == "dataFieldNotFound" else "invalidDataField"
            bad.append(BadRow(seq, "failure", raw, exc.sentence, code=code))
            continue
        yield row


def _v3_fields(given: dict[str, Any], field_types: dict[str, str],
               keep_null: bool) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, raw in given.items():
        name = key.upper()
        if name not in field_types:
            raise ValueRejectedError("dataFieldNotFound", f"Data field '{key}' does not exist")
        if raw is None or raw == "":
            if keep_null:
                values[name] = None
            continue
        values[name] = PARSERS[field_types[name]](raw)
    return values


def csv_rows(payload: bytes) -> Iterator[tuple[int, list[str]]]:
    """The data rows of a v2 file again, numbered as ``parse_csv`` numbers them, to list
    suppressed contacts in report-faults."""
    reader = csv.reader(io.StringIO(decode_csv(payload)))
    next(reader, None)
    yield from enumerate(reader)
