"""The response table: what to do with a DotDigital reply that is not a success (:func:`classify`).

DotDigital's error catalogue lists the ``ERROR_`` codes but not the status each comes with
(https://marketing.developer.dotdigital.com/docs/error-response-types); the table keys on the code
first and falls back on the status, so a code sent with an unexpected status is still handled the
same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dotsync.errors import (
    AuthenticationError,
    DotDigitalError,
    NotFoundError,
    NotWritableError,
    RateLimitedError,
    RejectedDataError,
    TooManyImportsError,
    TransientError,
    WrongRegionError,
)


class Action(StrEnum):
    RETRY = "retry"  # transient: back off and send again
    WAIT_RATE_LIMIT = "wait_rate_limit"  # wait what the headers say (or back off), then resend
    WAIT_IMPORT_SLOT = "wait_import_slot"  # 25 imports active: wait for one to end, then resend
    FAIL = "fail"  # raise the rule's error: configuration or rejected data, no retry helps


@dataclass(frozen=True)
class Rule:
    action: Action
    error: type[DotDigitalError]


@dataclass(frozen=True)
class _Row:
    """Matches when every given criterion matches; ``status=None`` alone means "no reply"."""

    rule: Rule
    code: str | None = None  # exact ERROR_ code (v2) or errorCode (v3)
    code_suffixes: tuple[str, ...] = ()
    statuses: range | None = None
    no_reply: bool = False


def _status(first: int, last: int | None = None) -> range:
    return range(first, (last if last is not None else first) + 1)


_RETRY = Rule(Action.RETRY, TransientError)
_RATE_LIMIT = Rule(Action.WAIT_RATE_LIMIT, RateLimitedError)
_IMPORT_SLOT = Rule(Action.WAIT_IMPORT_SLOT, TooManyImportsError)

# First match wins: codes before statuses.
RESPONSE_TABLE: tuple[_Row, ...] = (
    _Row(_RETRY, no_reply=True),  # timeouts, refused or dropped connections
    _Row(_RATE_LIMIT, code="ERROR_APIUSAGE_EXCEEDED"),  # the flat limit, sent as a 400
    _Row(_IMPORT_SLOT, code="contacts:tooManyActiveImports"),  # v3, sent as a 429
    _Row(Rule(Action.FAIL, NotWritableError), code="ERROR_ADDRESSBOOK_NOTWRITABLE"),
    # ERROR_DATAFIELD_NOTFOUND has no underscore before FOUND; v3 uses e.g. contacts:importNotFound.
    _Row(Rule(Action.FAIL, NotFoundError), code_suffixes=("_NOT_FOUND", "_NOTFOUND", "NotFound")),
    _Row(_RATE_LIMIT, statuses=_status(429)),
    _Row(Rule(Action.FAIL, AuthenticationError), statuses=_status(401)),
    _Row(Rule(Action.FAIL, WrongRegionError), statuses=_status(403)),
    _Row(Rule(Action.FAIL, NotFoundError), statuses=_status(404)),
    _Row(_RETRY, statuses=_status(408)),  # request timeout: the server gave up, not the data
    _Row(_RETRY, statuses=_status(500, 599)),
    _Row(Rule(Action.FAIL, RejectedDataError), statuses=_status(400, 499)),
)

_FALLBACK = Rule(Action.FAIL, DotDigitalError)  # 1xx/3xx: nothing we can act on


def classify(status: int | None, code: str | None) -> Rule:
    """The rule for a reply (``status=None``: no reply at all) carrying ``code`` (or none)."""
    for row in RESPONSE_TABLE:
        if _matches(row, status, code):
            return row.rule
    return _FALLBACK


def _matches(row: _Row, status: int | None, code: str | None) -> bool:
    if row.no_reply:
        return status is None
    if status is None:
        return False
    if row.code is not None and row.code != code:
        return False
    if row.code_suffixes and not (code and code.endswith(row.code_suffixes)):
        return False
    return row.statuses is None or status in row.statuses


_V2_CODE = re.compile(r"\b(ERROR_[A-Z0-9_]+)\s*\.?\s*$")


@dataclass(frozen=True)
class ErrorBody:
    """The parts of an error reply: ``code`` (``ERROR_...`` or v3 ``errorCode``), ``sentence``
    (the human part, code removed) and the v3 ``details``."""

    code: str | None
    sentence: str
    details: tuple[str, ...] = ()


def parse_error_body(payload: Any, text: str = "") -> ErrorBody:
    """Read v2 ``{"message": "<sentence>. ERROR_X"}``/``"Error: ERROR_X"``, v3 ``{"errorCode",
    "description", "details"}``, or anything else (an HTML page from a proxy: its start)."""
    if isinstance(payload, dict):
        if isinstance(payload.get("errorCode"), str):
            details = tuple(
                f"{item.get('item', '')}: {item.get('description') or item.get('error') or ''}"
                for item in payload.get("details") or ()
                if isinstance(item, dict)
            )
            return ErrorBody(payload["errorCode"], str(payload.get("description", "")), details)
        message = payload.get("message") or payload.get("Message")
        if isinstance(message, str):
            match = _V2_CODE.search(message)
            if match is None:
                return ErrorBody(None, message.strip())
            sentence = message[: match.start()].strip().removeprefix("Error:").strip()
            return ErrorBody(match.group(1), sentence)
    return ErrorBody(None, " ".join(text.split())[:200])
