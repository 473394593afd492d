"""The DotDigital client: address books, data fields and single contacts here, bulk imports and
removals in ``bulk.py``, paged reads of members and change feeds in ``reads.py``, construction,
discovery and retries below them (``core.py``, ``session.py``)."""

from __future__ import annotations

from collections.abc import Mapping

from dotsync.dotdigital.bulk import BulkOperations
from dotsync.dotdigital.models import AccountInfo, AddressBook, Contact, DataField
from dotsync.dotdigital.reads import ContactReads
from dotsync.dotdigital.session import Call


class DotDigitalClient(BulkOperations, ContactReads):
    # -- the account ------------------------------------------------------------------------
    def account_info(self) -> AccountInfo:
        """The account as discovered (``GET /v2/account-info`` once per client): its id
        (``account_id``, the same for every API user of the account), region and endpoint."""
        return self.account if self.account is not None else self.discover()

    # -- address books and data fields ------------------------------------------------------
    def address_books(self, select: int = 1000) -> list[AddressBook]:
        """Every address book, ``select`` per call (1..1000), until a page comes back short."""
        books: list[AddressBook] = []
        while True:
            page_call = Call(
                "GET",
                "/v2/address-books",
                params={"select": select, "skip": len(books)},
                subject="the address books",
            )
            page = self._parse(
                page_call, lambda data: [AddressBook.model_validate(b) for b in data]
            )
            books.extend(page)
            if len(page) < select:
                return books

    def address_book(self, book_id: int) -> AddressBook:
        call = Call("GET", "/v2/address-books/{id}", (book_id,), subject=f"address book {book_id}")
        return self._parse(call, AddressBook.model_validate)

    def create_address_book(self, name: str, visibility: str = "Private") -> AddressBook:
        """``POST /v2/address-books`` (name 1..128 characters; ``Test`` and ``All Contacts`` are
        reserved: ``ERROR_ADDRESSBOOK_DUPLICATE``, a RejectedDataError)."""
        body = {"name": name, "visibility": visibility}
        call = Call("POST", "/v2/address-books", json=body, subject=f"address book {name!r}")
        return self._parse(call, AddressBook.model_validate)

    def data_fields(self) -> list[DataField]:
        call = Call("GET", "/v2/data-fields", subject="the data fields")
        return self._parse(call, lambda data: [DataField.model_validate(f) for f in data])

    def create_data_field(
        self, name: str, type: str = "String", visibility: str = "Private"
    ) -> DataField:
        body = {"name": name, "type": type, "visibility": visibility}
        call = Call("POST", "/v2/data-fields", json=body, subject=f"data field {name}")
        response = self._send(call)
        # v2-full documents the 201 without a body, the docs spec with the field: accept both.
        if response.content.strip():
            return self._read(call, response, DataField.model_validate)
        return DataField(name=name.upper(), type=type, visibility=visibility)

    # -- single contacts --------------------------------------------------------------------
    def get_contact(self, id_or_email: int | str) -> Contact:
        subject = "contact" if isinstance(id_or_email, str) else f"contact {id_or_email}"
        call = Call("GET", "/v2/contacts/{id}", (id_or_email,), subject=subject)
        return self._parse(call, Contact.model_validate)

    def add_contact_to_book(
        self, book_id: int, email: str, data_fields: Mapping[str, str]
    ) -> Contact:
        """One call per contact (deprecated by DotDigital, useless at scale): the naive path."""
        body = {
            "email": email,
            "dataFields": [{"key": key, "value": value} for key, value in data_fields.items()],
        }
        call = Call(
            "POST",
            "/v2/address-books/{id}/contacts",
            (book_id,),
            json=body,
            subject=f"address book {book_id}",
        )
        return self._parse(call, Contact.model_validate)

    def unsubscribe_from_book(self, book_id: int, email: str) -> None:
        call = Call(
            "POST",
            "/v2/address-books/{id}/contacts/unsubscribe",
            (book_id,),
            json={"email": email},
            subject=f"address book {book_id}",
        )
        self._send(call)
