"""``--seed FILE``: accounts, data fields, address books, contacts and suppressions for tests.

```json
{"accounts": [{"api_user": "demo@apiconnector.com", "password": "demo", "region": "r1",
               "contact_limit": null,
               "data_fields": [{"name": "TIER", "type": "String"}],
               "address_books": [{"id": 123456, "name": "Newsletter", "visibility": "Private",
                                  "contacts": ["ann@example.com",
                                               {"email": "bob@example.com",
                                                "data_fields": {"FIRSTNAME": "Bob"}}]}],
               "contacts": [{"email": "cy@example.com", "status": "Subscribed"}],
               "suppressed": [{"email": "gone@example.com", "status": "HardBounced"}],
               "suppressed_domains": ["blocked.example"]}],
 "global_suppressions": [{"email": "spamtrap@example.com", "status": "Suppressed"}]}
```
Keys may be snake_case or camelCase. Accounts of the seed are added to those of the settings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic.alias_generators import to_camel

from dotsync.emulator.settings import AccountSettings, Region
from dotsync.emulator.store import Store
from dotsync.emulator.values import CONTACT_STATUSES


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class SeedField(_Model):
    name: str
    type: Literal["String", "Numeric", "Date", "Boolean"] = "String"
    visibility: Literal["Private", "Public"] = "Private"
    default_value: Any = None


class SeedContact(_Model):
    email: str
    status: str = "Subscribed"
    data_fields: dict[str, Any] = Field(default_factory=dict)


class SeedBook(_Model):
    id: int | None = None
    name: str
    visibility: Literal["Private", "Public"] = "Private"
    contacts: list[str | SeedContact] = Field(default_factory=list)


class SeedSuppression(_Model):
    email: str
    status: str = "Suppressed"


class SeedAccount(_Model):
    api_user: str
    password: SecretStr
    region: Region = "r1"
    contact_limit: int | None = None
    data_fields: list[SeedField] = Field(default_factory=list)
    address_books: list[SeedBook] = Field(default_factory=list)
    contacts: list[SeedContact] = Field(default_factory=list)
    suppressed: list[SeedSuppression] = Field(default_factory=list)
    suppressed_domains: list[str] = Field(default_factory=list)


class Seed(_Model):
    accounts: list[SeedAccount] = Field(default_factory=list)
    global_suppressions: list[SeedSuppression] = Field(default_factory=list)


def load_seed(path: Path) -> Seed:
    return Seed.model_validate(json.loads(path.read_text(encoding="utf-8")))


def apply_seed(store: Store, seed: Seed) -> None:
    for spec in seed.accounts:
        account = store.add_account(
            AccountSettings(
                api_user=spec.api_user,
                password=spec.password,
                region=spec.region,
                contact_limit=spec.contact_limit,
            )
        )
        for field in spec.data_fields:
            store.create_data_field(
                account, field.name, field.type, field.visibility, field.default_value
            )
        for contact in spec.contacts:
            _put_contact(store, account, contact, None)
        for book in spec.address_books:
            book_id = _create_book(store, account, book)
            for member in book.contacts:
                entry = member if isinstance(member, SeedContact) else SeedContact(email=member)
                _put_contact(store, account, entry, book_id)
        for item in spec.suppressed:
            _check_status(item.status)
            store.suppress(account, item.email, item.status, "account")
        for domain in spec.suppressed_domains:
            store.suppress(account, domain, "DomainSuppression", "domain")
    first = store.accounts()[:1]
    for item in seed.global_suppressions:
        _check_status(item.status)
        if first:
            store.suppress(first[0], item.email, item.status, "global")


def _check_status(status: str) -> None:
    if status not in CONTACT_STATUSES:
        raise ValueError(f"unknown contact status {status!r}")


def _create_book(store: Store, account: Any, book: SeedBook) -> int:
    if book.id is None:
        return int(store.create_book(account, book.name, book.visibility)["id"])
    with store.db.tx() as conn:
        conn.execute(
            "INSERT INTO books (id, account_id, name, visibility) VALUES (?, ?, ?, ?)",
            (book.id, account.id, book.name, book.visibility),
        )
    return book.id


def _put_contact(store: Store, account: Any, contact: SeedContact, book_id: int | None) -> None:
    _check_status(contact.status)
    fields = store.typed_fields(account, list(contact.data_fields.items()))
    row = store.upsert_contact(account, contact.email, "Single", "Html", fields)
    if contact.status != "Subscribed":
        store.suppress(account, contact.email, contact.status, "account")
    if book_id is not None:
        with store.db.tx() as conn:
            conn.execute("INSERT OR IGNORE INTO members VALUES (?, ?)", (book_id, row["id"]))
            store.db.members_changed((book_id,))
