"""Address books: reserved books, CRUD, visibility lists, paging, Test not writable."""

from __future__ import annotations

import httpx
import pytest

from .conftest import create_book, import_csv


def test_every_account_starts_with_test_and_all_contacts(api: httpx.Client) -> None:
    books = api.get("/v2/address-books").json()
    assert [(b["name"], b["contacts"]) for b in books] == [("Test", 0), ("All Contacts", 0)]


@pytest.mark.parametrize("name", ["Test", "all contacts", "Newsletter"])
def test_reserved_and_existing_names_are_duplicates(api: httpx.Client, name: str) -> None:
    create_book(api, "Newsletter")
    reply = api.post("/v2/address-books", json={"name": name})
    assert reply.status_code == 400
    assert reply.json() == {
        "message": "That name is in use already, please choose another. ERROR_ADDRESSBOOK_DUPLICATE"
    }


def test_create_get_update_delete(api: httpx.Client) -> None:
    created = api.post("/v2/address-books", json={"name": "Spring"}).json()
    assert created["visibility"] == "Private" and created["contacts"] == 0
    book = created["id"]
    assert api.get(f"/v2/address-books/{book}").json() == created
    updated = api.put(f"/v2/address-books/{book}", json={"name": "Summer", "visibility": "Public"})
    assert updated.status_code == 200
    assert updated.json()["name"] == "Summer" and updated.json()["visibility"] == "Public"
    assert api.delete(f"/v2/address-books/{book}").status_code == 200
    missing = api.get(f"/v2/address-books/{book}")
    assert missing.status_code == 404
    assert missing.json()["message"].endswith(". ERROR_ADDRESSBOOK_NOT_FOUND")


def test_name_length_is_validated(api: httpx.Client) -> None:
    assert api.post("/v2/address-books", json={"name": ""}).status_code == 400
    assert api.post("/v2/address-books", json={"name": "x" * 129}).status_code == 400
    assert api.post("/v2/address-books", json={"name": "x" * 128}).status_code == 201


def test_private_and_public_lists_and_paging(api: httpx.Client) -> None:
    for index in range(5):
        api.post(
            "/v2/address-books",
            json={"name": f"b{index}", "visibility": "Public" if index % 2 else "Private"},
        )
    assert [b["name"] for b in api.get("/v2/address-books/public").json()] == ["b1", "b3"]
    private = [b["name"] for b in api.get("/v2/address-books/private").json()]
    assert private == ["Test", "All Contacts", "b0", "b2", "b4"]
    page = api.get("/v2/address-books", params={"select": 2, "skip": 3}).json()
    assert [b["name"] for b in page] == ["b1", "b2"]
    assert api.get("/v2/address-books", params={"select": 2, "skip": 7}).json() == []


def test_reserved_books_cannot_be_changed(api: httpx.Client) -> None:
    test_book, all_contacts = (b["id"] for b in api.get("/v2/address-books").json())
    for book in (test_book, all_contacts):
        assert api.put(f"/v2/address-books/{book}", json={"name": "x"}).status_code == 400
        reply = api.delete(f"/v2/address-books/{book}")
        assert reply.json()["message"].endswith(". ERROR_ADDRESSBOOK_NOTWRITABLE")


def test_test_book_is_not_writable(api: httpx.Client) -> None:
    test_book = api.get("/v2/address-books").json()[0]["id"]
    reply = api.post(f"/v2/address-books/{test_book}/contacts", json={"email": "a@example.com"})
    assert reply.status_code == 400
    assert reply.json()["message"].endswith(". ERROR_ADDRESSBOOK_NOTWRITABLE")
    upload = api.post(
        f"/v2/address-books/{test_book}/contacts/import",
        files={"file": ("a.csv", b"Email\na@example.com\n")},
    )
    assert upload.json()["message"].endswith(". ERROR_ADDRESSBOOK_NOTWRITABLE")


def test_all_contacts_holds_every_contact(api: httpx.Client) -> None:
    all_contacts = api.get("/v2/address-books").json()[1]["id"]
    book = create_book(api)
    api.post(f"/v2/address-books/{book}/contacts", json={"email": "a@example.com"})
    api.post("/v2/contacts", json={"email": "b@example.com"})
    assert api.get(f"/v2/address-books/{all_contacts}").json()["contacts"] == 2
    import_csv(api, all_contacts, "Email\nc@example.com\n")  # importing into it is allowed
    emails = [c["email"] for c in api.get(f"/v2/address-books/{book}/contacts").json()]
    assert emails == ["a@example.com"]
