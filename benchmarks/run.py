"""dotsync benchmark: full export, refreshes, the naive way, real limits, in one run.

    .venv/bin/python benchmarks/run.py [--profiles 1000000] [--out benchmarks/results/X.json]

Generates N synthetic profiles (Parquet), starts the DotDigital emulator as its own process, and
runs each export as a fresh ``dotsync export`` subprocess, measured alone (wall, CPU, peak RSS).
See benchmarks/README.md for what is measured, how, and the recorded results."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench import data, naive, profile, report
from bench.emulator import API_USER, PASSWORD, Emulator, running_emulator
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
    measured = run_export(config, work / "logs", full=full, wrapper=wrapper or [])
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
    }
    _say(
        f"{name}: {measured.wall_s:.2f} s wall, {measured.cpu_s:.2f} s CPU, "
        f"{measured.peak_rss_mb:.0f} MB peak; checking the book's members"
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


def main_scenarios(args: argparse.Namespace, work: Path, original: Path) -> dict[str, Any]:
    folder = work / "main"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    profiles = folder / "profiles.parquet"
    shutil.copyfile(original, profiles)
    results: dict[str, Any] = {}
    with running_emulator(log_file=work / "emulator-main.log") as emulator:
        book = emulator.create_book("Benchmark")
        config = write_project(
            folder,
            profiles=profiles,
            where=data.SEGMENT_WHERE,
            api_user=API_USER,
            book_id=book,
            api_url=emulator.base_url,
            max_profiles=_max_profiles(args.profiles),
        )
        results["emulator"] = {"options": emulator.options or ["(defaults)"]}
        scenarios = [
            measure_scenario(
                "full", "first export of the segment", emulator, config, book, profiles, work
            )
        ]
        scenarios.append(
            measure_scenario(
                "unchanged", "refresh, nothing changed", emulator, config, book, profiles, work
            )
        )
        # A day passes, as far as the next changes read of the book is concerned, once its
        # overlap has: wait that long, so that the refresh after next reads only what the one
        # before it changed (the first refresh reads back the full export's contacts anyway).
        waited = CHANGES_OVERLAP.total_seconds() + 5
        _say(f"waiting {waited:.0f} s, past the book read's overlap, as a day would")
        time.sleep(waited)
        mutation = data.mutate(profiles, args.profiles)
        _say(
            f"profiles: {mutation.changed:,} changed, {mutation.left:,} deleted, "
            f"{mutation.arrived:,} new"
        )
        changed = measure_scenario(
            "changed",
            "refresh, 1% changed, 0.5% left, 1% arrived",
            emulator,
            config,
            book,
            profiles,
            work,
        )
        changed["mutation"] = {
            "changed": mutation.changed,
            "left": mutation.left,
            "arrived": mutation.arrived,
        }
        scenarios.append(changed)
        # A second day of changes: the first refresh after a full export reads back what the full
        # export changed (the ledger's changes read); this one shows a refresh in steady state.
        again = data.mutate(profiles, args.profiles + mutation.arrived)
        _say(f"profiles: {again.changed:,} changed, {again.arrived:,} new (a second day)")
        steady = measure_scenario(
            "changed-again",
            "next refresh, 1% changed, 1% arrived",
            emulator,
            config,
            book,
            profiles,
            work,
        )
        steady["mutation"] = {
            "changed": again.changed,
            "left": again.left,
            "arrived": again.arrived,
        }
        scenarios.append(steady)
        results["scenarios"] = scenarios
        if args.profile:
            results["profile"] = profiled_export(emulator, work, original, args.profiles)
    return results


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
    parser.add_argument("--naive-sample", type=int, default=2000)
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
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
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
        "segment": data.SEGMENT_WHERE,
        "generate_s": round(generated_s, 2),
    }
    results.update(main_scenarios(args, work, original))
    full, unchanged, changed = results["scenarios"][:3]
    speedup = None
    if "naive" not in skip:
        members = full["membership"]["expected"]
        results["naive"] = naive_comparison(args, work, original, members)
        speedup = results["naive"]["extrapolated_s"] / full["wall_s"]
        results["naive"]["speedup"] = round(speedup, 1)
    if "limited" not in skip:
        results["limited"] = limited_runs(args, work, original)
    under_limits = None
    if "naive" in results and results.get("limited"):
        limited = results["limited"][0]
        # The same member count: the naive time is extrapolated to the full export's members.
        scale = full["membership"]["expected"] / limited["membership"]["expected"]
        under_limits = results["naive"]["tiered_limit_s"] / (limited["wall_s"] * scale)
        results["naive"]["speedup_under_limits"] = round(under_limits, 1)
    targets = check_targets(
        full, unchanged, changed, speedup, profiles=args.profiles, speedup_under_limits=under_limits
    )
    results["targets"] = [t.as_dict() for t in targets]
    results["total_s"] = round(time.perf_counter() - started, 1)
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    shown = results["scenarios"] + results.get("limited", [])
    print("\n" + report.table(shown) + "\n")
    if speedup is not None:
        n = results["naive"]
        print(
            f"naive per-profile export: {n['per_second']:,.0f} profiles/s on a sample of "
            f"{n['sample']:,}; {n['extrapolated_to']:,} would take {n['extrapolated_s']:,.0f} s "
            f"at that speed ({speedup:,.0f}x dotsync's full export), "
            f"{n['tiered_limit_s'] / 3600:,.1f} h at 600 writes/min, "
            f"{n['legacy_limit_s'] / 3600:,.0f} h at 2,000 calls/h"
        )
    for lim in results.get("limited", []):
        print(
            f"{lim['name']}: tiered limits, {lim['low_per_minute']} low-tier calls/min, imports "
            f"at {args.import_rate:,.0f} contacts/s: {lim['wall_s']:,.1f} s for "
            f"{lim['profiles_generated']:,} profiles (1M: {lim['extrapolated_1m_wall_s']:,.1f} s)"
            f", {lim['throttled']} replies 429 (dotsync retried {lim['retries']}), exit 0, "
            f"members exact={lim['membership']['exact']}"
        )
    print("\n".join(t.describe() for t in targets))
    out = args.out or work / f"results-{args.profiles}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nresults written to {out} ({results['total_s']:,.0f} s in all)")
    return 0 if all(t.passed for t in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
