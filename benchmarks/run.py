"""dotsync benchmark: full export, refreshes, the naive way, real limits, in one run.

    .venv/bin/python benchmarks/run.py [--profiles 1000000] [--kinds parquet,csv] [--repeat 3]
    .venv/bin/python benchmarks/run.py --quick            # a smoke run, under a minute

Generates N synthetic profiles (Parquet, copied into each source kind), starts the DotDigital
emulator as its own process, and runs each export as a fresh ``dotsync export`` subprocess,
measured alone (wall, CPU, peak RSS); each scenario is the median of ``--repeat`` runs.
See benchmarks/README.md for what is measured, how, and the recorded results."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import data, kinds, naive, profile, report
from bench.emulator import API_USER, PASSWORD, Emulator, dotsync_command, running_emulator
from bench.machine_load import CpuSnapshot, competing_load
from bench.measure import run_export
from bench.project import write_project
from bench.targets import check_targets

from dotsync.ownership import CHANGES_OVERLAP

HERE = Path(__file__).resolve().parent
SEED_MAX_PROFILES = 1_000_000  # the seed product's cap; raised only for larger benchmarks


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _max_profiles(profiles: int) -> int:
    return max(SEED_MAX_PROFILES, int(profiles * 1.1))


def measure_scenario(
    name: str,
    description: str,
    emulator: Emulator,
    config: Path,
    book_id: int,
    profiles: Path,
    work: Path,
    *,
    full: bool = False,
    wrapper: list[str] | None = None,
) -> dict[str, Any]:
    """Reset the emulator's counters, run one export, read the counters, check the book."""
    _say(f"{name}: {description}")
    emulator.reset_calls()
    before = CpuSnapshot.take(emulator.process.pid)
    measured = run_export(config, work / "logs", full=full, wrapper=wrapper or [])
    load = competing_load(
        before,
        CpuSnapshot.take(emulator.process.pid),
        dotsync_cpu_s=measured.cpu_s,
        wall_s=measured.wall_s,
    )
    calls = emulator.calls()
    counts = measured.counts
    throttled = sum(int(statuses.get("429", 0)) for statuses in calls["by_status"].values())
    scenario: dict[str, Any] = {
        "name": name,
        "description": description,
        "wall_s": round(measured.wall_s, 3),
        "cpu_user_s": round(measured.cpu_user_s, 3),
        "cpu_sys_s": round(measured.cpu_sys_s, 3),
        "peak_rss_mb": round(measured.peak_rss_mb, 1),
        "status": measured.status,
        "api_calls": calls["total"],
        "api_calls_by_endpoint": calls["calls"],
        "api_calls_by_status": calls["by_status"],
        "throttled": throttled,
        "dotsync_api_calls": counts.get("api_calls"),
        "retries": counts.get("retries"),
        "rate_limited_by_endpoint": counts.get("rate_limited_by_endpoint"),
        "bytes_uploaded": counts.get("bytes_uploaded", 0),
        "imports": counts.get("imports", 0),
        "counts": {
            k: counts.get(k)
            for k in (
                "profiles_in_segments",
                "valid",
                "rejected",
                "rejected_by_reason",
                "entered",
                "changed",
                "unchanged",
                "left",
                "sent",
                "created",
                "updated",
                "suppressed",
                "failed",
                "removed",
            )
        },
        "emulator_memory_mb": emulator.memory_mb(),
        # What the run competed with: a figure taken while something else was busy is not one.
        "machine_load": load,
    }
    _say(
        f"{name}: {measured.wall_s:.2f} s wall, {measured.cpu_s:.2f} s CPU, "
        f"{measured.peak_rss_mb:.0f} MB peak (emulator {load['emulator_cpu_s']:.1f} s CPU, "
        f"other processes {load['other_cpu_s']:.1f} s); checking the book's members"
    )
    began = time.perf_counter()
    members = work / f"members-{name}.json"
    emulator.download_members(book_id, members)
    check = data.check_membership(profiles, members)
    members.unlink()
    scenario["membership"] = check.as_dict()
    scenario["membership_check_s"] = round(time.perf_counter() - began, 1)
    _say(f"{name}: {check.in_book:,} members, {check.expected:,} expected, exact={check.exact}")
    return scenario


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median wall time (its figures, whole), with every run's wall, CPU and RSS."""
    ordered = sorted(runs, key=lambda r: r["wall_s"])
    chosen = dict(ordered[len(ordered) // 2])
    chosen["runs"] = [
        {
            **{k: r[k] for k in ("wall_s", "cpu_user_s", "cpu_sys_s", "peak_rss_mb", "api_calls")},
            "other_cpu_s": r["machine_load"]["other_cpu_s"],
        }
        for r in runs
    ]
    chosen["exact_every_run"] = all(r["membership"]["exact"] for r in runs)
    return chosen


def _project(
    folder: Path, copy: kinds.SourceCopy, emulator: Emulator, book: int, profiles: int
) -> Path:
    return write_project(
        folder,
        profiles=copy.location,
        table=copy.table,
        where=data.SEGMENT_WHERE,
        api_user=API_USER,
        book_id=book,
        api_url=emulator.base_url,
        max_profiles=_max_profiles(profiles),
    )


def kind_scenarios(
    args: argparse.Namespace, work: Path, original: Path, kind: str
) -> list[dict[str, Any]]:
    """One source kind: full exports (each into a new book, fresh state), unchanged refreshes,
    the first 1% refresh after a full export and 1% refreshes in steady state, each measured
    ``--repeat`` times where it can be (the median is reported)."""
    folder = work / kind
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    master = folder / "profiles.parquet"
    shutil.copyfile(original, master)
    copy = kinds.make_copy(kind, master, folder)
    scenarios: list[dict[str, Any]] = []
    try:
        with running_emulator(log_file=work / f"emulator-{kind}.log") as emulator:
            fulls, config, book = [], Path(), 0
            for attempt in range(args.repeat):
                book = emulator.create_book(f"Benchmark {kind} {attempt}")
                config = _project(folder / f"full-{attempt}", copy, emulator, book, args.profiles)
                fulls.append(
                    measure_scenario(
                        "full", f"{kind}: first export", emulator, config, book, master, work
                    )
                )
            scenarios.append(_median_run(fulls))
            unchanged = [
                measure_scenario(
                    "unchanged",
                    f"{kind}: refresh, nothing changed",
                    emulator,
                    config,
                    book,
                    master,
                    work,
                )
                for _ in range(args.repeat)
            ]
            scenarios.append(_median_run(unchanged))
            if args.overlap_wait:
                # A day passes, as far as the next changes read of the book is concerned, once
                # its overlap has: the refresh after next reads only what the one before changed.
                _say(f"waiting {args.overlap_wait:.0f} s, past the book read's overlap")
                time.sleep(args.overlap_wait)
            generated = args.profiles
            mutation = data.mutate(master, generated)
            generated += mutation.arrived
            copy.refresh(master)
            first = measure_scenario(
                "changed-first",
                f"{kind}: first refresh after the full export, 1% changed, 0.5% left, 1% arrived",
                emulator,
                config,
                book,
                master,
                work,
            )
            first["mutation"] = asdict(mutation)
            scenarios.append(first)
            steady = []
            for day in range(1, args.repeat + 1):
                again = data.mutate(master, generated, day)
                generated += again.arrived
                copy.refresh(master)
                run = measure_scenario(
                    "changed",
                    f"{kind}: refresh in steady state, 1% changed, 0.5% left, 1% arrived",
                    emulator,
                    config,
                    book,
                    master,
                    work,
                )
                run["mutation"] = asdict(again)
                steady.append(run)
            scenarios.append(_median_run(steady))
            if args.profile and kind == "parquet":
                scenarios[0]["profile"] = profiled_export(emulator, work, original, args.profiles)
    finally:
        copy.drop()
    for scenario in scenarios:
        scenario["kind"] = kind
    return scenarios


def startup_times(repeat: int = 5) -> dict[str, float]:
    """Median wall seconds of ``dotsync --help`` and of a refresh's Python start (importing what
    ``dotsync export`` imports before its first query)."""
    python = Path(sys.executable)

    def median_of(command: list[str]) -> float:
        walls = []
        for _ in range(repeat):
            began = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)  # noqa: S603 - our CLI
            walls.append(time.perf_counter() - began)
        return round(statistics.median(walls), 3)

    return {
        "help_s": median_of([str(dotsync_command()), "--help"]),
        "refresh_start_s": median_of(
            [str(python), "-c", "import dotsync.cli, dotsync.runner, dotsync.cli.export"]
        ),
    }


def profiled_export(emulator: Emulator, work: Path, original: Path, count: int) -> dict[str, Any]:
    """A full export into a new book with fresh state, under py-spy (not part of the figures:
    the profiler slows the process it samples)."""
    folder = work / "profiled"
    shutil.rmtree(folder, ignore_errors=True)
    book = emulator.create_book("Benchmark (profiled)")
    config = write_project(
        folder,
        profiles=original,
        where=data.SEGMENT_WHERE,
        api_user=API_USER,
        book_id=book,
        api_url=emulator.base_url,
        max_profiles=_max_profiles(count),
    )
    raw = work / "profile-full-export.txt"
    _say(f"profiling a full export with py-spy into {raw}")
    measured = run_export(config, work / "logs", wrapper=profile.wrapper(raw))
    return {
        "wall_s_under_profiler": round(measured.wall_s, 2),
        "raw_file": str(raw),
        **profile.summarise(raw),
    }


def naive_comparison(
    args: argparse.Namespace, work: Path, original: Path, members: int
) -> dict[str, Any]:
    """One call per profile on a timed sample, extrapolated linearly to ``members``."""
    sample = data.naive_sample(original, args.naive_sample)
    _say(f"naive: {len(sample):,} profiles, one POST /v2/address-books/{{id}}/contacts each")
    with running_emulator(log_file=work / "emulator-naive.log") as emulator:
        book = emulator.create_book("Naive")
        result = naive.run_naive(emulator.base_url, API_USER, PASSWORD, book, sample, members)
        calls = emulator.calls()["calls"]
    _say(
        f"naive: {result.per_second:,.0f} profiles/s; {members:,} would take "
        f"{result.extrapolated_s / 60:,.1f} min at that speed"
    )
    return {**result.as_dict(), "api_calls_by_endpoint": calls}


def limited_runs(args: argparse.Namespace, work: Path, original: Path) -> list[dict[str, Any]]:
    """Full exports against the tiered per-minute limits and a paced import speed: at the
    documented 150 low-tier calls a minute, then (``--tight-low-tier``) at a budget smaller than
    the number of imports, so that 429s must happen and be waited out."""
    count = args.limited_profiles or args.profiles
    profiles = original
    if count != args.profiles:
        profiles = data.generate(work / f"profiles-{count}.parquet", count)
    scenarios = []
    with running_emulator(
        rate_limit="tiered", import_rate=args.import_rate, log_file=work / "emulator-limited.log"
    ) as emulator:
        budgets = [("limited", 150)]
        if args.tight_low_tier:
            budgets.append(("limited-tight", args.tight_low_tier))
        for name, low_per_minute in budgets:
            emulator.set_rate_limits({"mode": "tiered", "low_per_minute": low_per_minute})
            folder = work / name
            shutil.rmtree(folder, ignore_errors=True)
            book = emulator.create_book(f"Benchmark ({name})")
            config = write_project(
                folder,
                profiles=profiles,
                where=data.SEGMENT_WHERE,
                api_user=API_USER,
                book_id=book,
                api_url=emulator.base_url,
                max_profiles=_max_profiles(count),
            )
            scenario = measure_scenario(
                name,
                f"full export, tiered limits ({low_per_minute} low-tier calls/min), "
                f"imports at {args.import_rate:,.0f} contacts/s",
                emulator,
                config,
                book,
                profiles,
                work,
            )
            scenario.update(
                emulator_options=emulator.options,
                low_per_minute=low_per_minute,
                profiles_generated=count,
                extrapolated_1m_wall_s=round(scenario["wall_s"] * 1_000_000 / count, 1),
            )
            scenarios.append(scenario)
    return scenarios


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=1_000_000, help="profiles to generate")
    parser.add_argument("--out", type=Path, help="JSON results (default benchmarks/out/...)")
    parser.add_argument("--work", type=Path, default=HERE / "out", help="scratch folder")
    parser.add_argument(
        "--kinds",
        default=",".join(kinds.KINDS),
        help=f"source kinds to measure, comma-separated (of {', '.join(kinds.KINDS)})",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each scenario; the median is reported"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 20,000 profiles, parquet, one run each, no waits, no naive or limited",
    )
    parser.add_argument(
        "--overlap-wait",
        type=float,
        default=CHANGES_OVERLAP.total_seconds() + 5,
        help="seconds to wait after the unchanged refreshes, past the book read's overlap "
        "(0 in --quick)",
    )
    parser.add_argument("--naive-sample", type=int, default=2000)
    parser.add_argument(
        "--naive-small",
        type=int,
        default=100_000,
        help="profiles of the small full export the naive way is also compared with (0: none)",
    )
    parser.add_argument(
        "--import-rate",
        type=float,
        default=20_000,
        help="contacts/s of the emulator's imports in the limited run",
    )
    parser.add_argument(
        "--limited-profiles",
        type=int,
        default=None,
        help="profiles of the limited run (default: --profiles)",
    )
    parser.add_argument(
        "--tight-low-tier",
        type=int,
        default=4,
        help="low-tier budget of a second limited run that must meet 429s (0: no such run)",
    )
    parser.add_argument("--skip", default="", help="comma-separated: naive, limited")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile a full export with py-spy (not measured)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        if "--profiles" not in (argv if argv is not None else sys.argv[1:]):
            args.profiles = 20_000
        args.repeat, args.naive_small, args.overlap_wait = 1, 0, 0
        if "--kinds" not in (argv if argv is not None else sys.argv[1:]):
            args.kinds = "parquet"
        args.skip = ",".join(filter(None, [args.skip, "naive", "limited"]))
    return args


