"""``dotsync connect`` as a function: every check of a connection against DotDigital, for the
exports that use it, reading only. The CLI prints its result; the console shows each check."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from dotsync.config import Config, ConnectionConfig, require_privacy_ack
from dotsync.config.loader import did_you_mean
from dotsync.connect import (
    Check,
    ConnectionReport,
    check_connection,
    explain_refusal,
    open_client,
)
from dotsync.errors import ConfigError, ConnectionCheckError
from dotsync.mapping import declared_types, required_fields, type_mismatches
from dotsync.ownership import book_conflicts


@dataclass(frozen=True)
class ConnectOutcome:
    report: ConnectionReport
    mapped_fields: list[str]  # the data fields the connection's exports map
    fields_created_on_export: list[str]  # missing, created by an export that may create them
    shared_book_conflicts: list[str]


def connection_named(config: Config, name: str) -> ConnectionConfig:
    if name not in config.connections:
        known = ", ".join(sorted(config.connections)) or "none"
        guess = did_you_mean(name, config.connections)
        raise ConfigError(
            f"no connection named {name!r}; {guess}(known: {known})",
            key="connections",
        )
    return config.connections[name]


def connect(
    config: Config,
    name: str,
    *,
    on_passed: Callable[[Check], None] | None = None,
    password: SecretStr | None = None,
    http_client: httpx.Client | None = None,
) -> ConnectOutcome:
    """Check the connection ``name``: credentials, region, address book, and the data fields its
    exports map (their declared types, each export on its own). Reads only: a field that every
    export mapping it may create (``create_missing_data_fields``) is listed, not created.
    ``password`` stands for the stored one (a password typed in the console, not saved yet)."""
    conn = connection_named(config, name)
    require_privacy_ack(name, conn)
    heard = on_passed or (lambda _check: None)
    exports = {e_name: e for e_name, e in config.exports.items() if e.connection == name}
    fields = sorted({f for e in exports.values() for f in required_fields(e.mapping)})
    creatable = {
        field
        for field in fields
        if all(
            e.create_missing_data_fields
            for e in exports.values()
            if field in required_fields(e.mapping)
        )
    }
    with (
        explain_refusal(name, conn),
        open_client(
            conn, name=name, config_path=config.path, password=password, http_client=http_client
        ) as client,
    ):
        report = check_connection(
            client,
            connection=name,
            display_name=conn.display_name,
            address_book_id=conn.address_book_id,
            expected_region=conn.region,
            required_fields=[f for f in fields if f not in creatable],
            create_missing=False,
            # The data fields pass once each export's declared types are checked too (below).
            on_passed=lambda check: None if check is Check.DATA_FIELDS else heard(check),
        )
    mismatches = [
        f"export {e_name!r}: {message}"
        for e_name, e in exports.items()
        for message in type_mismatches(declared_types(e.mapping), report.data_fields)
    ]
    if mismatches:
        raise ConnectionCheckError("; ".join(mismatches))
    heard(Check.DATA_FIELDS)
    return ConnectOutcome(
        report=report,
        mapped_fields=fields,
        fields_created_on_export=sorted(
            f for f in creatable if f.upper() not in report.data_fields
        ),
        shared_book_conflicts=[
            text for pair, text in book_conflicts(config) if set(exports).intersection(pair)
        ],
    )
