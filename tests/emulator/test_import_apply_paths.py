"""The shortcuts of applying an import (``apply.py``) give what the general way gives: ids of
an all-new chunk taken from the stage's order (and staged when another write took ids between
chunks), one INSERT per book when every row names the same lists, fields stored as staged when
they hold no null. Driven in-process on the emulator's real store, in chunks of two contacts,
so that writes can be put between chunks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dotsync.emulator import apply
from dotsync.emulator.base import Account
from dotsync.emulator.db import Database
from dotsync.emulator.settings import EmulatorSettings
from dotsync.emulator.store import Store

from .conftest import in_process_store


def _contact(email: str, lists: list[int], **fields: Any) -> dict[str, Any]:
    return {"matchIdentifier": "email", "identifiers": {"email": email},
            "dataFields": fields, "lists": lists}  # fmt: skip


class _Between:
    """Stands for the worker's stop event: runs ``action`` after the first chunk."""

    def __init__(self, action: Any) -> None:
        self.action, self.calls = action, 0

    def wait(self, seconds: float) -> bool:
        self.calls += 1
        if self.calls == 1:
            self.action()
        return False


def _run(store: Store, account: Account, contacts: list[dict[str, Any]], **body: Any) -> Any:
    import_id = store.submit_v3(account, json.dumps({"contacts": contacts, **body}).encode())
    store._process(import_id["importId"])
    return json.loads(store.v3_status(account, import_id["importId"]))


def _ids(store: Store, account: Account, result: Any) -> None:
    """Every id the reply lists is the stored contact's."""
    for item in result["created"] + result["updated"]:
        email = item["identifiers"]["email"]
        assert store.get_contact(account, email)["id"] == item["contactId"], email


@pytest.fixture(autouse=True)
def _chunks_of_two(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apply, "_BATCH", 2)


def test_new_contacts_take_ids_in_file_order_across_chunks() -> None:
    store, account, book = in_process_store()
    emails = [f"c{k}@example.com" for k in range(5)]
    result = _run(store, account, [_contact(e, [book]) for e in emails])
    assert [c["identifiers"]["email"] for c in result["created"]] == emails
    ids = [c["contactId"] for c in result["created"]]
    assert ids == list(range(ids[0], ids[0] + 5))
    _ids(store, account, result)
    members = store.book_members(account, book)
    assert sorted(m["id"] for m in members) == ids


def test_a_write_between_chunks_leaves_every_listed_id_right() -> None:
    store, account, book = in_process_store()
    other = store.create_book(account, "Other", "Private")["id"]
    store._stopping = _Between(  # type: ignore[assignment]
        lambda: store.upsert_contact(account, "between@example.com", "Single", "Html", {})
    )
    emails = [f"c{k}@example.com" for k in range(5)]
    result = _run(store, account, [_contact(e, [book, other]) for e in emails])
    assert [c["identifiers"]["email"] for c in result["created"]] == emails
    _ids(store, account, result)
    between = store.get_contact(account, "between@example.com")["id"]
    assert between not in [c["contactId"] for c in result["created"]]
    for book_id in (book, other):
        assert {m["email"] for m in store.book_members(account, book_id)} == set(emails)


def test_chunks_mixing_new_existing_and_suppressed_contacts() -> None:
    store, account, book = in_process_store()
    first = _run(store, account, [_contact("a@example.com", [book]),
                                  _contact("c@example.com", [book])])  # fmt: skip
    store.suppress(account, "gone@example.com", "HardBounced", "account")
    result = _run(
        store,
        account,
        [_contact(e, [book]) for e in
         ("b@example.com", "a@example.com", "gone@example.com", "d@example.com", "c@example.com")],
    )  # fmt: skip
    assert result["summary"]["newContacts"] == 2
    assert result["summary"]["updatedContacts"] == 2
    assert result["summary"]["globallySuppressed"] == 1
    assert [c["identifiers"]["email"] for c in result["created"]] == ["b@example.com",
                                                                       "d@example.com"]  # fmt: skip
    assert {c["contactId"] for c in result["updated"]} == {c["contactId"] for c in first["created"]}
    _ids(store, account, result)
    members = {m["email"] for m in store.book_members(account, book)}
    assert members == {"a@example.com", "b@example.com", "c@example.com", "d@example.com"}


def test_rows_naming_different_lists_join_each_of_theirs() -> None:
    store, account, book = in_process_store()
    other = int(store.create_book(account, "Other", "Private")["id"])
    every = [r[0] for r in store.db.read("SELECT id FROM books WHERE reserved = 'All Contacts'")]
    contacts = [
        _contact("one@example.com", [book]),
        _contact("two@example.com", [other]),
        _contact("both@example.com", [book, other, *every]),
        _contact("none@example.com", []),
    ]
    result = _run(store, account, contacts)
    assert result["summary"]["newContacts"] == 4
    assert {m["email"] for m in store.book_members(account, book)} == {
        "one@example.com",
        "both@example.com",
    }
    assert {m["email"] for m in store.book_members(account, other)} == {
        "two@example.com",
        "both@example.com",
    }
    assert not store.db.read("SELECT 1 FROM members WHERE book_id IN (?)", (every[0],))


def test_a_new_contact_stores_no_null_and_keeps_the_rest_as_given() -> None:
    store, account, book = in_process_store()
    store.create_data_field(account, "SCORE", "Numeric", "Private", None)
    contacts = [
        _contact("n@example.com", [book], FIRSTNAME="Ann", LASTNAME=None),
        _contact("s@example.com", [book], FIRSTNAME="Éva", SCORE=0.30000000000000004),
    ]
    _run(store, account, contacts, mergeOption="overwrite")
    stored = {str(r[0]): str(r[1]) for r in store.db.read("SELECT email, fields FROM contacts")}
    assert json.loads(stored["n@example.com"]) == {"FIRSTNAME": "Ann"}
    assert json.loads(stored["s@example.com"]) == {"FIRSTNAME": "Éva",
                                                   "SCORE": 0.30000000000000004}  # fmt: skip


def test_an_in_memory_emulator_keeps_files_and_replies_out_of_sqlite(tmp_path: Any) -> None:
    """In memory, a queued import's file and a finished one's reply stay bytes in Python; with
    ``--state`` both are stored, so that a restart resumes the one and still answers the other.
    The replies are the same."""
    replies = []
    for path in (None, tmp_path / "state.sqlite"):
        settings = EmulatorSettings(state_file=path)
        store = Store(settings, Database(path))
        account = store.add_account(settings.accounts[0])
        book = int(store.create_book(account, "News", "Private")["id"])
        body = json.dumps({"contacts": [_contact("q@example.com", [book])]}).encode()
        import_id = store.submit_v3(account, body)["importId"]
        stored = store.db.read("SELECT payload FROM imports")[0][0]
        assert (stored, store.db.payloads) == ((None, {import_id: body}) if path is None
                                               else (body, {}))  # fmt: skip
        store._process(import_id)
        assert store.db.payloads == {}
        result = store.db.read("SELECT result FROM imports")[0][0]
        assert (result is None) == (path is None) == (import_id in store.db.replies)
        reply = json.loads(store.v3_status(account, import_id.upper()))
        assert reply["importId"] == import_id and reply["status"] == "Finished"
        replies.append({**reply, "importId": None, "created": len(reply["created"])})
    assert replies[0] == replies[1]
