"""Scale of the emulator: a 500,000-contact v2 CSV import processed in seconds,
250,000-contact v3 JSON imports shaped like dotsync's, and 1,000,000+ contacts held well under 1 GB.

The emulator runs as its own process (``dotsync emulator``) so that its memory is measured alone,
from /proc/<pid>/status (VmRSS now, VmHWM peak; the peak is reset before each v3 import by writing
5 to /proc/<pid>/clear_refs, so each import's own peak is shown).

For each v3 import: the PUT's latency (until 202), the processing time (until the status says
Finished, polled every 20 ms), then the final status reply's time and size, and the peak RSS.

    .venv/bin/python benchmarks/emulator_scale.py [--contacts 500000] [--v3-contacts 250000]
                                                  [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import socket
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


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--contacts", type=int, default=500_000, help="contacts per v2 import")
    parser.add_argument("--v3-contacts", type=int, default=250_000)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    port = _free_port()
    dotsync = Path(sys.executable).with_name("dotsync")
    process = subprocess.Popen(  # noqa: S603 - our own dotsync, next to this interpreter
        [str(dotsync), "emulator", "--port", str(port)],
        stdout=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", auth=AUTH, timeout=300) as api:
            for _ in range(100):
                try:
                    api.get("/v2/account-info")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            results = _run(api, process.pid, args.contacts, args.v3_contacts)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
