"""The v3 import body (``{"mergeOption": ..., "contacts": [...]}``): checked when it is submitted,
turned into rows to stage when the worker processes it. Pure: no store, no network.

Why not ``json.loads`` on the whole body: a 45 MB body of 200k contacts becomes ~1 GB of Python
objects (and the cyclic GC walks them all, more than doubling the parse time). So:

- at submission, the JSON is validated by SQLite's C parser on a private connection (the GIL is
  released meanwhile, so the worker keeps going), the envelope read from its top-level keys, and
  the list ids found with a regex over the raw bytes when that is provably exact (see
  ``_list_ids_fast``); an unusual body falls back to a full parse, as before;
- in the worker, contacts are decoded one at a time from the text (``iter_contacts``) and each
  becomes a staged row at once, so only the text and one batch of rows are ever held.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from typing import Any

from dotsync.emulator.errors import V3Error
from dotsync.emulator.importing import MERGE_OPTIONS, BadRow, GoodRow, ParsedImport
from dotsync.emulator.v3rows import v3_rows

_BAD_JSON = ("contacts:badJson", "The request JSON is badly formed")
_SPACE = " \t\n\r"
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
# Keys named contacts or lists, in any case, as they appear in a body without backslashes:
# searched in the body lower-cased (ASCII only, so at the same places), where the literal
# prefix makes the search three times faster than a pattern of [cC][oO]... over the body.
_CONTACTS_KEY = re.compile(rb'"contacts"\s*:\s*(\[\s*\])?')
_LISTS_KEY = re.compile(rb'"lists"\s*:\s*\[([^\]]*)\]')


@dataclass(frozen=True)
class Envelope:
    merge: str  # ours, from MERGE_OPTIONS
    list_ids: frozenset[int]  # every list the contacts name


class RepeatedContactsError(ValueError):
    """The body names ``contacts`` twice: the last one wins, which streaming cannot know."""


def decode_body(payload: bytes) -> str:
    """The body as text, as ``json.loads`` would decode bytes (UTF-8, -16 or -32)."""
    return payload.decode(json.detect_encoding(payload), "surrogatepass")


def read_envelope(payload: bytes) -> Envelope:
    """Check a submitted body; ``V3Error`` 400 when DotDigital would refuse it at once."""
    try:
        top = _top_level(decode_body(payload))
    except (ValueError, sqlite3.Error) as exc:  # UnicodeDecodeError is a ValueError
        raise V3Error(400, *_BAD_JSON) from exc
    keys = [key for key, _ in top]
    contacts_keys = [k for k in keys if k.lower() == "contacts"]
    lowered = {key.lower(): value for key, value in top}
    if b"\\" in payload or len(contacts_keys) != 1 or lowered["contacts"] is not _ARRAY:
        return _envelope_by_full_parse(payload)  # unusual: the exact, slower way
    folded = payload.lower()
    found = _CONTACTS_KEY.findall(folded)
    if len(found) != 1:  # a data field or identifier named contacts: be exact
        return _envelope_by_full_parse(payload)
    if found[0]:  # "contacts": []
        raise V3Error(400, "contacts:noContactsSpecified", "You must specify 1 or more contacts")
    list_ids = _list_ids_fast(folded)
    if list_ids is None:
        return _envelope_by_full_parse(payload)
    return Envelope(_merge_option(lowered), list_ids)


_ARRAY = object()  # stands for the contacts array, never materialised at submission


def _top_level(text: str) -> list[tuple[str, Any]]:
    """(key, value) of the top-level object, in order, validating the whole text on the way."""
    if "\x00" in text:  # SQLite's parser would stop there; no JSON text holds a raw NUL
        raise ValueError("NUL in the body")
    conn = sqlite3.connect(":memory:")
    try:
        # Values are computed lazily: the contacts array is never serialised again. A top-level
        # array or scalar yields rows without a text key: no envelope at all.
        rows = conn.execute(
            "SELECT key, type, CASE WHEN typeof(key) <> 'text' OR lower(key) = 'contacts' "
            "THEN NULL ELSE value END FROM json_each(?1)",
            (text,),
        ).fetchall()
    finally:
        conn.close()
    # contacts: the array stands as _ARRAY; any other value as None (refused later either way).
    return [
        (
            key,
            (_ARRAY if kind == "array" else None)
            if key.lower() == "contacts"
            else _python_value(kind, value),
        )
        for key, kind, value in rows
        if isinstance(key, str)
    ]


def _python_value(kind: str, value: Any) -> Any:
    if kind in ("true", "false"):
        return kind == "true"
    if kind in ("array", "object"):
        return json.loads(value)
    return value  # text, integer, real, null


def _merge_option(lowered: dict[str, Any]) -> str:
    """As the old whole-body parse read it: falsy means overwrite; v3 spells no 'only...'."""
    merge = MERGE_OPTIONS.get(str(lowered.get("mergeoption") or "overwrite").lower())
    if merge is None or str(lowered.get("mergeoption", "overwrite")).lower().startswith("only"):
        raise V3Error(400, "contacts:badJson", "mergeOption is not valid")
    return merge


def _list_ids_fast(lowered: bytes) -> frozenset[int] | None:
    """Every ``"lists": [...]`` of a body without backslashes, lower-cased (which changes no
    integer of a valid body: its literals are lower-case already). Without escapes, a quote in the
    raw text always opens or closes a string, so each match is a real key named lists (at any
    depth: nested ones are checked too, a superset, assumption). An array holding a ``]`` in a
    string or a nested array does not decode from the match: None, the caller parses fully."""
    ids: set[int] = set()
    for inner in set(_LISTS_KEY.findall(lowered)):
        try:
            values = json.loads(b"[" + inner + b"]")
        except ValueError:
            return None
        ids.update(int(i) for i in values if isinstance(i, int))  # True counts as 1, as before
    return frozenset(ids)


def _envelope_by_full_parse(payload: bytes) -> Envelope:
    try:
        body = json.loads(payload)
    except ValueError as exc:
        raise V3Error(400, *_BAD_JSON) from exc
    lowered = {str(k).lower(): v for k, v in body.items()} if isinstance(body, dict) else {}
    contacts = lowered.get("contacts")
    if not isinstance(contacts, list) or not contacts:
        raise V3Error(400, "contacts:noContactsSpecified", "You must specify 1 or more contacts")
    list_ids = frozenset(
        int(i)
        for c in contacts
        if isinstance(c, dict)
        for k, v in c.items()
        if k.lower() == "lists" and isinstance(v, list)
        for i in v
        if isinstance(i, int)
    )
    return Envelope(_merge_option(lowered), list_ids)


def iter_contacts(text: str) -> Generator[Any, None, None]:
    """The contacts of a body validated at submission, decoded one at a time. Raises
    ``RepeatedContactsError`` at the end if a second ``contacts`` key follows the first."""
    decode = _DECODER.raw_decode
    pos = _skip(text, 0)
    if text[pos : pos + 1] != "{":
        return
    pos = _skip(text, pos + 1)
    found = False
    while text[pos] != "}":
        key, pos = decode(text, pos)
        pos = _skip(text, _skip(text, pos) + 1)  # past the colon
        if str(key).lower() != "contacts":
            pos = decode(text, pos)[1]
        elif found:
            raise RepeatedContactsError(key)
        else:
            found = True
            if text[pos] == "[":
                pos = yield from _elements(text, pos)
            else:
                pos = decode(text, pos)[1]  # not an array: nothing to import
        pos = _skip(text, pos)
        if text[pos] == ",":
            pos = _skip(text, pos + 1)


def _elements(text: str, pos: int) -> Generator[Any, None, int]:
    """Elements of the array opening at ``pos``; returns the position after its ``]``."""
    decode = _DECODER.raw_decode
    pos = _skip(text, pos + 1)
    if text[pos] == "]":
        return pos + 1
    while True:
        item, pos = decode(text, pos)
        yield item
        if text[pos] in _SPACE:  # the regex only when needed: compact bodies have none
            pos = _skip(text, pos)
        if text[pos] == "]":
            return pos + 1
        if text[pos] != ",":
            raise ValueError(f"',' or ']' expected at {pos}")
        pos += 1
        if text[pos] in _SPACE:
            pos = _skip(text, pos)


def _skip(text: str, pos: int) -> int:
    """The position of the next character that is not JSON whitespace."""
    space = _WS.match(text, pos)
    return space.end() if space is not None else pos


def parse_v3(body: dict[str, Any] | str, field_types: dict[str, str], merge: str) -> ParsedImport:
    """A body as text (streamed) or already parsed (``{"contacts": [...]}``)."""
    parsed = ParsedImport(iter(()))
    contacts: Iterable[Any]
    if isinstance(body, str):
        contacts = iter_contacts(body)
    else:
        lowered = {str(k).lower(): v for k, v in body.items()}
        contacts = lowered.get("contacts") or []
    parsed.lists = set()
    parsed.good = v3_rows(contacts, field_types, merge, parsed.bad, parsed.lists)
    return parsed


__all__ = [
    "BadRow",
    "Envelope",
    "GoodRow",
    "RepeatedContactsError",
    "decode_body",
    "iter_contacts",
    "parse_v3",
    "read_envelope",
]
