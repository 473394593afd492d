"""v2 CSV imports: upload forms, merge options, report counters, faults CSV, suppression,
limits (25 active, 50 MB, contact limit), watchdog, speed, injected failures."""

from __future__ import annotations

import base64
import csv
import io
import time
from typing import Any

import httpx
import pytest
from support.emulator_fixtures import EmulatorFactory

from dotsync.emulator import AccountSettings, EmulatorSettings, RunningEmulator

from .conftest import ApiFactory, create_book, import_csv, wait_v2

EMPTY_REPORT = dict.fromkeys(
    (
        "newContacts",
        "updatedContacts",
        "globallySuppressed",
        "invalidEntries",
        "duplicateEmails",
        "blocked",
        "unsubscribed",
        "hardBounced",
        "softBounced",
        "ispComplaints",
        "mailBlocked",
        "domainSuppressed",
        "pendingDoubleOptin",
        "failures",
        "suppressedContacts",
    ),
    0,
)


def _members(api: httpx.Client, book: int) -> dict[str, dict[str, Any]]:
    return {
        c["email"]: {f["key"]: f["value"] for f in c["dataFields"]}
        for c in api.get(
            f"/v2/address-books/{book}/contacts", params={"withFullData": "true"}
        ).json()
    }


def _faults(api: httpx.Client, import_id: str) -> list[list[str]]:
    reply = api.get(f"/v2/contacts/import/{import_id}/report-faults")
    assert reply.status_code == 200
    assert reply.content.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(reply.content.decode("utf-8-sig"))))


def test_multipart_with_any_part_name(api: httpx.Client) -> None:
    book = create_book(api)
    reply = api.post(
        f"/v2/address-books/{book}/contacts/import",
        files={"anything": ("people.csv", b"EMAIL,firstname\na@example.com,A\n")},
    )
    assert reply.status_code == 202
    assert wait_v2(api, reply.json()["id"]) == "Finished"
    assert _members(api, book)["a@example.com"]["FIRSTNAME"] == "A"


def test_multipart_part_without_filename_is_refused(api: httpx.Client) -> None:
    book = create_book(api)
    reply = api.post(
        f"/v2/address-books/{book}/contacts/import",
        data={"file": "Email\na@example.com\n"},
        files={"x": (None, b"no name")},
    )
    assert reply.status_code == 400
    assert reply.json() == {"message": "file must be valid"}


def test_json_base64_upload(api: httpx.Client) -> None:
    book = create_book(api)
    data = base64.b64encode(b"Email,LastName\nb@example.com,Bee\n").decode()
    reply = api.post(
        f"/v2/address-books/{book}/contacts/import", json={"FileName": "b.csv", "Data": data}
    )
    assert reply.status_code == 202
    assert wait_v2(api, reply.json()["id"]) == "Finished"
    assert _members(api, book)["b@example.com"]["LASTNAME"] == "Bee"


def test_file_without_email_column_is_refused(api: httpx.Client) -> None:
    reply = api.post(
        f"/v2/address-books/{create_book(api)}/contacts/import",
        files={"f": ("x.csv", b"Name\nAnn\n")},
    )
    assert reply.status_code == 400
    assert reply.json()["message"].endswith(". ERROR_NO_EMAIL_COLUMN")


def test_report_and_faults_match_what_happened(api: httpx.Client) -> None:
    book = create_book(api)
    api.post("/v2/contacts", json={"email": "old@example.com"})
    text = (
        "Email,FirstName,Shoe\nold@example.com,Old,1\nnew@example.com,New,2\n"
        "broken,Bad,3\nnew@example.com,Dup,4\nlong@example.com," + "x" * 256 + ",5\n"
    )
    import_id = import_csv(api, book, text)
    assert wait_v2(api, import_id) == "Finished"
    report = api.get(f"/v2/contacts/import/{import_id}/report").json()
    assert report == {
        **EMPTY_REPORT,
        "newContacts": 1,
        "updatedContacts": 1,
        "invalidEntries": 1,
        "duplicateEmails": 1,
        "failures": 1,
    }
    assert _faults(api, import_id) == [
        ["Reason", "email", "FirstName", "Shoe"],
        ["Invalid Email", "broken", "Bad", "3"],
        ["Duplicate", "new@example.com", "Dup", "4"],
        ["Failures", "long@example.com", "x" * 256, "5"],
    ]
    assert set(_members(api, book)) == {"old@example.com", "new@example.com"}


