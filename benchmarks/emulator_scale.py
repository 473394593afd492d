"""Scale of the emulator: a 500,000-contact v2 CSV import processed in seconds,
250,000-contact v3 JSON imports shaped like dotsync's, and 1,000,000+ contacts held well under 1 GB.

The emulator runs as its own process (``dotsync emulator``) so that its memory is measured alone,
from /proc/<pid>/status (VmRSS now, VmHWM peak; the peak is reset before each v3 import by writing
5 to /proc/<pid>/clear_refs, so each import's own peak is shown).

For each v3 import: the PUT's latency (until 202), the processing time (until the status says
Finished, polled every 20 ms), then the final status reply's time and size, and the peak RSS.

    .venv/bin/python benchmarks/emulator_scale.py [--contacts 500000] [--v3-contacts 250000]
                                                  [--json results.json]

``--cpu`` measures instead the emulator's CPU seconds (user + system, from /proc/<pid>/stat: the
HTTP server, the import worker and every helper thread) for bulk v3 imports shaped like a dotsync
full export: ``--cpu-contacts`` (1M) in imports of ``--cpu-batch`` (100k), at most 5 in flight,
each polled every 0.25 s until its finished reply (every created contact with its id) is read.
Twice per emulator: into a fresh book of an empty account, then into a second book with as many
other contacts (the account then already holds them). ``--repeat`` fresh emulators (3); the median
is reported. Bodies are built before the clock starts.

    .venv/bin/python benchmarks/emulator_scale.py --cpu [--cpu-contacts 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

AUTH = ("demo@apiconnector.com", "demo")
# Custom fields like a real export's mapping, so that the typed parsers are on the hot path.
CUSTOM_FIELDS = {"SCORE": "Numeric", "JOINED": "Date", "VIP": "Boolean"}
_FIRST = ("Olivia", "Amelia", "Isla", "Ava", "Mohammed", "Noah", "Oliver", "George", "Leo")
_LAST = ("Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Patel")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _memory_mb(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux >= 4.0)


def _csv(start: int, count: int) -> bytes:
    rows = "".join(f"user{i}@example.com,First{i},Last{i}\n" for i in range(start, start + count))
    return ("Email,FirstName,LastName\n" + rows).encode()


def _wait(api: httpx.Client, path: str) -> str:
    while (status := api.get(path).json()["status"]) == "NotFinished":
        time.sleep(0.05)
    return str(status)


def _v2_import(api: httpx.Client, book: int, start: int, count: int) -> float:
    payload = _csv(start, count)
    began = time.perf_counter()
    reply = api.post(
        f"/v2/address-books/{book}/contacts/import",
        files={"file": ("contacts.csv", payload, "text/csv")},
    )
    reply.raise_for_status()
    status = _wait(api, f"/v2/contacts/import/{reply.json()['id']}")
    assert status == "Finished", status
    return time.perf_counter() - began


def _v3_body(book: int, start: int, count: int) -> bytes:
    """dotsync's shape: upper-case field names, empty values left out, one list; about 1% bad
    e-mails and 0.5% repeated contacts, as a real segment has."""
    contacts = []
    for i in range(start, start + count):
        email = f"user{i}@example.com" if i % 100 != 7 else f"user{i}.example.com"
        if i % 200 == 3:
            email = f"user{i - 1}@example.com"
        fields: dict[str, Any] = {
            "FIRSTNAME": _FIRST[i % len(_FIRST)],
            "LASTNAME": _LAST[i % len(_LAST)],
            "SCORE": i % 1000 / 10,
            "JOINED": f"20{i % 25:02d}-0{i % 9 + 1}-1{i % 10}",
            "VIP": i % 3 == 0,
        }
        if i % 4 == 1:
            fields["POSTCODE"] = f"LS{i % 30} {i % 10}AB"
        contacts.append(
            {
                "matchIdentifier": "email",
                "identifiers": {"email": email},
                "dataFields": fields,
                "lists": [book],
            }
        )
    body = {"mergeOption": "overwrite", "contacts": contacts}
    return json.dumps(body, separators=(",", ":")).encode()


def _v3_import(api: httpx.Client, pid: int, body: bytes) -> dict[str, float]:
    before = _memory_mb(pid)["VmRSS"]
    _reset_peak(pid)
    began = time.perf_counter()
    reply = api.put(
        "/contacts/v3/import", content=body, headers={"content-type": "application/json"}
    )
    accepted = time.perf_counter()
    assert reply.status_code == 202, reply.text
    put_peak = _memory_mb(pid)["VmHWM"]
    path = f"/contacts/v3/import/{reply.json()['importId']}"
    while True:
        polled = time.perf_counter()
        status = api.get(path).json()["status"]
        if status != "NotFinished":
            break
        time.sleep(0.02)
    assert status == "Finished", status
    reply_began = time.perf_counter()
    final = api.get(path)
    reply_time = time.perf_counter() - reply_began
    final.raise_for_status()
    return {
        "body_mb": len(body) / 1e6,
        "put_s": accepted - began,
        "processing_s": polled - accepted,
        "status_reply_s": reply_time,
        "status_reply_mb": len(final.content) / 1e6,
        "rss_before_mb": before,
        "put_peak_rss_mb": put_peak,
        "peak_rss_mb": _memory_mb(pid)["VmHWM"],
    }


def _show_v3(label: str, count: int, figures: dict[str, float]) -> None:
    print(
        f"v3 import of {count:,} {label} ({figures['body_mb']:.0f} MB): PUT "
        f"{figures['put_s']:.2f} s, processing {figures['processing_s']:.2f} s "
        f"({count / max(figures['processing_s'], 1e-9):,.0f}/s), status reply "
        f"{figures['status_reply_s']:.2f} s ({figures['status_reply_mb']:.0f} MB), "
        f"peak RSS {figures['peak_rss_mb']:.0f} MB (before {figures['rss_before_mb']:.0f} MB, "
        f"during the PUT {figures['put_peak_rss_mb']:.0f} MB)"
    )


def _run(api: httpx.Client, pid: int, n: int, n3: int) -> dict[str, Any]:
    results: dict[str, Any] = {"v2_contacts": n, "v3_contacts": n3}
    book = api.post("/v2/address-books", json={"name": "Scale"}).json()["id"]
    for name, kind in CUSTOM_FIELDS.items():
        api.post("/v2/data-fields", json={"name": name, "type": kind}).raise_for_status()
    results["idle_rss_mb"] = _memory_mb(pid)["VmRSS"]
    first = results["v2_new_s"] = _v2_import(api, book, 0, n)
    print(f"v2 import of {n:,} new contacts: {first:.1f} s ({n / first:,.0f}/s)")
    second = results["v2_more_new_s"] = _v2_import(api, book, n, n)
    print(f"v2 import of {n:,} more new contacts: {second:.1f} s")
    held_rss = results["rss_after_v2_mb"] = _memory_mb(pid)["VmRSS"]
    print(f"after {2 * n:,} contacts imported: emulator RSS {held_rss:.0f} MB")
    update = results["v2_update_s"] = _v2_import(api, book, 0, n)
    print(f"v2 import updating {n:,} contacts: {update:.1f} s")
    body = _v3_body(book, 2 * n, n3)
    results["v3_new"] = _v3_import(api, pid, body)
    _show_v3("new contacts", n3, results["v3_new"])
    results["v3_update"] = _v3_import(api, pid, body)
    _show_v3("contacts again (updates)", n3, results["v3_update"])
    del body
    held = results["contacts_held"] = api.get(f"/v2/address-books/{book}").json()["contacts"]
    memory = _memory_mb(pid)
    results["rss_end_mb"] = memory["VmRSS"]
    print(
        f"contacts held: {held:,}; emulator RSS {memory['VmRSS']:.0f} MB "
        f"(idle {results['idle_rss_mb']:.0f} MB)"
    )
    return results


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all its threads, from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _bulk_bodies(book: int, start: int, total: int, batch: int) -> list[bytes]:
    return [_v3_body(book, low, min(batch, start + total - low)) for low in
            range(start, start + total, batch)]  # fmt: skip


def _bulk_import(api: httpx.Client, bodies: list[bytes], in_flight: int = 5) -> int:
    """Every body through PUT /contacts/v3/import, at most ``in_flight`` active, each polled
    every 0.25 s until finished; the number of contacts the replies list as created/updated."""
    pending = list(bodies)
    active: list[str] = []
    listed = 0
    while pending or active:
        while pending and len(active) < in_flight:
            reply = api.put(
                "/contacts/v3/import",
                content=pending.pop(0),
                headers={"content-type": "application/json"},
            )
            assert reply.status_code == 202, reply.text
            active.append(reply.json()["importId"])
        time.sleep(0.25)
        for import_id in list(active):
            status = api.get(f"/contacts/v3/import/{import_id}").json()
            if status["status"] != "NotFinished":
                assert status["status"] == "Finished", status["status"]
                listed += len(status["created"]) + len(status["updated"])
                active.remove(import_id)
    return listed


def _cpu_run(contacts: int, batch: int) -> dict[str, float]:
    """One fresh emulator: CPU seconds of ``contacts`` into a fresh book, then into a second
    book of the same account (which then holds ``contacts`` others)."""
    port = _free_port()
    dotsync = Path(sys.executable).with_name("dotsync")
    process = subprocess.Popen(  # noqa: S603 - our own dotsync, next to this interpreter
        [str(dotsync), "emulator", "--port", str(port)], stdout=subprocess.DEVNULL
    )
    figures: dict[str, float] = {}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", auth=AUTH, timeout=600) as api:
            _wait_up(api)
            for name, kind in CUSTOM_FIELDS.items():
                api.post("/v2/data-fields", json={"name": name, "type": kind}).raise_for_status()
            for label, start in (("fresh", 0), ("account_holds", contacts)):
                book = api.post("/v2/address-books", json={"name": label}).json()["id"]
                bodies = _bulk_bodies(book, start, contacts, batch)
                cpu, began = _cpu_seconds(process.pid), time.perf_counter()
                listed = _bulk_import(api, bodies)
                figures[f"{label}_cpu_s"] = _cpu_seconds(process.pid) - cpu
                figures[f"{label}_wall_s"] = time.perf_counter() - began
                figures[f"{label}_listed"] = listed
                figures[f"{label}_rss_mb"] = _memory_mb(process.pid)["VmRSS"]
                del bodies
    finally:
        process.terminate()
        process.wait(timeout=30)
    return figures


def _cpu_main(contacts: int, batch: int, repeat: int) -> dict[str, Any]:
    runs = []
    for n in range(repeat):
        load = os.getloadavg()[0]
        runs.append({**_cpu_run(contacts, batch), "load_before": load})
        fresh, holds = runs[-1]["fresh_cpu_s"], runs[-1]["account_holds_cpu_s"]
        print(f"run {n + 1}: emulator CPU {fresh:.2f} s fresh book, {holds:.2f} s account "
              f"holding {contacts:,} (load {load:.1f})", flush=True)  # fmt: skip
    median = {
        key: statistics.median(run[key] for run in runs)
        for key in ("fresh_cpu_s", "account_holds_cpu_s", "fresh_wall_s", "account_holds_wall_s")
    }
    print(
        f"median emulator CPU for {contacts:,} contacts in imports of {batch:,}: "
        f"{median['fresh_cpu_s']:.2f} s into a fresh book, {median['account_holds_cpu_s']:.2f} s "
        f"into a book of an account holding {contacts:,}"
    )
    return {"contacts": contacts, "batch": batch, "median": median, "runs": runs}


def _wait_up(api: httpx.Client) -> None:
    for _ in range(100):
        try:
            api.get("/v2/account-info")
        except httpx.TransportError:
            time.sleep(0.1)
        else:
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--contacts", type=int, default=500_000, help="contacts per v2 import")
    parser.add_argument("--v3-contacts", type=int, default=250_000)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--cpu", action="store_true", help="measure the bulk imports' CPU only")
    parser.add_argument("--cpu-contacts", type=int, default=1_000_000)
    parser.add_argument("--cpu-batch", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.cpu:
        cpu = _cpu_main(args.cpu_contacts, args.cpu_batch, args.repeat)
        if args.json:
            args.json.write_text(json.dumps(cpu, indent=2) + "\n")
        return
    port = _free_port()
    dotsync = Path(sys.executable).with_name("dotsync")
    process = subprocess.Popen(  # noqa: S603 - our own dotsync, next to this interpreter
        [str(dotsync), "emulator", "--port", str(port)],
        stdout=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", auth=AUTH, timeout=300) as api:
            _wait_up(api)
            results = _run(api, process.pid, args.contacts, args.v3_contacts)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
