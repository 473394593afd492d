"""Editing dotsync.toml from the console: comments kept, the CLI's validation, stale forms refused,
atomic writes that keep the file's mode, passwords in an owner-only file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import tomlkit

from dotsync.config import load_config
from dotsync.console.project import (
    NO_FILE,
    InvalidEditError,
    ProjectFile,
    StaleRevisionError,
    copy_entry,
    remove_entry,
    table_at,
    update_table,
    write_password,
)
from dotsync.secrets import resolve_password

CONFIG = """\
# The team's export: keep this comment.
[source]
path = "profiles.csv"  # exported nightly
key = "customer_id"

[segments.vip]
where = "ltv > 1000"

[connections.dd]
api_user = "apiuser@example.invalid"
password_env = "DD_PASSWORD"
address_book_id = 12
privacy_acknowledged = true

[exports.news]
connection = "dd"
segments = ["vip"]

[exports.news.mapping]
email = "email"
"""


@pytest.fixture
def project(tmp_path: Path) -> ProjectFile:
    path = tmp_path / "dotsync.toml"
    path.write_text(CONFIG, encoding="utf-8")
    path.chmod(0o640)
    return ProjectFile(path)


def test_an_edit_keeps_comments_and_layout_and_the_cli_reads_it(project: ProjectFile) -> None:
    revision = project.read().revision

    def add_schedule(doc: tomlkit.TOMLDocument) -> None:
        update_table(table_at(doc, "exports", "news"), {"schedule": "0 6 * * *"})

    config = project.save(revision, add_schedule)

    text = project.path.read_text(encoding="utf-8")
    assert "# The team's export: keep this comment." in text
    assert 'path = "profiles.csv"  # exported nightly' in text
    assert config.exports["news"].schedule == "0 6 * * *"
    assert load_config(project.path).exports["news"].schedule == "0 6 * * *"
    assert project.read().revision != revision


def test_the_file_keeps_its_mode(project: ProjectFile) -> None:
    project.save(project.read().revision, lambda doc: None)
    assert stat.S_IMODE(project.path.stat().st_mode) == 0o640
    assert [p.name for p in project.folder.iterdir()] == ["dotsync.toml"]  # no temp file left


def test_a_form_drawn_before_an_edit_on_disk_is_refused(project: ProjectFile) -> None:
    drawn = project.read().revision
    project.path.write_text(CONFIG.replace("ltv > 1000", "ltv > 5000"), encoding="utf-8")

    def change(doc: tomlkit.TOMLDocument) -> None:
        update_table(table_at(doc, "segments", "vip"), {"where": "ltv > 10"})

    with pytest.raises(StaleRevisionError):
        project.save(drawn, change)
    assert "ltv > 5000" in project.path.read_text(encoding="utf-8")  # the other edit survives


def test_an_invalid_edit_names_each_key_and_writes_nothing(project: ProjectFile) -> None:
    def break_it(doc: tomlkit.TOMLDocument) -> None:
        update_table(
            table_at(doc, "exports", "news"),
            {"schedule": "every day", "on_segment_exit": "vanish"},
        )

    with pytest.raises(InvalidEditError) as caught:
        project.save(project.read().revision, break_it)
    problems = dict(caught.value.problems)
    assert "is not a cron expression" in problems["exports.news.schedule"]
    assert "'remove', 'keep' or 'unsubscribe'" in problems["exports.news.on_segment_exit"]
    assert project.path.read_text(encoding="utf-8") == CONFIG


def test_a_cross_reference_names_its_key(project: ProjectFile) -> None:
    def unknown_segment(doc: tomlkit.TOMLDocument) -> None:
        update_table(table_at(doc, "exports", "news"), {"segments": ["vipp"]})

    with pytest.raises(InvalidEditError) as caught:
        project.save(project.read().revision, unknown_segment)
    [(key, message)] = caught.value.problems
    assert key == "exports.news.segments"
    assert "did you mean 'vip'?" in message


def test_a_new_project_starts_from_no_file(tmp_path: Path) -> None:
    project = ProjectFile(tmp_path / "dotsync.toml")
    assert project.read().revision == NO_FILE

    def source(doc: tomlkit.TOMLDocument) -> None:
        update_table(table_at(doc, "source"), {"path": "people.parquet", "key": "id"})

    project.save(NO_FILE, source)
    assert load_config(project.path).source.key == "id"
    with pytest.raises(StaleRevisionError):  # a second "new project" form is now stale
        project.save(NO_FILE, source)


def test_added_removed_and_copied_tables_stay_apart(project: ProjectFile) -> None:
    def edit(doc: tomlkit.TOMLDocument) -> None:
        update_table(table_at(doc, "segments", "churn"), {"where": "score > 0.8"})
        copy_entry(doc, "exports", "news", "news_copy")
        update_table(table_at(doc, "exports", "news_copy"), {"segments": ["churn"]})
        remove_entry(doc, "exports", "news")

    config = project.save(project.read().revision, edit)

    text = project.path.read_text(encoding="utf-8")
    assert list(config.exports) == ["news_copy"]
    assert config.exports["news_copy"].mapping.email == "email"
    assert '[segments.churn]\nwhere = "score > 0.8"\n\n[connections.dd]' in text
    assert "\n\n\n" not in text


def test_a_password_goes_to_an_owner_only_file_named_in_the_config(
    project: ProjectFile,
) -> None:
    relative = write_password(project.folder, "dd", "s3cret-typed")

    def use_file(doc: tomlkit.TOMLDocument) -> None:
        update_table(
            table_at(doc, "connections", "dd"), {"password_file": relative, "password_env": None}
        )

    config = project.save(project.read().revision, use_file)

    secret = project.folder / relative
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(secret.parent.stat().st_mode) == 0o700
    assert (secret.parent / ".gitignore").read_text(encoding="utf-8") == "*\n"
    assert "s3cret-typed" not in project.path.read_text(encoding="utf-8")
    password = resolve_password(config.connections["dd"], name="dd")
    assert password.get_secret_value() == "s3cret-typed"