def test_report_before_the_end_is_not_found(
    emulator_factory: EmulatorFactory, api_for: ApiFactory
) -> None:
    emu = emulator_factory(import_rate=20)
    api = api_for(emu)
    import_id = import_csv(
        api, create_book(api), "Email\n" + "".join(f"r{i}@example.com\n" for i in range(10))
    )
    assert api.get(f"/v2/contacts/import/{import_id}").json()["status"] == "NotFinished"
    reply = api.get(f"/v2/contacts/import/{import_id}/report")
    assert reply.json() == {
        "message": "Import is not processed yet or completed with error. "
        "ERROR_IMPORT_REPORT_NOT_FOUND"
    }
    assert wait_v2(api, import_id) == "Finished"


def test_unknown_import_id(api: httpx.Client) -> None:
    reply = api.get("/v2/contacts/import/00000000-0000-0000-0000-000000000000")
    assert reply.status_code == 404
    assert reply.json()["message"].endswith(". ERROR_IMPORT_NOT_FOUND")


@pytest.mark.parametrize(
    ("merge", "first", "last"),
    [
        (None, "New", None),
        ("Overwrite", "New", None),
        ("OnlyOverwriteIfNotEmpty", "New", "Lee"),
        ("OnlyOverwriteIfContactDataNotPopulated", "Old", "Lee"),
    ],
)
def test_merge_options(api: httpx.Client, merge: str | None, first: str, last: str | None) -> None:
    book = create_book(api)
    api.post(
        f"/v2/address-books/{book}/contacts",
        json={
            "email": "m@example.com",
            "dataFields": [
                {"key": "FIRSTNAME", "value": "Old"},
                {"key": "LASTNAME", "value": "Lee"},
            ],
        },
    )
    import_id = import_csv(
        api, book, "Email,FirstName,LastName,Gender\nm@example.com,New,,x\n", merge
    )
    assert wait_v2(api, import_id) == "Finished"
    fields = _members(api, book)["m@example.com"]
    assert (fields["FIRSTNAME"], fields["LASTNAME"], fields["GENDER"]) == (first, last, "x")


@pytest.mark.parametrize(
    ("status", "counter", "reason"),
    [
        ("Unsubscribed", "unsubscribed", "Unsubscribed"),
        ("HardBounced", "hardBounced", "Hard bounced"),
        ("SoftBounced", "softBounced", "Soft bounced"),
        ("IspComplained", "ispComplaints", "Complained to ISP"),
        ("MailBlocked", "mailBlocked", "Mail blocked"),
        ("Suppressed", "globallySuppressed", "Globally Suppressed"),
    ],
)
def test_suppressed_contacts_are_never_resubscribed(
    emulator: RunningEmulator, api: httpx.Client, status: str, counter: str, reason: str
) -> None:
    book = create_book(api)
    emulator.suppress(emulator.credentials[0], "gone@example.com", status)
    import_id = import_csv(api, book, "Email,FirstName\ngone@example.com,G\nok@example.com,O\n")
    assert wait_v2(api, import_id) == "Finished"
    report = api.get(f"/v2/contacts/import/{import_id}/report").json()
    assert report == {**EMPTY_REPORT, "newContacts": 1, counter: 1, "suppressedContacts": 1}
    assert _faults(api, import_id)[1] == [reason, "gone@example.com", "G"]
    assert set(_members(api, book)) == {"ok@example.com"}
    assert api.get("/v2/contacts/gone@example.com").json()["status"] == status


def test_global_domain_and_book_suppressions(emulator: RunningEmulator, api: httpx.Client) -> None:
    user = emulator.credentials[0]
    book = create_book(api)
    emulator.suppress(user, "trap@example.com", "Suppressed", global_=True)
    emulator.suppress(user, "anyone@blocked.example", "DomainSuppression", scope="domain")
    api.post(f"/v2/address-books/{book}/contacts", json={"email": "left@example.com"})
    api.post(f"/v2/address-books/{book}/contacts/unsubscribe", json={"email": "left@example.com"})
    text = "Email\ntrap@example.com\nx@blocked.example\nleft@example.com\nfine@example.com\n"
    import_id = import_csv(api, book, text)
    assert wait_v2(api, import_id) == "Finished"
    report = api.get(f"/v2/contacts/import/{import_id}/report").json()
    assert (
        report["globallySuppressed"],
        report["domainSuppressed"],
        report["unsubscribed"],
        report["newContacts"],
        report["suppressedContacts"],
    ) == (1, 1, 1, 1, 3)
    assert set(_members(api, book)) == {"fine@example.com"}


