"""v3 import bodies encoded by DuckDB: valid JSON, under the size limit, nothing empty sent."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from dotsync.encode import EncodeOptions, encode_batches


def _to_send(rows: int) -> duckdb.DuckDBPyConnection:
    duck = duckdb.connect()
    duck.execute(
        f"""create table to_send as select 'k' || i as key, 'u' || i || '@example.com' as email,
        sha256('u' || i) as email_hash, md5(i::varchar) as digest,
        case when i % 2 = 0 then 'Ann "the" ' || i || E'\\n;,=' else null end as "f_FIRSTNAME",
        'Lee' as "f_LASTNAME"
        from range({rows}) t(i)"""
    )
    return duck


def test_bodies_are_v3_imports_without_empty_values(tmp_path: Path) -> None:
    duck = _to_send(10)
    batches = encode_batches(
        duck, ["FIRSTNAME", "LASTNAME"], EncodeOptions(address_book_id=42), tmp_path
    )
    assert len(batches) == 1
    body = json.loads(batches[0].body_file.read_bytes())
    assert body["mergeOption"] == "overwrite"
    first, second = body["contacts"][0], body["contacts"][1]
    assert first["identifiers"] == {"email": "u0@example.com"}
    assert first["dataFields"] == {"FIRSTNAME": 'Ann "the" 0\n;,=', "LASTNAME": "Lee"}
    assert second["dataFields"] == {"LASTNAME": "Lee"}  # the NULL first name is not sent
    assert first["lists"] == [42]
    assert "channelProperties" not in first  # subscription status never sent unless asked
    members = pq.read_table(batches[0].members_file)
    assert members.column_names == ["key", "email_hash", "digest"]
    assert members.num_rows == 10
    assert batches[0].body_file.stat().st_mode & 0o077 == 0


def test_send_empty_values_and_status_when_asked(tmp_path: Path) -> None:
    duck = _to_send(2)
    options = EncodeOptions(
        address_book_id=1, send_empty_values=True, subscription_status="subscribed"
    )
    batches = encode_batches(duck, ["FIRSTNAME"], options, tmp_path)
    contacts = json.loads(batches[0].body_file.read_bytes())["contacts"]
    assert contacts[1]["dataFields"] == {"FIRSTNAME": None}
    assert contacts[0]["channelProperties"] == {"email": {"status": "subscribed"}}


@pytest.mark.parametrize(
    ("max_bytes", "max_contacts"), [(2_000, 1_000), (10**9, 7)], ids=["by-bytes", "by-count"]
)
def test_batches_respect_both_limits(tmp_path: Path, max_bytes: int, max_contacts: int) -> None:
    duck = _to_send(50)
    options = EncodeOptions(address_book_id=1, max_body_bytes=max_bytes, max_contacts=max_contacts)
    batches = encode_batches(duck, ["FIRSTNAME", "LASTNAME"], options, tmp_path)
    assert len(batches) > 1
    keys: list[str] = []
    for batch in batches:
        body = json.loads(batch.body_file.read_bytes())
        assert len(body["contacts"]) == batch.contacts <= max_contacts
        if max_bytes < 10**9:
            assert batch.size <= max_bytes + 64  # the envelope is outside the per-row budget
        keys += pq.read_table(batch.members_file).column("key").to_pylist()
    assert sorted(keys) == sorted(f"k{i}" for i in range(50))  # each contact exactly once


def test_nothing_to_send_writes_nothing(tmp_path: Path) -> None:
    duck = _to_send(0)
    assert encode_batches(duck, ["FIRSTNAME"], EncodeOptions(address_book_id=1), tmp_path) == []


def test_rows_taken_out_before_encoding_leave_gaps_not_losses(tmp_path: Path) -> None:
    # Held-back members are deleted from to_send: batches are ranges of row ids, so a batch may
    # be smaller, or vanish, but every remaining row is sent once and none that was deleted.
    duck = _to_send(50)
    duck.execute("delete from to_send where cast(substr(key, 2) as int) % 3 = 0")
    duck.execute("delete from to_send where cast(substr(key, 2) as int) between 20 and 29")
    options = EncodeOptions(address_book_id=1, max_contacts=7)
    batches = encode_batches(duck, ["LASTNAME"], options, tmp_path)

    sent = [c["identifiers"]["email"] for b in batches
            for c in json.loads(b.body_file.read_bytes())["contacts"]]  # fmt: skip
    expected = {f"u{i}@example.com" for i in range(50) if i % 3 and not 20 <= i <= 29}
    assert sorted(sent) == sorted(expected)
    assert [b.seq for b in batches] == list(range(len(batches)))
    assert all(0 < b.contacts <= 7 for b in batches)
    assert sum(b.contacts for b in batches) == len(expected)
    assert sum(pq.read_table(b.members_file).num_rows for b in batches) == len(expected)


def test_any_text_survives_the_encoding(tmp_path: Path) -> None:
    awkward = ['back\\slash', "tab\there", "ctrl\x01\x1f", "pipe|semi;", "Zoë 東京 🙂",
               '{"json": [1]}', "line\r\nend", "\\x01", "'quoted'"]  # fmt: skip
    duck = duckdb.connect()
    duck.execute("create table to_send (key varchar, email varchar, email_hash varchar, "
                 'digest varchar, "f_FIRSTNAME" varchar)')  # fmt: skip
    duck.executemany(
        "insert into to_send values (?, ?, 'h', 'd', ?)",
        [(f"k{i}", f"u{i}@example.com", text) for i, text in enumerate(awkward)],
    )
    batches = encode_batches(duck, ["FIRSTNAME"], EncodeOptions(address_book_id=3), tmp_path)
    contacts = json.loads(batches[0].body_file.read_bytes())["contacts"]
    by_email = {c["identifiers"]["email"]: c["dataFields"]["FIRSTNAME"] for c in contacts}
    assert by_email == {f"u{i}@example.com": text for i, text in enumerate(awkward)}
