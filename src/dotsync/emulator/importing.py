"""Pure parsing of import files: a v2 CSV becomes rows to apply and rows refused (v3 JSON bodies:
``v3body.py`` and ``v3rows.py``), and the types both share.

Per-row Python is the hot path of a 500k-contact import, so rows are plain tuples and every
column's parser is chosen once. What happens to the accepted rows (suppression, create or update,
membership) is decided in SQL by ``apply.py``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from dotsync.emulator.values import (
    MAX_STRING,
    PARSERS,
    StoredValue,
    ValueRejectedError,
    is_valid_email,
    numeric_json,
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
V3_COLUMNS = ("seq", "email", "fields", "lists", "channel")


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
    # The distinct ``lists`` texts of the good rows (v3), filled with ``bad``; None: unknown.
    # One text for every row (a bulk export into one book) lets membership skip ``json_each``.
    lists: set[str] | None = None

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
    mapped = [
        (i, name.strip().upper())
        for i, name in enumerate(header)
        if i != email_at and name.strip().upper() in field_types
    ]
    parsed = ParsedImport(
        iter(()),
        True,
        [h for i, h in enumerate(header) if i != email_at],
        [(name, field_types[name]) for _, name in mapped],
        lists=set(),  # v2 rows name no lists: the book is the URL's
    )
    parsed.good = _csv_rows(reader, email_at, mapped, field_types, parsed.bad)
    return parsed


def _csv_rows(
    reader: Iterator[list[str]],
    email_at: int,
    mapped: list[tuple[int, str]],
    field_types: dict[str, str],
    bad: list[BadRow],
) -> Iterator[GoodRow]:
    typed = [
        (k, _numeric_text if field_types[name] == "Numeric" else PARSERS[field_types[name]])
        for k, (_, name) in enumerate(mapped)
        if field_types[name] != "String"
    ]
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


def _numeric_text(raw: object) -> StoredValue:
    """Numeric cells are staged as JSON number text (see ``values.numeric_json``)."""
    return numeric_json(PARSERS["Numeric"](raw))


def csv_rows(payload: bytes) -> Iterator[tuple[int, list[str]]]:
    """The data rows of a v2 file again, numbered as ``parse_csv`` numbers them, to list
    suppressed contacts in report-faults."""
    reader = csv.reader(io.StringIO(decode_csv(payload)))
    next(reader, None)
    yield from enumerate(reader)
