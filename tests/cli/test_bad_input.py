"""Dirty source data through ``dotsync export``: each bad row is rejected with its reason, every
good row arrives with its values unchanged (as the emulator stores them), and nothing crashes.

The cases are data files in tests/data: ``bad_input.csv`` (its ``expected`` column is each row's
outcome), ``profiles_latin1.csv`` (a byte that is not UTF-8) and ``bad_input_nulls.json``."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

from cli.cli_support import Cli, DataFieldMaker
from support.project import Project

DATA = Path(__file__).parents[1] / "data"


def _configure(
    project: Project, source: str, mapping: str, segment: str = 'where = "true"'
) -> None:
    shutil.copy(DATA / source, project.folder / source)
    project.config_path.write_text(
        f"""
[source]
path = "{source}"
key = "customer_id"
[segments.everyone]
{segment}
[connections.dd]
api_user = "{project.api_user}"
password_env = "DOTSYNC_TEST_DD_PASSWORD"
address_book_id = {project.book_id}
privacy_acknowledged = true
api_url = "{project.emulator.base_url}"
[exports.news]
connection = "dd"
segments = ["everyone"]
[exports.news.mapping]
email = "email"
{mapping}
""",
        encoding="utf-8",
    )


def _export(cli: Cli) -> dict[str, Any]:
    done = cli.run("export", "news", "--json")
    assert done.code == 0, done.text
    (result,) = json.loads(done.stdout)
    return dict(result)


def _rejected(result: dict[str, Any]) -> dict[str, tuple[str, str]]:
    with Path(result["rejects_file"]).open(newline="", encoding="utf-8") as fh:
        return {r["key"]: (r["reason"], r["field"]) for r in csv.DictReader(fh)}


def test_bad_rows_are_rejected_with_reasons_and_good_values_arrive_unchanged(
    cli: Cli, project: Project, make_data_fields: DataFieldMaker
) -> None:
    make_data_fields({"AGE": "Numeric", "BIRTHDAY": "Date", "VIP": "Boolean", "NOTE": "String"})
    _configure(
        project,
        "bad_input.csv",
        'first_name = "first_name"\n'
        'data_fields = { AGE = "age", BIRTHDAY = "birthday", VIP = "vip", NOTE = "note" }',
    )
    with (DATA / "bad_input.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))

    result = _export(cli)

    rejected = _rejected(result)
    assert {key: reason for key, (reason, _) in rejected.items()} == {
        r["customer_id"]: r["expected"] for r in rows if r["expected"] != "valid"
    }
    assert rejected["00018"][1] == "AGE" and rejected["00019"][1] == "BIRTHDAY"
    good = [r for r in rows if r["expected"] == "valid"]
    assert result["counts"]["valid"] == result["counts"]["created"] == len(good)
    members = project.members()
    assert set(members) == {r["email"].strip().lower() for r in good}
    for row in good:
        fields = {
            k: v
            for k, v in members[row["email"].strip().lower()]["dataFields"].items()
            if v is not None
        }
        for column, field in (("first_name", "FIRSTNAME"), ("note", "NOTE")):
            if row[column]:
                assert fields[field] == row[column], (row["customer_id"], field)
            else:
                assert field not in fields  # empty values are not sent
    ann = members["ann@example.com"]["dataFields"]
    assert (ann["AGE"], ann["BIRTHDAY"][:10], ann["VIP"]) == (42, "1980-01-31", True)

    shown = cli.invoke("show-run", str(result["run_id"]), "--rows", "50")
    assert shown.code == 0
    assert all(key in shown.stdout for key in rejected)


def test_non_utf8_bytes_reject_the_row_not_the_run(cli: Cli, project: Project) -> None:
    _configure(project, "profiles_latin1.csv", 'first_name = "first_name"')
    result = _export(cli)
    members = project.members()
    assert set(members) == {"ann@example.com", "cy@example.com"}
    assert members["cy@example.com"]["dataFields"]["FIRSTNAME"] == "Zoë"
    assert set(_rejected(result)) == {"00124"}
    assert result["counts"]["rejected"] == 1


def test_nulls_markup_and_unicode(
    cli: Cli, project: Project, make_data_fields: DataFieldMaker
) -> None:
    make_data_fields({"SCORE": "Numeric"})
    _configure(
        project,
        "bad_input_nulls.json",
        'first_name = "first_name"\ndata_fields = { SCORE = "score" }',
    )
    result = _export(cli)
    rejected = _rejected(result)
    assert {k: r for k, (r, _) in rejected.items()} == {
        "N1": "missing_email",
        "N4": "invalid_email",
        "N5": "invalid_email",
    }
    members = project.members()
    assert set(members) == {"nulls@example.com", "markup@example.com", "unicode@example.com"}
    assert members["markup@example.com"]["dataFields"]["FIRSTNAME"] == "[bold]Bo[/bold] [/]"
    assert members["unicode@example.com"]["dataFields"]["FIRSTNAME"] == "Zoë 😀 \u00a0 ﷺ"
    assert members["unicode@example.com"]["dataFields"]["SCORE"] == -0.5
    assert members["nulls@example.com"]["dataFields"].get("FIRSTNAME") is None
    shown = cli.invoke("show-run", str(result["run_id"]))
    assert shown.code == 0 and "not a valid e-mail address" in shown.stdout
    assert "[/]@x" not in shown.stdout  # rejected-rows files quote no values: keys and reasons


def test_a_missing_mapped_column_stops_before_sending(cli: Cli, project: Project) -> None:
    _configure(project, "bad_input.csv", 'first_name = "given_name"')
    missing = cli.invoke("export", "news")
    assert missing.code == 2  # a configuration mistake: the mapping names a column not there
    assert (
        "exports.news.mapping.first_name: the profiles table has no column 'given_name'"
    ) in missing.stderr
    assert "Available columns: customer_id, email" in missing.stderr
    assert project.members() == {}


def test_an_unknown_segment_in_a_membership_file(cli: Cli, project: Project) -> None:
    (project.folder / "members.csv").write_text("segment,key\nvip,00001\n", encoding="utf-8")
    _configure(
        project,
        "bad_input.csv",
        "",
        segment='membership = { path = "members.csv", segment = "no-such-segment" }',
    )
    result = _export(cli)  # an empty segment is not an error: nobody is sent
    assert (result["counts"]["profiles_in_segments"], result["counts"]["sent"]) == (0, 0)