def test_at_most_25_active_imports(emulator_factory: EmulatorFactory, api_for: ApiFactory) -> None:
    api = api_for(emulator_factory(import_rate=0.01))  # the first import takes 100 s
    book = create_book(api)
    for index in range(25):
        import_csv(api, book, f"Email\nslow{index}@example.com\n")
    reply = api.post(
        f"/v2/address-books/{book}/contacts/import",
        files={"f": ("x.csv", b"Email\nmore@example.com\n")},
    )
    assert reply.status_code == 400
    assert reply.json()["message"].endswith(". ERROR_IMPORT_TOOMANYACTIVEIMPORTS")


def test_file_size_limit(emulator_factory: EmulatorFactory, api_for: ApiFactory) -> None:
    api = api_for(emulator_factory(max_file_bytes=1000))
    book = create_book(api)
    big = "Email\n" + "".join(f"user{i:05}@example.com\n" for i in range(60))
    assert len(big) > 1000
    reply = api.post(f"/v2/address-books/{book}/contacts/import", files={"f": ("b.csv", big)})
    assert reply.status_code == 400
    assert EmulatorSettings().max_file_bytes == 50 * 1024 * 1024


def test_contact_limit(emulator_factory: EmulatorFactory, api_for: ApiFactory) -> None:
    emu = emulator_factory(accounts=[AccountSettings(contact_limit=3)])
    api = api_for(emu)
    book = create_book(api)
    first = import_csv(api, book, "Email\na@example.com\nb@example.com\n")
    assert wait_v2(api, first) == "Finished"
    second = import_csv(api, book, "Email\na@example.com\nc@example.com\nd@example.com\n")
    assert wait_v2(api, second) == "ExceedsAllowedContactLimit"
    assert set(_members(api, book)) == {"a@example.com", "b@example.com"}


def test_watchdog_rejects_a_file_with_too_many_bad_rows(
    emulator_factory: EmulatorFactory, api_for: ApiFactory
) -> None:
    api = api_for(emulator_factory(watchdog_max_bad_share=0.5))
    book = create_book(api)
    bad = import_csv(api, book, "Email\nbad1\nbad2\nok@example.com\n")
    assert wait_v2(api, bad) == "RejectedByWatchdog"
    assert api.get(f"/v2/address-books/{book}").json()["contacts"] == 0
    fine = import_csv(api, book, "Email\nbad1\nok@example.com\n")
    assert wait_v2(api, fine) == "Finished"


def test_import_rate_paces_processing(
    emulator_factory: EmulatorFactory, api_for: ApiFactory
) -> None:
    api = api_for(emulator_factory(import_rate=100))
    book = create_book(api)
    started = time.monotonic()
    import_id = import_csv(api, book, "Email\n" + "".join(f"p{i}@example.com\n" for i in range(50)))
    assert wait_v2(api, import_id) == "Finished"
    assert time.monotonic() - started >= 0.45
    assert api.get(f"/v2/address-books/{book}").json()["contacts"] == 50


def test_injected_import_failure(emulator: RunningEmulator, api: httpx.Client) -> None:
    emulator.set_faults({"failed_imports": 1})
    book = create_book(api)
    assert wait_v2(api, import_csv(api, book, "Email\na@example.com\n")) == "Failed"
    assert wait_v2(api, import_csv(api, book, "Email\na@example.com\n")) == "Finished"


def test_typed_columns_and_unknown_columns(api: httpx.Client) -> None:
    api.post("/v2/data-fields", json={"name": "SCORE", "type": "Numeric"})
    book = create_book(api)
    text = "email,score,unmapped\na@example.com,7,x\nb@example.com,seven,y\n"
    import_id = import_csv(api, book, text)
    assert wait_v2(api, import_id) == "Finished"
    assert _members(api, book) == {
        "a@example.com": {**_members(api, book)["a@example.com"], "SCORE": 7}
    }
    assert api.get(f"/v2/contacts/import/{import_id}/report").json()["failures"] == 1
