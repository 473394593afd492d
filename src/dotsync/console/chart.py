"""An export's history as a chart drawn on the server: an SVG of the members after each run (a
line) above the contacts sent and removed by each run (bars). No script, no chart library: the
page shows the same numbers in its table, which is what a screen reader reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

from dotsync.result import RunResult, RunStatus

WIDTH, HEIGHT = 720, 260
_LEFT, _RIGHT, _TOP = 56, 12, 14
_LINE_H, _GAP, _BARS_H = 110, 26, 80
FINISHED = (RunStatus.SUCCEEDED, RunStatus.PARTIAL)


@dataclass(frozen=True)
class HistoryPoint:
    run_id: int
    at: datetime
    members: int  # the export's members in the book once the run was over
    sent: int
    removed: int  # taken out of the book, or unsubscribed from it


@dataclass(frozen=True)
class ChartText:
    """The chart's words, in the page's language."""

    title: str
    members: str
    sent: str
    removed: str


def history_points(runs: list[RunResult]) -> list[HistoryPoint]:
    """The finished runs, oldest first. Members after a run: those it left unchanged and those
    it sent, less what DotDigital refused or suppressed."""
    points = []
    for run in sorted(runs, key=lambda r: r.started_at):
        if run.status not in FINISHED:
            continue
        c = run.counts
        members = max(c.unchanged + c.sent - c.suppressed - c.failed, 0)
        removed = c.removed + c.unsubscribed
        points.append(HistoryPoint(run.run_id, run.started_at, members, c.sent, removed))
    return points


def _scale(value: int, top: int, height: int) -> float:
    return height * value / top if top else 0.0


def history_svg(points: list[HistoryPoint], text: ChartText) -> str:
    """The chart as SVG markup (every text escaped); empty when there is nothing to draw."""
    if not points:
        return ""
    plot_w = WIDTH - _LEFT - _RIGHT
    step = plot_w / len(points)
    top_members = max(p.members for p in points) or 1
    top_moves = max(max(p.sent, p.removed) for p in points) or 1
    base = _TOP + _LINE_H + _GAP + _BARS_H
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="history-chart" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" aria-labelledby="chart-title">',
        f'<title id="chart-title">{escape(text.title)}</title>',
        f'<line class="axis" x1="{_LEFT}" y1="{_TOP + _LINE_H}" x2="{WIDTH - _RIGHT}" '
        f'y2="{_TOP + _LINE_H}"/>',
        f'<line class="axis" x1="{_LEFT}" y1="{base}" x2="{WIDTH - _RIGHT}" y2="{base}"/>',
        f'<text class="tick" x="{_LEFT - 6}" y="{_TOP + 4}" text-anchor="end">'
        f"{top_members:,}</text>",
        f'<text class="tick" x="{_LEFT - 6}" y="{_TOP + _LINE_H}" text-anchor="end">0</text>',
        f'<text class="tick" x="{_LEFT - 6}" y="{base - _BARS_H + 4}" text-anchor="end">'
        f"{top_moves:,}</text>",
    ]
    line = []
    bar_w = max(min(step / 3, 18), 2)
    for i, point in enumerate(points):
        x = _LEFT + step * (i + 0.5)
        y = _TOP + _LINE_H - _scale(point.members, top_members, _LINE_H)
        line.append(f"{x:.1f},{y:.1f}")
        for offset, value, kind in ((-bar_w, point.sent, "sent"), (0.0, point.removed, "removed")):
            h = _scale(value, top_moves, _BARS_H)
            parts.append(
                f'<rect class="bar-{kind}" x="{x + offset:.1f}" y="{base - h:.1f}" '
                f'width="{bar_w:.1f}" height="{h:.1f}"/>'
            )
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{base + 14}" text-anchor="middle">'
            f"#{point.run_id}</text>"
        )
    parts.append(f'<polyline class="members" points="{" ".join(line)}"/>')
    for x_y in line:
        cx, cy = x_y.split(",")
        parts.append(f'<circle class="members" cx="{cx}" cy="{cy}" r="3"/>')
    legend_y = HEIGHT - 6
    for i, (kind, label) in enumerate(
        (("members", text.members), ("bar-sent", text.sent), ("bar-removed", text.removed))
    ):
        x = _LEFT + i * 180
        parts.append(
            f'<rect class="{kind} key" x="{x}" y="{legend_y - 9}" width="10" height="10"/>'
        )
        parts.append(f'<text class="legend" x="{x + 14}" y="{legend_y}">{escape(label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
