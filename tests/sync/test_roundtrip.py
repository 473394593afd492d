"""Property: any string value survives the trip to DotDigital unchanged, or is rejected with a
reason. Profiles → DuckDB → validation → v3 import body → the emulator over HTTP → read back."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.project import PASSWORD_ENV, Project

from dotsync.emulator import RunningEmulator

BLANK = " \t\r\n"


@pytest.mark.long
@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=st.lists(st.text(max_size=300), min_size=1, max_size=8))
def test_any_string_arrives_unchanged_or_is_rejected_with_a_reason(
    values: list[str],
    emulator: RunningEmulator,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tmp_path_factory.mktemp("roundtrip")
    user, password = emulator.credentials
    monkeypatch.setenv(PASSWORD_ENV, password)
    with emulator.client() as api:
        book = int(api.post("/v2/address-books", json={"name": folder.name}).json()["id"])
    keys = [f"K{i}" for i in range(len(values))]
    emails = [f"trip{i}.{folder.name}@example.com".lower() for i in range(len(values))]
    pq.write_table(
        pa.table(
            {
                "customer_id": keys,
                "email": emails,
                "first_name": values,
                "note": values[::-1],
                "lifetime_value": [1000] * len(values),
                "tier": ["x"] * len(values),
            }
        ),
        folder / "profiles.parquet",
    )
    project = Project(folder=folder, emulator=emulator, book_id=book, api_user=user)
    project.write_config(
        mapping={"email": "email", "first_name": "first_name", "data_fields": {"NOTE": "note"}}
    )
    text = project.config_path.read_text().replace('"profiles.csv"', '"profiles.parquet"')
    project.config_path.write_text(text)

    result = project.run()

    members = project.members()
    rejected: dict[str, str] = {}
    if result.rejects_file:
        with Path(result.rejects_file).open(encoding="utf-8", newline="") as fh:
            rejected = {row["key"]: row["reason"] for row in csv.DictReader(fh)}
    for key, email, first, note in zip(keys, emails, values, values[::-1], strict=True):
        if len(first) > 255 or len(note) > 255:
            assert rejected[key] == "value_too_long"
            assert email not in members
            continue
        assert key not in rejected
        fields = members[email]["dataFields"]
        # Blank values are not sent (they would erase what DotDigital holds): nothing stored.
        assert fields.get("FIRSTNAME") == (None if first.strip(BLANK) == "" else first)
        assert fields.get("NOTE") == (None if note.strip(BLANK) == "" else note)
