"""DotDigital's replies as frozen pydantic models, parsed at the boundary (camelCase aliases).

Status fields stay ``str`` and the known values are ``StrEnum`` constants: a status DotDigital
adds later must not crash a poll that only needs to know "still running or not".
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, NamedTuple
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    AliasPath,
    BaseModel,
    ConfigDict,
    Field,
    SkipValidation,
    field_validator,
)
from pydantic.alias_generators import to_camel


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True, alias_generator=to_camel, populate_by_name=True, extra="ignore"
    )


class ImportStatus(StrEnum):
    """The statuses of a v3 contacts import."""

    NOT_FINISHED = "NotFinished"
    FINISHED = "Finished"
    REJECTED_BY_WATCHDOG = "RejectedByWatchdog"
    FAILED = "Failed"
    EXCEEDS_ALLOWED_CONTACT_LIMIT = "ExceedsAllowedContactLimit"


class DeletionStatus(StrEnum):
    STARTED = "Started"
    COMPLETED = "Completed"
    FAILED = "Failed"


_REGION_HOST = re.compile(r"^(r[123])-api\.")
_REGION_PATH = re.compile(r"^/(r[123])(?:/|$)")


def region_of(endpoint: str) -> str | None:
    """``r1``..``r3`` from ``https://r2-api.dotdigital.com``; the local emulator serves regions
    under a path prefix instead (``http://127.0.0.1:8765/r2``), so that is read too."""
    parts = urlsplit(endpoint)
    match = _REGION_HOST.match(parts.hostname or "") or _REGION_PATH.match(parts.path)
    return match.group(1) if match else None


class AccountInfo(_Model):
    # The account's own id (``id`` of account-info): the same for every API user of the account,
    # so what is kept per account (a book's ownership ledger) is keyed by it.
    account_id: int | None = None
    name: str | None = None
    main_email: str | None = Field(default=None, repr=False)  # personal data: kept out of logs
    api_endpoint: str
    region: str | None = None
    api_calls_in_last_hour: int | None = None
    api_calls_remaining: int | None = None
    time_zone: str | None = None

    @classmethod
    def from_payload(cls, payload: Any) -> AccountInfo:
        """``{"id", "properties": [{"name", "type", "value"}]}``: every value a string."""
        props = {
            str(p.get("name", "")).lower(): p.get("value")
            for p in (payload.get("properties") or [] if isinstance(payload, dict) else [])
            if isinstance(p, dict)
        }
        endpoint = str(props.get("apiendpoint") or "").rstrip("/")
        raw_id = payload.get("id") if isinstance(payload, dict) else None
        return cls(
            account_id=_int(raw_id),
            name=props.get("name"),
            main_email=props.get("mainemail"),
            api_endpoint=endpoint,
            # DotDigital's documented reply has no Region property: the region is read from the
            # endpoint's host. The local emulator serves r1 at its root (no "r1" in the URL) and
            # says its region in a Region property, so that is read first.
            region=_region(props.get("region")) or (region_of(endpoint) if endpoint else None),
            api_calls_in_last_hour=_int(props.get("apicallsinlasthour")),
            api_calls_remaining=_int(props.get("apicallsremaining")),
            time_zone=props.get("timezoneiana") or props.get("timezone"),
        )


def _region(value: Any) -> str | None:
    text = str(value or "").strip().lower()
    return text if re.fullmatch(r"r\d+", text) else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class AddressBook(_Model):
    id: int
    name: str
    visibility: str | None = None
    contacts: int = 0


class DataField(_Model):
    name: str
    type: str = "String"
    visibility: str | None = None
    default_value: Any = None


class Contact(_Model):
    id: int
    email: str
    opt_in_type: str | None = None
    email_type: str | None = None
    status: str | None = None
    data_fields: dict[str, Any] = Field(default_factory=dict)

    @field_validator("data_fields", mode="before")
    @classmethod
    def _key_values(cls, value: Any) -> Any:
        # v2 sends [{"key": "FIRSTNAME", "value": "Ann"}], or null without withFullData.
        if value is None:
            return {}
        if isinstance(value, list):
            return {str(item.get("key")): item.get("value") for item in value}
        return value


class ImportedContact(NamedTuple):
    contact_id: int
    email: str | None


class ContactFailure(_Model):
    """One contact of a v3 import that did not go in, with every reason (failureCode)."""

    email: str | None = None
    contact_id: int | None = None
    reasons: tuple[tuple[str, str], ...] = ()  # (failureCode, description)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(code for code, _ in self.reasons)


class ImportSummary(_Model):
    new_contacts: int = 0
    updated_contacts: int = 0
    globally_suppressed: int = 0
    invalid_entries: int = 0
    duplicate_identifiers: int = 0


class ContactsImport(_Model):
    """``GET /contacts/v3/import/{importId}``."""

    import_id: str
    status: str
    summary: ImportSummary = Field(default_factory=ImportSummary)
    # Built by the validators below and not validated again item by item: an import's reply holds
    # a row per contact (250k here), and per-item validation cost ~1 s per import.
    created: Annotated[tuple[ImportedContact, ...], SkipValidation] = ()
    updated: Annotated[tuple[ImportedContact, ...], SkipValidation] = ()
    failures: tuple[ContactFailure, ...] = ()

    @property
    def in_progress(self) -> bool:
        return self.status == ImportStatus.NOT_FINISHED

    @field_validator("created", "updated", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        if value is None:
            return ()
        return tuple(
            ImportedContact(item["contactId"], (item.get("identifiers") or {}).get("email"))
            for item in value
        )

    @field_validator("failures", mode="before")
    @classmethod
    def _failures(cls, value: Any) -> Any:
        return _failures_of(value)

    @field_validator("summary", mode="before")
    @classmethod
    def _summary(cls, value: Any) -> Any:
        return _summary_of(value)


def _failures_of(value: Any) -> Any:
    """v3's ``failures`` items (identifiers, contact id, failure codes) as ContactFailure."""
    if value is None:
        return ()
    return tuple(
        ContactFailure(
            email=(item.get("identifiers") or {}).get("email"),
            contact_id=item.get("contactId"),
            reasons=tuple(
                (str(f.get("failureCode", "")), str(f.get("description", "")))
                for f in item.get("failures") or ()
            ),
        )
        for item in value
    )


def _summary_of(value: Any) -> Any:
    return ImportSummary() if value is None else value


class ImportProgress(_Model):
    """``GET /contacts/v3/import/{importId}`` without its lists of contacts: the status, the
    summary and the failures, read from the reply's bytes (pydantic skips the lists without
    building them). The created and updated contacts (a row each, 100k an import) are read from
    the same bytes by DuckDB (``delivery``), never as a Python object per contact."""

    import_id: str
    status: str
    summary: ImportSummary = Field(default_factory=ImportSummary)
    failures: tuple[ContactFailure, ...] = ()

    @property
    def in_progress(self) -> bool:
        return self.status == ImportStatus.NOT_FINISHED

    @field_validator("failures", mode="before")
    @classmethod
    def _failures(cls, value: Any) -> Any:
        return _failures_of(value)

    @field_validator("summary", mode="before")
    @classmethod
    def _summary(cls, value: Any) -> Any:
        return _summary_of(value)


class Deletion(_Model):
    id: str
    status: str


class ContactSummary(_Model):
    """One contact of ``GET /contacts/v3`` (a book's member when read with ``~listId``).

    ``status`` is the e-mail channel's status (``channelProperties.email.status``: subscribed,
    unsubscribed, hardBounced, ...) when the reply carries it (asked with
    ``include=channelProperties``), else the contact's own (``status``: subscribed,
    unsubscribed, pendingOptIn, suppressed, ...); ``contact_status`` is always the latter.
    ``modified`` is v3's ``updated`` (its ``created`` speaks of the account, not of the book, and
    is left out); ``lists`` the books holding it, when the read asks for them. Read from the
    item's own shape by aliases, so that a page is validated by pydantic in one pass over the
    reply's bytes (a million members a read).
    """

    contact_id: int = Field(validation_alias=AliasChoices("contactId", "contact_id"))
    email: str | None = Field(
        default=None,
        repr=False,  # personal data: kept out of logs
        validation_alias=AliasChoices(AliasPath("identifiers", "email"), "email"),
    )
    status: str | None = Field(
        default=None,
        validation_alias=AliasChoices(AliasPath("channelProperties", "email", "status"), "status"),
    )
    contact_status: str | None = Field(
        default=None, validation_alias=AliasChoices("status", "contact_status")
    )
    modified: datetime | None = Field(
        default=None, validation_alias=AliasChoices("updated", "modified")
    )
    # The ids of the lists (address books) holding the contact, when asked (``include=lists``).
    lists: tuple[int, ...] = ()

    @classmethod
    def from_v3(cls, item: Any) -> ContactSummary:
        return cls.model_validate(item)

    @field_validator("lists", mode="before")
    @classmethod
    def _list_ids(cls, value: Any) -> Any:
        # v3 sends [{"id": 123, "name": "...", "status": "subscribed"}, ...], or nothing.
        if value is None:
            return ()
        return tuple(item["id"] if isinstance(item, dict) else item for item in value)

    @field_validator("modified", mode="after")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return _as_utc(value)


class ContactsPage(_Model):
    """A reply of ``GET /contacts/v3``: the contacts and the marker of the next page (None on
    the last page)."""

    items: list[ContactSummary] = Field(validation_alias="_items")
    next_marker: str | None = Field(
        default=None, validation_alias=AliasPath("_links", "next", "marker")
    )


class Suppression(_Model):
    """An ``ApiContactSuppression`` of the v2 feeds (unsubscribed or suppressed since a date):
    who, when and why (``reason``: Unsubscribed, HardBounced, ...). DotDigital documents the
    contact as nullable: ``contact_id`` and ``email`` are None then."""

    contact_id: int | None = None
    email: str | None = Field(default=None, repr=False)
    date_removed: datetime | None = None
    reason: str | None = None

    @classmethod
    def from_v2(cls, item: Any) -> Suppression:
        contact = item.get("suppressedContact") or {}
        return cls(
            contact_id=contact.get("id"),
            email=contact.get("email"),
            date_removed=item.get("dateRemoved"),
            reason=item.get("reason"),
        )

    @field_validator("date_removed", mode="after")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return _as_utc(value)


def _as_utc(value: datetime | None) -> datetime | None:
    """Dates without an offset (v2 sends some) are UTC: DotDigital's API speaks UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
