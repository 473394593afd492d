"""The *Connect* step: check credentials, region, address book and data fields against DotDigital
before anything is sent (``dotsync connect``, and the start of every export)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import httpx
from pydantic import SecretStr

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

# Every DotDigital account has two system address books, recognised by their reserved names (their
# ids differ between accounts; creating a book of either name is refused as a duplicate). "Test" is
# the book of test sends, which the API refuses to write to; "All contacts" is every contact of the
# account, so an export there would mix its members with everyone else and its leavers could not
# be removed without deleting them from the account. Neither is a valid export target.
SYSTEM_BOOKS = {
    "test": "DotDigital's Test book, which the API does not let anyone write to",
    "all contacts": "DotDigital's All contacts book, which holds every contact of the account, "
    "so the export's members could not be told apart from the others",
}


def describe_connection(key: str, display_name: str | None) -> str:
    """How messages name a connection: its key in dotsync.toml, and its display name beside it."""
    shown = f" ({display_name})" if display_name and display_name != key else ""
    return f"connection {key!r}{shown}"


class Check(StrEnum):
    """The checks of *Connect*, in the order they run."""

    CREDENTIALS = "credentials"
    REGION = "region"
    ADDRESS_BOOK = "address_book"
    DATA_FIELDS = "data_fields"


CHECKS = tuple(Check)


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
    account_id: str = ""  # the account's id from account-info (empty if DotDigital gave none)


def check_connection(
    client: DotDigitalClient,
    *,
    connection: str,
    display_name: str | None,
    address_book_id: int,
    expected_region: str | None = None,
    required_fields: Sequence[str] = (),
    field_types: dict[str, str] | None = None,
    create_missing: bool = False,
    dry_run: bool = False,
    on_passed: Callable[[Check], None] | None = None,
) -> ConnectionReport:
    """Discover the region, then check the book and the data fields. Creates missing fields only
    when the user opted in (and not in a ``dry_run``, which only lists them in
    ``created_fields``); otherwise names them and says how to fix it. ``connection`` is the
    connection's key in dotsync.toml, which messages name with ``display_name`` beside it.
    ``on_passed`` hears each check passed, in the order of :data:`CHECKS` (the console shows
    them one by one; the first one not heard is the one that failed)."""
    passed = on_passed or (lambda _check: None)
    who = describe_connection(connection, display_name)
    info = client.discover()
    passed(Check.CREDENTIALS)
    if expected_region and info.region and info.region != expected_region:
        raise ConnectionCheckError(
            f"{who}: the account is in region {info.region} ({info.api_endpoint}), not "
            f"{expected_region}: fix `connections.{connection}.region` in dotsync.toml "
            "(or remove it: the region is discovered)"
        )
    passed(Check.REGION)
    list_books = (
        f"list the account's books and their IDs with `dotsync address-books {connection}` and "
        f"fix `connections.{connection}.address_book_id` in dotsync.toml"
    )
    try:
        book = client.address_book(address_book_id)
    except NotFoundError as exc:
        raise NotFoundError(
            f"{who}: the account has no address book {address_book_id}; {list_books}",
            status=exc.status,
            code=exc.code,
            detail=exc.detail,
        ) from None
    system_book = SYSTEM_BOOKS.get(book.name.strip().lower())
    if system_book is not None:
        raise NotWritableError(
            f"{who}: address book {address_book_id} ({book.name!r}) is {system_book}: export to "
            f"an address book of your own; {list_books}",
            code="ERROR_ADDRESSBOOK_NOTWRITABLE",
        )
    passed(Check.ADDRESS_BOOK)
    account_fields = {f.name.upper(): f.type for f in client.data_fields()}
    mismatches = type_mismatches(field_types or {}, account_fields)
    if mismatches:
        raise ConnectionCheckError("; ".join(mismatches) + ". Nothing was sent")
    missing = [name for name in required_fields if name.upper() not in account_fields]
    created: list[str] = []
    if missing and not create_missing:
        raise ConnectionCheckError(
            f"{who}: these mapped data fields do not exist in the DotDigital account: "
            + ", ".join(missing)
            + ". Create them in DotDigital, or set create_missing_data_fields = true on the export"
        )
    passed(Check.DATA_FIELDS)
    shown_name = display_name or connection
    if dry_run:
        return _report(shown_name, info, book, account_fields, missing)
    for name in missing:
        kind = (field_types or {}).get(name, "String")
        created_field = client.create_data_field(name, kind)
        account_fields[created_field.name.upper()] = created_field.type
        created.append(created_field.name)
        log.info("created data field %s (%s)", created_field.name, created_field.type)
    return _report(shown_name, info, book, account_fields, created)


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
        account_id=str(getattr(info, "account_id", None) or ""),
    )


def open_client(
    connection: ConnectionConfig,
    *,
    name: str,
    http_client: httpx.Client | None = None,
    stats: CallStats | None = None,
    stop: threading.Event | None = None,
    config_path: Path | None = None,
    password: SecretStr | None = None,
) -> DotDigitalClient:
    """A client for the connection ``name`` (its key in dotsync.toml), its password resolved from
    env, file or keyring (or ``password``, one typed in the console and not stored yet); messages
    name the settings to check under ``connections.<name>``. With ``stop``, a backoff or
    rate-limit wait ends as soon as a stop is requested."""

    def wait_or_stop(seconds: float) -> None:
        if stop is None:
            time.sleep(seconds)
        else:
            stop.wait(seconds)

    return DotDigitalClient(
        connection.api_user,
        password or resolve_password(connection, name=name, config_path=config_path),
        str(connection.api_url),
        http_client=http_client,
        stats=stats,
        stop_requested=stop.is_set if stop else (lambda: False),
        sleep=wait_or_stop,
        password_source=password_source(connection),
        api_url_setting=f"`connections.{name}.api_url`",
        api_user_setting=f"`connections.{name}.api_user`",
    )


def password_source(connection: ConnectionConfig) -> str:
    """Where the connection's password is read from, for messages (never the password)."""
    if connection.password_env is not None:
        return f"the environment variable {connection.password_env}"
    if connection.password_file is not None:
        return f"the password file {connection.password_file}"
    return "the system keyring (service 'dotsync', the connection's api_user as the user)"


@contextmanager
def explain_refusal(name: str, connection: ConnectionConfig) -> Iterator[None]:
    """Turn DotDigital's 401 into a message naming the connection, the setting of its API user
    and where the password came from, so the person knows which setting to fix. Neither the
    password nor the API user's e-mail address is shown."""
    try:
        yield
    except AuthenticationError as exc:
        raise AuthenticationError(
            "DotDigital refused the API user of "
            f"{describe_connection(name, connection.display_name)} (HTTP {exc.status or 401}): "
            f"check `connections.{name}.api_user` and the password in "
            f"{password_source(connection)}",
            status=exc.status,
            code=exc.code,
            detail=exc.detail,
        ) from None
