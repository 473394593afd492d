"""The seed's *Connect* step: check credentials, region, address book and data fields against
DotDigital before anything is sent."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

from dotsync.config import ConnectionConfig
from dotsync.dotdigital import AccountInfo, AddressBook, CallStats, DotDigitalClient
from dotsync.errors import (
    AuthenticationError,
    ConnectionCheckError,
    NotFoundError,
    NotWritableError,
)
from dotsync.mapping import type_mismatches
from dotsync.secrets import resolve_password

log = logging.getLogger(__name__)

# DotDigital's reserved address book that the API refuses to write to.
READ_ONLY_BOOKS = frozenset({"test"})


@dataclass(frozen=True)
class ConnectionReport:
    display_name: str
    account_name: str
    api_endpoint: str
    region: str | None
    address_book_id: int
    address_book_name: str
    address_book_contacts: int
    data_fields: dict[str, str]  # name -> type, as the account holds them
    created_fields: list[str] = field(default_factory=list)


def check_connection(
    client: DotDigitalClient,
    *,
    display_name: str,
    address_book_id: int,
    expected_region: str | None = None,
    required_fields: Sequence[str] = (),
    field_types: dict[str, str] | None = None,
    create_missing: bool = False,
    dry_run: bool = False,
) -> ConnectionReport:
    """Discover the region, then check the book and the data fields. Creates missing fields only
    when the user opted in (and not in a ``dry_run``, which only lists them in
    ``created_fields``); otherwise names them and says how to fix it."""
    info = client.discover()
    if expected_region and info.region and info.region != expected_region:
        raise ConnectionCheckError(
            f"connection {display_name!r}: the account is in region {info.region} "
            f"({info.api_endpoint}), not {expected_region}: fix `region` in dotsync.toml"
        )
    try:
        book = client.address_book(address_book_id)
    except NotFoundError as exc:
        raise NotFoundError(
            f"connection {display_name!r}: the account has no address book {address_book_id}; "
            "list the account's books and their IDs with `dotsync address-books CONNECTION` "
            "and fix address_book_id in dotsync.toml",
            status=exc.status,
            code=exc.code,
            detail=exc.detail,
        ) from None
    if book.name.strip().lower() in READ_ONLY_BOOKS:
        raise NotWritableError(
            f"address book {address_book_id} ({book.name!r}) is DotDigital's reserved test book "
            "and "
            "cannot be written to: choose another address_book_id",
            code="ERROR_ADDRESSBOOK_NOTWRITABLE",
        )
    account_fields = {f.name.upper(): f.type for f in client.data_fields()}
    mismatches = type_mismatches(field_types or {}, account_fields)
    if mismatches:
        raise ConnectionCheckError("; ".join(mismatches) + ". Nothing was sent")
    missing = [name for name in required_fields if name.upper() not in account_fields]
    created: list[str] = []
    if missing and not create_missing:
        raise ConnectionCheckError(
            "these mapped data fields do not exist in the DotDigital account: "
            + ", ".join(missing)
            + ". Create them in DotDigital, or set create_missing_data_fields = true on the export"
        )
    if dry_run:
        return _report(display_name, info, book, account_fields, missing)
    for name in missing:
        kind = (field_types or {}).get(name, "String")
        created_field = client.create_data_field(name, kind)
        account_fields[created_field.name.upper()] = created_field.type
        created.append(created_field.name)
        log.info("created data field %s (%s)", created_field.name, created_field.type)
    return _report(display_name, info, book, account_fields, created)


def _report(
    display_name: str,
    info: AccountInfo,
    book: AddressBook,
    account_fields: dict[str, str],
    created: list[str],
) -> ConnectionReport:
    return ConnectionReport(
        display_name=display_name,
        account_name=info.name or "",
        api_endpoint=info.api_endpoint,
        region=info.region,
        address_book_id=book.id,
        address_book_name=book.name,
        address_book_contacts=book.contacts,
        data_fields=account_fields,
        created_fields=created,
    )


def open_client(
    connection: ConnectionConfig,
    *,
    http_client: httpx.Client | None = None,
    stats: CallStats | None = None,
    stop: threading.Event | None = None,
) -> DotDigitalClient:
    """A client for a configured connection, its password resolved from env, file or keyring.
    With ``stop``, a backoff or rate-limit wait ends as soon as a stop is requested."""

    def wait_or_stop(seconds: float) -> None:
        if stop is None:
            time.sleep(seconds)
        else:
            stop.wait(seconds)

    return DotDigitalClient(
        connection.api_user,
        resolve_password(connection),
        str(connection.api_url),
        http_client=http_client,
        stats=stats,
        stop_requested=stop.is_set if stop else (lambda: False),
        sleep=wait_or_stop,
    )


def password_source(connection: ConnectionConfig) -> str:
    """Where the connection's password is read from, for messages (never the password)."""
    if connection.password_env is not None:
        return f"the environment variable {connection.password_env}"
    if connection.password_file is not None:
        return f"the password file {connection.password_file}"
    return f"the system keyring (service 'dotsync', user {connection.api_user})"


@contextmanager
def explain_refusal(name: str, connection: ConnectionConfig) -> Iterator[None]:
    """Turn DotDigital's 401 into a message naming the connection, its API user and where the
    password came from, so the person knows which setting to fix. The password is never shown."""
    try:
        yield
    except AuthenticationError as exc:
        raise AuthenticationError(
            f"DotDigital refused the API user {connection.api_user} of connection {name!r} "
            f"(HTTP {exc.status or 401}): check api_user under [connections.{name}] and the "
            f"password in {password_source(connection)}",
            status=exc.status,
            code=exc.code,
            detail=exc.detail,
        ) from None
