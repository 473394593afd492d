"""The source page's checks: columns, live segment counts, SQL fenced to the project's folder and
stopped after a time limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from dotsync.config import SegmentConfig, SourceConfig
from dotsync.console.source_checks import check_source, count_segments


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    rows = ["customer_id,email,ltv"] + [f"C{i},p{i}@example.com,{i * 10}" for i in range(50)]
    (folder / "profiles.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def _source(folder: Path) -> SourceConfig:
    return SourceConfig.model_validate(
        {"path": "profiles.csv", "key": "customer_id"}, context={"base_dir": folder}
    )


def test_the_columns_of_the_profiles(project: Path) -> None:
    assert check_source(_source(project), project).columns == ["customer_id", "email", "ltv"]


def test_a_missing_file_says_so_as_the_cli_does(project: Path) -> None:
    config = SourceConfig.model_validate(
        {"path": "nope.csv", "key": "customer_id"}, context={"base_dir": project}
    )
    check = check_source(config, project)
    assert check.columns == []
    assert check.error == f"source.path: the file {project / 'nope.csv'} does not exist"


def test_each_segment_is_counted_or_names_its_own_error(project: Path) -> None:
    counts = count_segments(
        _source(project),
        {
            "rich": SegmentConfig(where="ltv >= 250"),
            "broken": SegmentConfig(where="no_such_column > 1"),
            "by_sql": SegmentConfig(sql="select customer_id from profiles where ltv < 30"),
        },
        project,
    )
    assert [(c.name, c.members) for c in counts] == [("rich", 25), ("broken", None), ("by_sql", 3)]
    assert counts[1].error is not None
    assert "(segments.broken.where) failed: Binder Error" in counts[1].error


def test_segment_sql_cannot_read_outside_the_project(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.csv"
    outside.write_text("customer_id\nC1\n", encoding="utf-8")
    [count] = count_segments(
        _source(project),
        {"peek": SegmentConfig(sql=f"select customer_id from read_csv('{outside}')")},
        project,
    )
    assert count.members is None
    assert count.error is not None
    assert "Permission Error" in count.error


def test_a_slow_count_stops_at_the_time_limit(project: Path) -> None:
    slow = SegmentConfig(
        # About 30 s of work on this machine.
        sql="select customer_id from profiles "
        "where (select sum(hash(x)) from range(6000000000) t(x)) > 0"
    )
    counts = count_segments(
        _source(project),
        {"slow": slow, "after": SegmentConfig(where="ltv > 0")},
        project,
        seconds=0.5,
    )
    assert [(c.name, c.members, c.error) for c in counts] == [
        ("slow", None, "not counted: counting took longer than 0.5 s"),
        ("after", None, "not counted: counting took longer than 0.5 s"),
    ]
