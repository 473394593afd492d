"""End to end against the emulator over HTTP: keys are text exactly as written, a key shared by
several rows rejects them all, keys stored rewritten by 0.1 are renamed without anyone leaving,
and a declared data field type the account does not have stops the run before sending."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest
from support.pg import scratch_schema
from support.project import Project, profile

from dotsync.config import load_config
from dotsync.errors import ConnectionCheckError
from dotsync.result import RunStatus
from dotsync.runner import plan_export
from dotsync.state import StateStore

WRITTEN_KEYS = ["1.50", "2.25", "10.10", "00123"]


def book_via_api(project: Project) -> dict[str, dict[str, Any]]:
    """The address book read back through DotDigital's API: e-mail → data fields."""
    members: dict[str, dict[str, Any]] = {}
    with project.emulator.client() as api:
        skip = 0
        while True:
            reply = api.get(
                f"/v2/address-books/{project.book_id}/contacts",
                params={"withFullData": "true", "select": 1000, "skip": skip},
            )
            assert reply.status_code == 200, reply.text
            page = reply.json()
            for contact in page:
                fields = {f["key"]: f["value"] for f in contact.get("dataFields") or []}
                members[contact["email"].lower()] = fields
            if len(page) < 1000:
                return members
            skip += len(page)


def import_calls(project: Project) -> int:
    return sum(n for call, n in project.emulator.calls().items() if "import" in call)


def stored_keys(project: Project) -> set[str]:
    config = load_config(project.config_path)
    store = StateStore(config.state.url)
    try:
        duck = duckdb.connect()
        store.members.register(duck, "news", project.book_id)
        keys = {str(k) for (k,) in duck.execute("SELECT key FROM state_members").fetchall()}
        store.members.close()
        duck.close()
        return keys
    finally:
        store.close()


@pytest.mark.parametrize(
    "keys", [WRITTEN_KEYS, WRITTEN_KEYS[:3]], ids=["with-leading-zeros", "decimals-only"]
)
def test_numeric_looking_keys_are_exported_as_written(project: Project, keys: list[str]) -> None:
    rows = [profile(i, customer_id=key) for i, key in enumerate(keys)]
    project.write_profiles(rows)
    # A table file keyed the same way, joined by segment SQL: keys compare as written.
    (project.folder / "orders.csv").write_text("customer_id,total\n1.50,10\n10.10,20\n")
    config = project.config_path
    project.write_config()
    text = config.read_text().replace(
        'segments = ["valuable"]', 'segments = ["valuable", "buyers"]'
    )
    text = text.replace(
        "[segments.valuable]",
        '[source.tables]\norders = "orders.csv"\n'
        "[segments.buyers]\n"
        'sql = "select p.customer_id from profiles p join orders o using (customer_id)"\n'
        "[segments.valuable]",
    )
    config.write_text(text)

    result = project.run()

    assert result.status is RunStatus.SUCCEEDED, result.counts.rejected_by_reason
    assert (result.counts.valid, result.counts.rejected, result.counts.created) == (
        len(keys),
        0,
        len(keys),
    )
    assert result.counts.segment_sizes == {"valuable": len(keys), "buyers": 2}
    book = book_via_api(project)
    assert {email: fields["FIRSTNAME"] for email, fields in book.items()} == {
        f"person{i}@example.com": f"Ann{i}" for i in range(len(keys))
    }
    assert stored_keys(project) == set(keys)
    again = project.run()
    assert (again.counts.unchanged, again.counts.sent, again.counts.left) == (len(keys), 0, 0)


def test_rows_sharing_a_key_are_all_rejected_counted_and_listed(project: Project) -> None:
    rows = [profile(i) for i in range(4)]
    project.write_profiles(rows)
    project.write_config()
    project.run()
    # C00001 now has two rows: which is the member cannot be told, so neither is sent, and its
    # contact stays in the book (a rejected row is still in its segment).
    rows.append(profile(9, customer_id="C00001", email="other@example.com"))
    rows.append(profile(10, customer_id="C00010"))
    rows.append(profile(11, customer_id="C00010"))
    project.write_profiles(rows)

    result = project.run()

    c = result.counts
    assert result.status is RunStatus.PARTIAL
    assert (c.rejected, c.rejected_by_reason) == (4, {"duplicate_key": 4})
    assert (c.valid, c.entered, c.left, c.removed) == (3, 0, 0, 0)
    assert result.rejects_file is not None
    with result.rejects_file.open(newline="", encoding="utf-8") as fh:
        listed = sorted((r["key"], r["reason"], r["detail"]) for r in csv.DictReader(fh))
    detail = "2 profile rows have this key; keys must be unique"
    assert listed == [
        ("C00001", "duplicate_key", detail),
        ("C00001", "duplicate_key", detail),
        ("C00010", "duplicate_key", detail),
        ("C00010", "duplicate_key", detail),
    ]
    assert set(book_via_api(project)) == {f"person{i}@example.com" for i in range(4)}


@pytest.fixture
def pg_state(pg_url: str) -> Iterator[str]:
    with scratch_schema(pg_url, "dotsync_keys") as (name, _):
        yield f"{pg_url}?options=-csearch_path%3D{name}"


def write_json_profiles(project: Project, keys: list[object]) -> None:
    """profiles.json with raw JSON keys (numbers stay numbers), the source switched to it."""
    rows = [json.dumps({**profile(i), "customer_id": "KEY"}) for i in range(len(keys))]
    text = "\n".join(
        row.replace('"KEY"', key if isinstance(key, str) and key.isdigit() else json.dumps(key))
        for row, key in zip(rows, keys, strict=True)
    )
    (project.folder / "profiles.json").write_text(text + "\n", encoding="utf-8")
    config = project.config_path.read_text().replace('"profiles.csv"', '"profiles.json"')
    project.config_path.write_text(config)


