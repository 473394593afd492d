"""Pure rules of DotDigital's data: e-mail addresses, data field names and typed values, contact
statuses and what a suppression means for an import. No I/O here."""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Final

StoredValue = str | int | float | bool | None

FIELD_TYPES: Final = ("String", "Numeric", "Date", "Boolean")
DEFAULT_FIELDS: Final = (
    ("FIRSTNAME", "String"),
    ("LASTNAME", "String"),
    ("FULLNAME", "String"),
    ("GENDER", "String"),
    ("POSTCODE", "String"),
    ("LASTSUBSCRIBED", "Date"),
)
MAX_STRING: Final = 255
_FIELD_NAME = re.compile(r"[A-Za-z0-9_-]{1,20}")
# Deliberately simple, like a server-side sanity check: one @, no spaces, a dot in the domain.
EMAIL_PATTERN: Final = re.compile(r"[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\".]+")
_TRUE = frozenset({"true", "yes", "1", "y"})
_FALSE = frozenset({"false", "no", "0", "n"})
_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%d/%m/%Y", "%Y/%m/%d")

OPT_IN_TYPES: Final = ("Unknown", "Single", "Double", "VerifiedDouble")
EMAIL_TYPES: Final = ("PlainText", "Html")

# Statuses that block an import, with the report counter and the faults-CSV reason of each.
# The reason strings are those of DotDigital's import faults report (``Reason`` column); which
# status maps to which reason is our assumption.
SUPPRESSIONS: Final[dict[str, tuple[str, str]]] = {
    "Unsubscribed": ("unsubscribed", "Unsubscribed"),
    "HardBounced": ("hardBounced", "Hard bounced"),
    "SoftBounced": ("softBounced", "Soft bounced"),
    "IspComplained": ("ispComplaints", "Complained to ISP"),
    "DirectComplaint": ("ispComplaints", "Complained to ISP"),
    "MailBlocked": ("mailBlocked", "Mail blocked"),
    "DomainSuppression": ("domainSuppressed", "Suppressed by Domain"),
    "Suppressed": ("globallySuppressed", "Globally Suppressed"),
    "SharedSuppression": ("globallySuppressed", "Globally Suppressed"),
    "NotAllowed": ("blocked", "Blocked"),
    "NoMxRecord": ("blocked", "Blocked"),
}
CONTACT_STATUSES: Final = ("Subscribed", "PendingOptIn", *SUPPRESSIONS)


class ValueRejectedError(ValueError):
    """A value that DotDigital would refuse; ``code`` is the ERROR_ code of a single add."""

    def __init__(self, code: str, sentence: str) -> None:
        super().__init__(sentence)
        self.code = code
        self.sentence = sentence


def normalize_email(raw: str) -> str:
    return raw.strip().lower()


def is_valid_email(email: str) -> bool:
    return len(email) <= 254 and EMAIL_PATTERN.fullmatch(email) is not None


def field_name(raw: str) -> str:
    """Validate a data field name and return it upper-case, as DotDigital stores it."""
    if not _FIELD_NAME.fullmatch(raw):
        raise ValueRejectedError(
            "ERROR_DATAFIELD_INVALID",
            "Data field names are 1 to 20 letters, digits, '_' or '-'",
        )
    return raw.upper()


def canonical_enum(raw: object, allowed: tuple[str, ...], default: str) -> str:
    """Match an enum value case-insensitively (clients send 'html' or 'Html')."""
    if raw is None or raw == "":
        return default
    for value in allowed:
        if str(raw).lower() == value.lower():
            return value
    raise ValueRejectedError(
        "ERROR_PARAMETER_INVALID", f"'{raw}' is not one of {', '.join(allowed)}"
    )


def _parse_string(raw: object) -> StoredValue:
    text = str(raw)
    if len(text) > MAX_STRING:
        raise ValueRejectedError("ERROR_DATAFIELD_VALUE_OVERFLOW", "Data field value is too long")
    return text


def _parse_numeric(raw: object) -> StoredValue:
    """DotDigital keeps Numeric values as decimals, not binary floats (assumption: the v2
    documents call the type Numeric and say no more; its values come back as written, which a
    double could not do for ``12345678901234567890``). Whole numbers are kept exactly, whatever
    their size, as Python ints (stored as JSON number text, read back as ints). Fractions are
    kept as doubles: exact to 15 significant digits, the emulator's limit, not DotDigital's."""
    if isinstance(raw, bool):
        raise ValueRejectedError("ERROR_PARAMETER_INVALID", "Numeric data field needs a number")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise ValueRejectedError("ERROR_PARAMETER_INVALID", "Numeric data field needs a number")
        return raw
    text = str(raw).strip()
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise ValueRejectedError(
            "ERROR_PARAMETER_INVALID", "Numeric data field needs a number"
        ) from exc
    if not number.is_finite():
        raise ValueRejectedError("ERROR_PARAMETER_INVALID", "Numeric data field needs a number")
    if "." not in text and number == number.to_integral_value():
        return int(number)  # "12345678901234567890" and "1e3" alike, exactly
    return float(number)


def numeric_json(value: StoredValue) -> str | None:
    """A parsed Numeric as JSON number text, to stage in SQLite (whose integers stop at 2**63;
    ``json(text)`` then stores the number exactly)."""
    return None if value is None else json.dumps(value)


def _parse_date(raw: object) -> StoredValue:
    return date_text(str(raw))


@functools.lru_cache(maxsize=65_536)
def date_text(raw: str) -> str:
    """Cached: an import's dates repeat (birthdays, sign-up days), and strptime costs ~10 µs."""
    text = raw.strip()
    if text.endswith("Z"):
        text = text[:-1]
    text = text.split(".")[0]  # fractions of a second are dropped, as DotDigital stores seconds
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).strftime("%Y-%m-%dT%H:%M:%S")
        except ValueError:
            continue
    raise ValueRejectedError(
        "ERROR_PARAMETER_INVALID", "Date data field needs a date with a 4-digit year"
    )


def _parse_boolean(raw: object) -> StoredValue:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueRejectedError("ERROR_PARAMETER_INVALID", "Boolean data field needs true or false")


PARSERS: Final[dict[str, Callable[[object], StoredValue]]] = {
    "String": _parse_string,
    "Numeric": _parse_numeric,
    "Date": _parse_date,
    "Boolean": _parse_boolean,
}


def parse_value(field_type: str, raw: object) -> StoredValue:
    """Parse ``raw`` by the field's type; ``None`` and "" mean no value."""
    if raw is None or raw == "":
        return None
    return PARSERS[field_type](raw)
