"""Pure rules of ``GET /contacts/v3``: its query (filters, limit, marker), the marker codec and the
v3 spellings of the stored (v2) contact statuses. No I/O here.

What DotDigital documents (v3-contacts.openapi.json, ``getContacts``): ``~listId`` and
``~segmentId`` (not both), ``~modified`` and ``~created`` (not both) as ``gte::<ISO 8601 UTC>``,
``limit`` 1..5000, ``marker`` for the next page, ``data-fields`` and ``include`` pipe-delimited,
the contacts "in ascending order". What it leaves open, and we chose:

- The order is ascending contact id, and a marker names the last id served: a page is a keyset
  read (``id > marker``), so its cost does not grow with its position and a book that changes
  during the read loses no member that stays in it.
- ``limit`` defaults to 1000 (the document's example) when absent.
- Markers are opaque to clients (base64 of a small JSON object); a marker we cannot read, a bad
  limit or a bad filter is ``400 contacts:invalidFilter`` (the one code the document shows).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

MAX_LIMIT: Final = 5000
DEFAULT_LIMIT: Final = 1000
INCLUDES: Final = ("channelProperties", "lists", "preferences", "consentRecords")
ALL_FIELDS: Final = "[[ALL]]"
_GTE = re.compile(r"^gte::(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?)Z$")

# The contact's own status (``status`` schema) by the stored v2 status: every bounce, complaint
# and block is ``suppressed`` there (inferred: the v3 enum has no finer value).
CONTACT_STATUS: Final[dict[str, str]] = {
    "Subscribed": "subscribed",
    "PendingOptIn": "pendingOptIn",
    "Unsubscribed": "unsubscribed",
    "Deleted": "deleted",
}
# The e-mail channel's status (``emailChannelStatus``) by the stored v2 status. Where the v3 enum
# has no exact twin (MailBlocked, NoMxRecord) we say ``suppressed`` (assumption).
EMAIL_STATUS: Final[dict[str, str]] = {
    "Subscribed": "subscribed",
    "PendingOptIn": "pendingOptIn",
    "Unsubscribed": "unsubscribed",
    "SoftBounced": "softBounced",
    "HardBounced": "hardBounced",
    "IspComplained": "ispComplained",
    "DirectComplaint": "directComplaint",
    "Deleted": "deleted",
    "SharedSuppression": "sharedsuppression",
    "Suppressed": "suppressed",
    "DomainSuppression": "domainSuppressed",
    "NotAllowed": "blockedlocalpart",
}


class QueryError(ValueError):
    """A query DotDigital would refuse with ``400 contacts:invalidFilter``."""


@dataclass(frozen=True)
class ContactsQuery:
    list_id: int | None = None
    segment_id: int | None = None
    modified_from: str | None = None  # the store's timestamp text (``...T..:..:..mmmZ``)
    created_from: str | None = None
    limit: int = DEFAULT_LIMIT
    after_id: int = 0  # the marker: the last contact id of the previous page
    data_fields: tuple[str, ...] | None = None  # None: none; () with all_fields: every field
    all_fields: bool = False
    include: frozenset[str] = frozenset()


def encode_marker(after_id: int) -> str:
    raw = json.dumps({"after": after_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_marker(marker: str) -> int:
    try:
        padded = marker + "=" * (-len(marker) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
        after = value["after"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise QueryError(f"The marker value '{marker}' is invalid") from exc
    if type(after) is not int or after < 0:
        raise QueryError(f"The marker value '{marker}' is invalid")
    return after


def _gte(name: str, raw: str) -> str:
    match = _GTE.match(raw.strip())
    if match is None:
        raise QueryError(f"The filter value '{raw}' is invalid for '{name}'")
    text = match.group(1)
    try:
        moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError as exc:
        raise QueryError(f"The filter value '{raw}' is invalid for '{name}'") from exc
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _whole(name: str, raw: str) -> int:
    if not raw.strip().isdigit():
        raise QueryError(f"The filter value '{raw}' is invalid for '{name}'")
    return int(raw)


def _pipes(raw: str) -> list[str]:
    return [part.strip() for part in raw.split("|") if part.strip()]


def parse_query(params: Mapping[str, str]) -> ContactsQuery:
    """``params``: the query string with lower-cased names (DotDigital binds them so)."""
    list_raw, segment_raw = params.get("~listid"), params.get("~segmentid")
    if list_raw is not None and segment_raw is not None:
        raise QueryError("'~listId' can't be used in conjunction with '~segmentId'")
    modified_raw, created_raw = params.get("~modified"), params.get("~created")
    if modified_raw is not None and created_raw is not None:
        raise QueryError("'~created' can't be used in conjunction with '~modified'")
    limit_raw = params.get("limit")
    limit = DEFAULT_LIMIT if limit_raw is None else _whole("limit", limit_raw)
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"The limit value '{limit_raw}' must be between 1 and {MAX_LIMIT}")
    include: set[str] = set()
    for name in _pipes(params.get("include", "")):
        known = next((i for i in INCLUDES if i.lower() == name.lower()), None)
        if known is None:
            raise QueryError(f"The include value '{name}' is invalid")
        include.add(known)
    fields_raw = params.get("data-fields")
    fields = None if fields_raw is None else tuple(f.upper() for f in _pipes(fields_raw))
    marker = params.get("marker")
    return ContactsQuery(
        list_id=None if list_raw is None else _whole("~listId", list_raw),
        segment_id=None if segment_raw is None else _whole("~segmentId", segment_raw),
        modified_from=None if modified_raw is None else _gte("~modified", modified_raw),
        created_from=None if created_raw is None else _gte("~created", created_raw),
        limit=limit,
        after_id=0 if not marker else decode_marker(marker),
        data_fields=fields,
        all_fields=fields is not None and ALL_FIELDS in fields,
        include=frozenset(include),
    )