# 0.1 stored a key read as a number as the number's text. For CSV keys the upgrade meets, the
# state such a run left is the one an export of keys written that way leaves; JSON number keys
# (2 as '2.0', a 20-digit id as '1e+20') were stored so by 0.1 itself. "X9" keeps the CSV's key
# column text for both versions' sniffers.
UPGRADES = {
    "csv": (["1.5", "2.25", "10.1", "123", "X9"], ["1.50", "2.25", "10.10", "00123", "X9"]),
    "json": (["2.0", "1e+20", "7.0"], ["2", "100000000000000000001", "7"]),
}


@pytest.mark.parametrize(
    ("kind", "state"), [("csv", "sqlite"), ("csv", "postgres"), ("json", "sqlite")]
)
def test_keys_stored_rewritten_by_0_1_are_renamed_and_nobody_leaves(
    project: Project, kind: str, state: str, request: pytest.FixtureRequest
) -> None:
    if state == "postgres":
        project.state_url = request.getfixturevalue("pg_state")
    as_numbers, written = UPGRADES[kind]
    project.write_profiles([profile(i, customer_id=key) for i, key in enumerate(as_numbers)])
    project.write_config()
    first = project.run()
    assert first.counts.created == len(as_numbers)
    assert stored_keys(project) == set(as_numbers)
    before = book_via_api(project)
    project.emulator.reset_calls()

    # The same profiles, their keys as the file always had them.
    if kind == "csv":
        project.write_profiles([profile(i, customer_id=key) for i, key in enumerate(written)])
    else:
        write_json_profiles(project, list(written))
    dry = plan_export(load_config(project.config_path), "news")
    assert (dry.counts.entered, dry.counts.left, dry.counts.unchanged) == (0, 0, len(written))
    assert stored_keys(project) == set(as_numbers)  # a dry run writes nothing

    upgraded = project.run()

    c = upgraded.counts
    assert (c.entered, c.changed, c.left, c.unchanged) == (0, 0, 0, len(written))
    assert (c.sent, c.removed) == (0, 0)
    assert import_calls(project) == 0
    assert not any("delete" in call.lower() for call in project.emulator.calls())
    assert stored_keys(project) == set(written)
    assert book_via_api(project) == before
    after = project.run()
    assert (after.counts.unchanged, after.counts.sent, after.counts.left) == (len(written), 0, 0)


def test_a_rewritten_key_is_not_renamed_without_the_same_email(project: Project) -> None:
    project.write_profiles([profile(0, customer_id="123"), profile(1, customer_id="7")])
    project.write_config()
    project.run()
    # 00123 is someone else now (another e-mail): 123 leaves, 00123 enters.
    project.write_profiles(
        [profile(0, customer_id="00123", email="new@example.com"), profile(1, customer_id="7")]
    )
    result = project.run()
    assert (result.counts.entered, result.counts.left, result.counts.removed) == (1, 1, 1)
    assert set(book_via_api(project)) == {"new@example.com", "person1@example.com"}
    assert stored_keys(project) == {"00123", "7"}


def _numeric_score_account(project: Project) -> None:
    with project.emulator.client() as api:
        reply = api.post(
            "/v2/data-fields", json={"name": "SCORE", "type": "Numeric", "visibility": "Private"}
        )
        assert reply.status_code in (200, 201), reply.text


def test_a_declared_type_the_account_does_not_have_stops_before_sending(
    project: Project,
) -> None:
    _numeric_score_account(project)
    project.write_profiles([profile(i) for i in range(3)])
    mapping = {
        "email": "email",
        "data_fields": {"SCORE": {"column": "lifetime_value", "type": "String"}},
    }
    project.write_config(mapping=mapping)
    project.emulator.reset_calls()
    expected = "data field SCORE is Numeric in the DotDigital account but mapped as String"

    with pytest.raises(ConnectionCheckError, match=expected):
        plan_export(load_config(project.config_path), "news")
    with pytest.raises(ConnectionCheckError, match=expected):
        project.run()

    assert import_calls(project) == 0
    assert book_via_api(project) == {}


def test_an_undeclared_type_follows_the_account_and_rejects_rows_that_do_not_fit(
    project: Project,
) -> None:
    _numeric_score_account(project)
    rows = [profile(i) for i in range(3)]
    rows[1]["tier"] = "12.50"
    project.write_profiles(rows)
    project.write_config(mapping={"email": "email", "data_fields": {"SCORE": "tier"}})

    result = project.run()

    assert result.counts.rejected_by_reason == {"invalid_number": 2}
    book = book_via_api(project)
    assert {email: fields["SCORE"] for email, fields in book.items()} == {
        "person1@example.com": 12.5
    }


def test_connect_plan_and_export_commands_name_the_field_and_both_types(
    project: Project,
) -> None:
    from cli.cli_support import Cli

    _numeric_score_account(project)
    project.write_profiles([profile(0)])
    project.write_config(
        mapping={"email": "email", "data_fields": {"SCORE": {"column": "tier", "type": "String"}}}
    )
    _, password = project.emulator.credentials
    cli = Cli(project, env={"DOTSYNC_TEST_DD_PASSWORD": password})
    message = "data field SCORE is Numeric in the DotDigital account but mapped as String"
    for args in (("connect", "dd"), ("plan", "news"), ("export", "news")):
        outcome = cli.run(*args)
        assert outcome.code == 3, (args, outcome.text)
        assert message in " ".join(outcome.text.split()), (args, outcome.text)
    assert import_calls(project) == 0
    assert book_via_api(project) == {}
