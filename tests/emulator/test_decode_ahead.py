"""The import worker decodes the next queued v3 import while it applies the current one: what it
applies must be what decoding in turn would give. Driven in-process, step by step (the worker's
own timing cannot be steered over HTTP), on the emulator's real store."""

from __future__ import annotations

import json

from .conftest import in_process_store


def _body(book: int, **fields: str) -> bytes:
    contact = {"matchIdentifier": "email", "identifiers": {"email": "late@example.com"},
               "dataFields": fields, "lists": [book]}  # fmt: skip
    return json.dumps({"contacts": [contact]}).encode()


def test_a_field_created_after_decoding_ahead_counts_for_the_import() -> None:
    store, account, book = in_process_store()
    import_id = store.submit_v3(account, _body(book, NEWFIELD="x"))["importId"]
    ahead = store._decode_next()
    assert ahead is not None and ahead.import_id == import_id
    assert ahead.done.wait(10)
    assert ahead.parsed is not None  # decoded while NEWFIELD did not exist: a failure
    assert [bad.code for bad in ahead.parsed.bad] == ["dataFieldNotFound"]

    store.create_data_field(account, "NEWFIELD", "String", "Private", None)
    store._process(import_id, ahead)

    result = json.loads(store.v3_status(account, import_id))
    assert result["status"] == "Finished"
    assert result["failures"] == []
    assert [c["identifiers"]["email"] for c in result["created"]] == ["late@example.com"]


def test_an_import_decoded_ahead_is_applied_as_decoded() -> None:
    store, account, book = in_process_store()
    import_id = store.submit_v3(account, _body(book, FIRSTNAME="Ann"))["importId"]
    ahead = store._decode_next()
    assert ahead is not None and ahead.done.wait(10) and ahead.parsed is not None
    store._process(import_id, ahead)
    result = json.loads(store.v3_status(account, import_id))
    assert result["status"] == "Finished" and result["summary"]["newContacts"] == 1
    assert ahead.parsed is None  # used, and let go


def test_the_stop_sentinel_is_kept_when_it_comes_next() -> None:
    store, _account, _book = in_process_store()
    store._queue.put(None)
    ahead = store._decode_next()
    assert ahead is not None and ahead.import_id is None and ahead.done.is_set()