def small_full_export(args: argparse.Namespace, work: Path) -> dict[str, Any] | None:
    """A full export of ``--naive-small`` profiles (Parquet), median of ``--repeat``: what the
    naive way is compared with where fixed costs weigh most."""
    if not args.naive_small:
        return None
    count = args.naive_small
    profiles = data.generate(work / f"profiles-small-{count}.parquet", count)
    runs = []
    with running_emulator(log_file=work / "emulator-small.log") as emulator:
        for attempt in range(args.repeat):
            book = emulator.create_book(f"Benchmark small {attempt}")
            copy = kinds.SourceCopy("parquet", profiles)
            config = _project(work / f"small-{attempt}", copy, emulator, book, count)
            runs.append(
                measure_scenario(
                    "full-small",
                    f"first export of {count:,}",
                    emulator,
                    config,
                    book,
                    profiles,
                    work,
                )
            )
    return _median_run(runs)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    chosen = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = sorted(set(chosen) - set(kinds.KINDS))
    if unknown:
        raise SystemExit(f"--kinds: unknown {', '.join(unknown)} (of {', '.join(kinds.KINDS)})")
    work = args.work.resolve() / f"run-{args.profiles}"
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    original = work / "profiles-original.parquet"
    _say(f"generating {args.profiles:,} profiles into {original}")
    gen_began = time.perf_counter()
    data.generate(original, args.profiles)
    generated_s = time.perf_counter() - gen_began
    results: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": report.machine(),
        "profiles": args.profiles,
        "repeat": args.repeat,
        "segment": data.SEGMENT_WHERE,
        "generate_s": round(generated_s, 2),
        "startup": startup_times(),
    }
    by_kind = {kind: kind_scenarios(args, work, original, kind) for kind in chosen}
    results["kinds"] = by_kind
    results["scenarios"] = by_kind[chosen[0]]
    main_full = results["scenarios"][0]
    naive_speedup = small_speedup = None
    if "naive" not in skip:
        members = main_full["membership"]["expected"]
        results["naive"] = naive_comparison(args, work, original, members)
        naive_speedup = results["naive"]["extrapolated_s"] / main_full["wall_s"]
        results["naive"]["speedup"] = round(naive_speedup, 1)
        small = small_full_export(args, work)
        if small is not None:
            results["small_full"] = small
            per_profile = results["naive"]["wall_s"] / results["naive"]["sample"]
            small_naive_s = per_profile * small["membership"]["expected"]
            small_speedup = small_naive_s / small["wall_s"]
            results["naive"]["speedup_small"] = round(small_speedup, 1)
    if "limited" not in skip:
        results["limited"] = limited_runs(args, work, original)
    under_limits = None
    if "naive" in results and results.get("limited"):
        limited = results["limited"][0]
        # The same member count: the naive time is extrapolated to the full export's members.
        scale = main_full["membership"]["expected"] / limited["membership"]["expected"]
        under_limits = results["naive"]["tiered_limit_s"] / (limited["wall_s"] * scale)
        results["naive"]["speedup_under_limits"] = round(under_limits, 1)
    targets = check_targets(
        by_kind,
        profiles=args.profiles,
        startup=results["startup"],
        speedup=naive_speedup,
        speedup_small=small_speedup,
        speedup_under_limits=under_limits,
    )
    results["targets"] = [t.as_dict() for t in targets]
    results["total_s"] = round(time.perf_counter() - started, 1)
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    for kind, scenarios in by_kind.items():
        print(f"\n{kind}\n" + report.table(scenarios))
    for lim in results.get("limited", []):
        print(
            f"{lim['name']}: tiered limits, {lim['low_per_minute']} low-tier calls/min, imports "
            f"at {args.import_rate:,.0f} contacts/s: {lim['wall_s']:,.1f} s for "
            f"{lim['profiles_generated']:,} profiles (1M: {lim['extrapolated_1m_wall_s']:,.1f} s)"
            f", {lim['throttled']} replies 429 (dotsync retried {lim['retries']}), exit 0, "
            f"members exact={lim['membership']['exact']}"
        )
    print("\n" + "\n".join(t.describe() for t in targets))
    print("\n" + report.markdown(results, targets))
    out = args.out or work / f"results-{args.profiles}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nresults written to {out} ({results['total_s']:,.0f} s in all)")
    return 0 if all(t.passed for t in targets if t.level == "must") else 1


if __name__ == "__main__":
    sys.exit(main())
