"""The machine a run was measured on, and the printed table."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _git(*args: str) -> str:
    """Read-only git queries (revision, dirty files) to say which code was measured."""
    try:
        done = subprocess.run(  # noqa: S603 - fixed read-only git queries
            ["git", *args],  # noqa: S607 - the git on the user's PATH, as they would run it
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        return done.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def machine() -> dict[str, Any]:
    changed = [line[3:] for line in _git("status", "--porcelain").splitlines()]
    return {
        "cpu_model": _cpu_model(),
        "nproc": os.cpu_count(),
        "memory_gb": round(_memory_gb(), 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "git_revision": _git("rev-parse", "HEAD"),
        "uncommitted_src_files": sorted(p for p in changed if p.startswith("src/")),
        # Other work on the machine skews wall times: say how busy it was when the run began.
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


ROWS: Sequence[tuple[str, str, str]] = (
    # (label, key, format)
    ("wall time (s)", "wall_s", "{:,.2f}"),
    ("CPU user+sys (s)", "cpu_s", "{:,.2f}"),
    ("peak RSS dotsync (MB)", "peak_rss_mb", "{:,.0f}"),
    ("CPU of the emulator (s)", "emulator_cpu_s", "{:,.2f}"),
    ("CPU of other processes (s)", "other_cpu_s", "{:,.2f}"),
    ("API calls (emulator)", "api_calls", "{:,}"),
    ("  PUT /contacts/v3/import", "imports_submitted", "{:,}"),
    ("  429 replies", "throttled", "{:,}"),
    ("bytes uploaded (MB)", "uploaded_mb", "{:,.1f}"),
    ("sent", "sent", "{:,}"),
    ("entered / changed", "entered_changed", "{}"),
    ("left (removed)", "removed", "{:,}"),
    ("rejected by validation", "rejected", "{:,}"),
    ("book members", "in_book", "{:,}"),
    ("expected (from Parquet)", "expected", "{:,}"),
    ("members exact", "exact", "{}"),
)


def cells(scenario: Mapping[str, Any]) -> dict[str, Any]:
    counts = scenario.get("counts", {})
    check = scenario.get("membership") or {}
    by_endpoint = scenario.get("api_calls_by_endpoint", {})
    return {
        **scenario,
        "cpu_s": scenario["cpu_user_s"] + scenario["cpu_sys_s"],
        # Benchmarks recorded before the machine's load was measured have none.
        "emulator_cpu_s": scenario.get("machine_load", {}).get("emulator_cpu_s", "-"),
        "other_cpu_s": scenario.get("machine_load", {}).get("other_cpu_s", "-"),
        "imports_submitted": by_endpoint.get("PUT /contacts/v3/import", 0),
        "throttled": scenario.get("throttled", 0),
        "uploaded_mb": scenario["bytes_uploaded"] / 1e6,
        "sent": counts.get("sent", 0),
        "entered_changed": f"{counts.get('entered', 0):,} / {counts.get('changed', 0):,}",
        "removed": counts.get("removed", 0),
        "rejected": counts.get("rejected", 0),
        "in_book": check.get("in_book", "-"),
        "expected": check.get("expected", "-"),
        "exact": check.get("exact", "-"),
    }


def table(scenarios: Sequence[Mapping[str, Any]]) -> str:
    columns = [cells(s) for s in scenarios]
    header = ["", *[str(s["name"]) for s in scenarios]]
    body = [header]
    for label, key, fmt in ROWS:
        row = [label]
        for values in columns:
            value = values.get(key, "-")
            row.append(
                fmt.format(value)
                if isinstance(value, int | float) and not isinstance(value, bool)
                else str(value)
            )
        body.append(row)
    widths = [max(len(r[i]) for r in body) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r))
        for r in body
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _cell(scenario: Mapping[str, Any] | None, key: str, fmt: str) -> str:
    if scenario is None:
        return "-"
    value = cells(scenario).get(key)
    return fmt.format(value) if isinstance(value, int | float) else str(value)


def markdown(results: Mapping[str, Any], targets: Sequence[Any]) -> str:
    """The README's Performance section as the run measured it: the command and machine, a table
    per source kind (medians), the naive comparison, start-up, and the targets' verdicts."""
    m = results["machine"]
    lines = [
        f"Measured with `{results['command']}` on {m['nproc']} vCPU {m['cpu_model']}, "
        f"{m['memory_gb']} GB, Python {m['python']}, DuckDB {m['duckdb']}, revision "
        f"{m['git_revision'][:7]} (load average {m['load_average_at_start'][0]} at the start); "
        f"{results['profiles']:,} profiles, each figure the median of {results['repeat']} runs.",
        "",
        "| source | scenario | wall | CPU | peak RSS | API calls | uploaded | sent | exact | "
        "other processes' CPU |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, scenarios in results["kinds"].items():
        for s in scenarios:
            exact = s.get("exact_every_run", s["membership"]["exact"])
            lines.append(
                f"| {kind} | {s['name']} | {_cell(s, 'wall_s', '{:,.1f} s')} | "
                f"{_cell(s, 'cpu_s', '{:,.1f} s')} | {_cell(s, 'peak_rss_mb', '{:,.0f} MB')} | "
                f"{s['api_calls']} | {_cell(s, 'uploaded_mb', '{:,.1f} MB')} | "
                f"{_cell(s, 'sent', '{:,}')} | {exact} | {_cell(s, 'other_cpu_s', '{:,.1f} s')} |"
            )
    startup = results.get("startup")
    if startup:
        lines += [
            "",
            f"Start-up: `dotsync --help` {startup['help_s']:.2f} s, a refresh's Python start "
            f"{startup['refresh_start_s']:.2f} s.",
        ]
    naive = results.get("naive")
    if naive:
        text = (
            f"One request per contact: {naive['per_second']:,.0f} contacts/s on a sample of "
            f"{naive['sample']:,}, extrapolated: {naive['extrapolated_s'] / 60:,.0f} min for "
            f"{naive['extrapolated_to']:,} ({naive['speedup']:,.0f}x dotsync's full export)"
        )
        if "speedup_small" in naive:
            text += f"; {naive['speedup_small']:,.0f}x on the 100k export"
        lines += ["", text + "."]
    lines += [
        "",
        "| target | level | measured | limit | verdict (margin) |",
        "|---|---|---|---|---|",
    ]
    for t in targets:
        verdict = "PASS" if t.passed else "**MISS**"
        lines.append(
            f"| {t.name} | {t.level} | {t.value:,.3g} {t.unit} | {t.limit:,.3g} {t.unit} | "
            f"{verdict} ({t.margin:+,.3g}) |"
        )
    return "\n".join(lines)
