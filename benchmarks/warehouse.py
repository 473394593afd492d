"""The diff in the warehouse against today's path, side by side in one run, PostgreSQL source.

    .venv/bin/python benchmarks/warehouse.py --profiles 1000000 [--out results/warehouse-1m.json]

N synthetic profiles go into a PostgreSQL table; two projects export them into two books of one
emulator: *today* (a SQL source with the change marker `[source] updated_at`: every member's key
and marker travel, then the changed rows) and *warehouse* (`[state] members_in = "source"`: the
diff runs in PostgreSQL, only changed rows and leavers' keys travel). Each path runs a first
export, an unchanged refresh, then (after one mutation of the table: 1% changed, 0.5% left, 1%
arrived) a 1% refresh, and a second unchanged refresh. Every run is a fresh ``dotsync export``
subprocess whose database traffic goes through a counting TCP relay: ``db_read_bytes`` is what
PostgreSQL sent it, on the wire. After the 1% refresh each book is checked against the table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from bench import data, kinds, report
from bench.emulator import API_USER, Emulator, running_emulator
from bench.measure import run_export
from bench.project import write_project
from bench.wire import CountingRelay

HERE = Path(__file__).resolve().parent


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


PATHS = ("today", "warehouse", "today-no-marker")


def _project(
    folder: Path,
    url: str,
    table: str,
    emulator: Emulator,
    book: int,
    cap: int,
    mirror: str | None,
    *,
    marker: bool = True,
) -> Path:
    config = write_project(
        folder,
        profiles=url,
        table=table,
        where=data.SEGMENT_WHERE,
        api_user=API_USER,
        book_id=book,
        api_url=emulator.base_url,
        max_profiles=cap,
        updated_at="updated_at" if marker and not mirror else None,
    )
    if mirror:
        text = config.read_text(encoding="utf-8").replace(
            'work_dir = ".dotsync"\n',
            f'work_dir = ".dotsync"\nmembers_in = "source"\nmembers_schema = "{mirror}"\n',
        )
        config.write_text(text, encoding="utf-8")
    return config


def _measure(
    name: str, path: str, config: Path, emulator: Emulator, relay: CountingRelay, work: Path
) -> dict[str, Any]:
    emulator.reset_calls()
    relay.reset()
    measured = run_export(config, work / "logs")
    counts = measured.counts
    result = {
        "scenario": name,
        "path": path,
        "wall_s": round(measured.wall_s, 2),
        "cpu_s": round(measured.cpu_s, 2),
        "peak_rss_mb": round(measured.peak_rss_mb, 1),
        "db_read_bytes": relay.read,
        "db_written_bytes": relay.written,
        "api_calls": emulator.calls()["total"],
        "status": measured.status,
        "counts": {
            k: counts.get(k)
            for k in (
                "profiles_in_segments",
                "valid",
                "rejected",
                "entered",
                "changed",
                "unchanged",
                "left",
                "sent",
                "removed",
            )
        },
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    _say(
        f"{path:15} {name:13} {measured.wall_s:7.2f} s  {relay.read / 1e6:9.2f} MB read  "
        f"sent {counts.get('sent')}, left {counts.get('left')}"
    )
    return result


def markdown(results: dict[str, Any]) -> str:
    """The README's table: one row per path, wall time and bytes read per scenario."""
    order = ["first export", "unchanged", "1% changed"]
    paths = list(dict.fromkeys(run["path"] for run in results["runs"]))
    lines = [
        f"| {results['profiles']:,} profiles, PostgreSQL | "
        + " | ".join([*order, "unchanged, after"])
        + " |",
        "|---" * (len(order) + 2) + "|",
    ]
    for path in paths:
        runs = [run for run in results["runs"] if run["path"] == path]
        cells = [
            f"{run['wall_s']:.1f} s, {run['db_read_bytes'] / 1e6:,.1f} MB read"
            + (" (book exact)" if run.get("membership", {}).get("exact") else "")
            for run in runs
        ]
        lines.append(f"| {path} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--paths",
        default="today,warehouse",
        help=f"comma-separated, of {', '.join(PATHS)} (today: with [source] updated_at)",
    )
    parser.add_argument("--work", type=Path, default=HERE / "out" / "warehouse")
    args = parser.parse_args(argv)
    started = time.time()
    results: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "machine": report.machine(),
        "profiles": args.profiles,
        "segment": data.SEGMENT_WHERE,
        "runs": [],
    }
    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    master = work / "profiles.parquet"
    _say(f"generating {args.profiles:,} profiles")
    data.generate(master, args.profiles)
    copy = kinds.make_copy("postgres", master, work)
    assert copy.table is not None
    mirror = f"wh_bench_{uuid.uuid4().hex[:8]}"
    base = sa.make_url(kinds.PG_URL)
    cap = max(1_000_000, int(args.profiles * 1.1))
    try:
        with (
            CountingRelay((base.host or "127.0.0.1", base.port or 5432)) as relay,
            running_emulator(log_file=work / "emulator.log") as emulator,
        ):
            url = base.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
            configs = {}
            for path in args.paths.split(","):
                if path not in PATHS:
                    parser.error(f"--paths: unknown path {path!r}")
                book = emulator.create_book(f"Benchmark {path}")
                configs[path] = (
                    _project(
                        work / path,
                        url,
                        copy.table,
                        emulator,
                        book,
                        cap,
                        mirror if path == "warehouse" else None,
                        marker=path == "today",
                    ),
                    book,
                )
            runs: list[dict[str, Any]] = results["runs"]
            for path, (config, _) in configs.items():
                runs.append(_measure("first export", path, config, emulator, relay, work))
            for path, (config, _) in configs.items():
                runs.append(_measure("unchanged", path, config, emulator, relay, work))
            _say("mutating: 1% changed, 0.5% left, 1% arrived")
            results["mutation"] = data.mutate(master, args.profiles).__dict__
            copy.refresh(master)
            for path, (config, book) in configs.items():
                run = _measure("1% changed", path, config, emulator, relay, work)
                members = work / f"members-{path}.json"
                emulator.download_members(book, members)
                run["membership"] = data.check_membership(master, members).as_dict()
                members.unlink()
                runs.append(run)
            for path, (config, _) in configs.items():
                runs.append(_measure("unchanged", path, config, emulator, relay, work))
    finally:
        copy.drop()
        engine = sa.create_engine(kinds.PG_URL)
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{mirror}" CASCADE'))
        engine.dispose()
    results["total_s"] = round(time.time() - started, 1)
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = args.out or HERE / "results" / f"warehouse-{args.profiles // 1_000_000 or 1}m.json"
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    _say(f"written {out}")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
