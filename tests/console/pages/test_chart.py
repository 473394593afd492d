"""The history chart: members after each finished run, sent and removed per run, drawn as SVG."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

from dotsync.console.chart import ChartText, history_points, history_svg
from dotsync.result import RunCounts, RunResult, RunStatus

TEXT = ChartText(title="Runs of <news>", members="members", sent="sent", removed="removed")
START = datetime(2026, 1, 5, 6, tzinfo=UTC)


def _run(run_id: int, status: RunStatus, **counts: int) -> RunResult:
    return RunResult(
        run_id=run_id,
        export="news",
        status=status,
        started_at=START + timedelta(days=run_id),
        counts=RunCounts.model_validate(counts),
    )


def test_members_follow_what_each_run_left_in_the_book() -> None:
    runs = [
        _run(3, RunStatus.PARTIAL, unchanged=90, sent=20, suppressed=2, removed=5),
        _run(1, RunStatus.SUCCEEDED, sent=100, failed=3),
        _run(2, RunStatus.FAILED, sent=7),  # not finished: not a point
    ]
    points = history_points(runs)
    assert [(p.run_id, p.members, p.sent, p.removed) for p in points] == [
        (1, 97, 100, 0),
        (3, 108, 20, 5),
    ]


def test_the_svg_scales_bars_to_the_largest_move_and_escapes_its_words() -> None:
    svg = history_svg(
        history_points(
            [
                _run(1, RunStatus.SUCCEEDED, sent=100),
                _run(2, RunStatus.SUCCEEDED, unchanged=100, sent=50, removed=25),
            ]
        ),
        TEXT,
    )
    root = ElementTree.fromstring(svg)  # noqa: S314 (our own markup): well-formed XML
    assert root.get("role") == "img"
    assert "Runs of &lt;news&gt;" in svg
    heights = [
        float(h)
        for h in re.findall(
            r'class="bar-\w+" x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)"', svg
        )
    ]
    assert heights == [80.0, 0.0, 40.0, 20.0]  # sent 100, removed 0, sent 50, removed 25


def test_no_finished_run_draws_nothing() -> None:
    assert history_svg(history_points([_run(1, RunStatus.FAILED)]), TEXT) == ""
