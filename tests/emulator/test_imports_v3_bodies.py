"""v3 bodies of every shape the streaming parser meets: checked at submission without a full
parse where that is exact, decoded contact by contact in the worker, with the same outcome as a
whole-body ``json.loads``."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from dotsync.emulator.v3body import RepeatedContactsError, iter_contacts, read_envelope

from .conftest import create_book, v3_contact, wait_v3


def _put_raw(api: httpx.Client, text: str) -> httpx.Response:
    return api.put(
        "/contacts/v3/import",
        content=text.encode("utf-8"),
        headers={"content-type": "application/json"},
    )


def _created(result: dict[str, Any]) -> list[str]:
    return [c["identifiers"]["email"] for c in result["created"]]


@pytest.mark.parametrize("shape", ["contacts-first", "pretty", "pascal-case", "escaped"])
def test_body_shapes_import_the_same(api: httpx.Client, shape: str) -> None:
    book = create_book(api)
    contacts = [
        v3_contact(f"{shape}{i}@example.com", [book], firstName=f"Zoë {i}") for i in range(3)
    ]
    if shape == "contacts-first":
        text = json.dumps({"contacts": contacts, "mergeOption": "overwrite"})
    elif shape == "pretty":
        text = json.dumps({"mergeOption": "overwrite", "contacts": contacts}, indent=4)
    elif shape == "pascal-case":
        text = json.dumps({"MergeOption": "Overwrite", "Contacts": contacts}, ensure_ascii=False)
    else:  # backslash escapes: checked by the exact path
        text = json.dumps({"contacts": contacts}, ensure_ascii=True)
    reply = _put_raw(api, text)
    assert reply.status_code == 202, reply.text
    result = wait_v3(api, reply.json()["importId"])
    assert _created(result) == [f"{shape}{i}@example.com" for i in range(3)]
    stored = api.get(f"/v2/contacts/{shape}1@example.com").json()["dataFields"]
    assert {f["key"]: f["value"] for f in stored}["FIRSTNAME"] == "Zoë 1"
    assert api.get(f"/v2/address-books/{book}").json()["contacts"] == 3


def test_a_repeated_contacts_key_keeps_the_last(api: httpx.Client) -> None:
    first = json.dumps([v3_contact("first@example.com")])
    last = json.dumps([v3_contact("last@example.com")])
    reply = _put_raw(api, f'{{"contacts": {first}, "CONTACTS": {last}}}')
    assert reply.status_code == 202, reply.text
    assert _created(wait_v3(api, reply.json()["importId"])) == ["last@example.com"]


@pytest.mark.parametrize("how", ["plain", "escaped", "nested-contacts-key"])
def test_lists_are_checked_at_submission_however_written(api: httpx.Client, how: str) -> None:
    test_book = api.get("/v2/address-books").json()[0]["id"]
    contact = v3_contact("a@example.com", [test_book])
    if how == "nested-contacts-key":
        contact["dataFields"] = {"contacts": "x"}
    text = json.dumps(
        {"contacts": [v3_contact("b@example.com"), contact]}, ensure_ascii=how != "escaped"
    )
    if how == "escaped":
        text = text.replace('"lists"', '"li\\u0073ts"')
    reply = _put_raw(api, text)
    assert reply.status_code == 400
    assert reply.json()["errorCode"] == "contacts:invalidLists"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (
            '{"contacts": [{"identifiers": {"email": "a@example.com"}} {"x": 1}]}',
            "contacts:badJson",
        ),
        ('{"contacts": [{"identifiers": {"email": "a@example.com"}}]}\x00', "contacts:badJson"),
        (
            '{"contacts": [{"identifiers": {"email": "a@example.com"}, "dataFields": {"a": NaN}}]}',
            "contacts:badJson",
        ),
        ('{"contacts": [ ]}', "contacts:noContactsSpecified"),
        ('{"contacts": {"identifiers": {}}}', "contacts:noContactsSpecified"),
        ('[{"contacts": [1]}]', "contacts:noContactsSpecified"),
        ('{"mergeOption": "onlyOverwriteIfNotEmpty", "contacts": [{}]}', "contacts:badJson"),
    ],
    ids=["broken-middle", "nul", "nan", "empty", "not-a-list", "not-an-object", "v2-merge"],
)
def test_refused_at_submission(api: httpx.Client, text: str, code: str) -> None:
    reply = _put_raw(api, text)
    assert reply.status_code == 400
    assert reply.json()["errorCode"] == code


def test_status_reply_is_compact_json(api: httpx.Client) -> None:
    reply = api.put(
        "/contacts/v3/import", json={"contacts": [v3_contact("c@example.com"), v3_contact("bad")]}
    )
    result = wait_v3(api, reply.json()["importId"])
    raw = api.get(f"/contacts/v3/import/{result['importId']}")
    assert raw.headers["content-type"] == "application/json"
    assert b": " not in raw.content and b", " not in raw.content
    assert list(raw.json()) == ["importId", "status", "summary", "created", "updated", "failures"]


def test_envelope_reads_merge_option_and_list_ids_without_parsing_contacts() -> None:
    body = {
        "mergeOption": "overwriteIfEmpty",
        "contacts": [v3_contact("a@example.com", [3, 4]), v3_contact("b@example.com", [4])],
    }
    envelope = read_envelope(json.dumps(body).encode())
    assert (envelope.merge, envelope.list_ids) == ("ifEmpty", frozenset({3, 4}))


def test_iter_contacts_streams_elements_and_notices_a_second_contacts_key() -> None:
    text = ' { "a" : [1, {"b": "]"}] , "contacts" : [ {"x": 1} , 2 ,"]" ] , "z": null } '
    assert list(iter_contacts(text)) == [{"x": 1}, 2, "]"]
    assert list(iter_contacts('{"contacts": []}')) == []
    with pytest.raises(RepeatedContactsError):
        list(iter_contacts('{"contacts": [1], "Contacts": [2]}'))
