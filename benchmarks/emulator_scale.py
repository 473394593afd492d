"""Scale of the emulator (issue point 10): a 500,000-contact v2 CSV import processed in seconds,
a 250,000-contact v3 JSON import, and 1,000,000 contacts held well under 1 GB.

The emulator runs as its own process (``dotsync emulator``) so that its memory is measured alone,
from /proc/<pid>/status (VmRSS now, VmHWM peak).

    .venv/bin/python benchmarks/emulator_scale.py [--contacts 500000]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

AUTH = ("demo@apiconnector.com", "demo")


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
    reply = api.post(f"/v2/address-books/{book}/contacts/import",
                     files={"file": ("contacts.csv", payload, "text/csv")})
    reply.raise_for_status()
    status = _wait(api, f"/v2/contacts/import/{reply.json()['id']}")
    assert status == "Finished", status
    return time.perf_counter() - began


def _v3_import(api: httpx.Client, book: int, start: int, count: int) -> tuple[float, int]:
    body = json.dumps({"contacts": [
        {"matchIdentifier": "email", "identifiers": {"email": f"user{i}@example.com"},
         "dataFields": {"firstName": f"F{i}", "lastName": f"L{i}"}, "lists": [book]}
        for i in range(start, start + count)]}).encode()
    began = time.perf_counter()
    reply = api.put("/contacts/v3/import", content=body,
                    headers={"content-type": "application/json"})
    reply.raise_for_status()
    status = _wait(api, f"/contacts/v3/import/{reply.json()['importId']}")
    assert status == "Finished", status
    return time.perf_counter() - began, len(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=500_000, help="contacts per v2 import")
    parser.add_argument("--v3-contacts", type=int, default=250_000)
    args = parser.parse_args()
    port = _free_port()
    dotsync = Path(sys.executable).with_name("dotsync")
    process = subprocess.Popen([str(dotsync), "emulator", "--port", str(port)],  # noqa: S603
                               stdout=subprocess.DEVNULL)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", auth=AUTH, timeout=300) as api:
            for _ in range(100):
                try:
                    api.get("/v2/account-info")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            book = api.post("/v2/address-books", json={"name": "Scale"}).json()["id"]
            idle = _memory_mb(process.pid)["VmRSS"]
            n = args.contacts
            first = _v2_import(api, book, 0, n)
            print(f"v2 import of {n:,} new contacts: {first:.1f} s ({n / first:,.0f}/s)")
            second = _v2_import(api, book, n, n)
            print(f"v2 import of {n:,} more new contacts: {second:.1f} s")
            held_rss = _memory_mb(process.pid)["VmRSS"]
            print(f"after {2 * n:,} contacts imported: emulator RSS {held_rss:.0f} MB")
            update = _v2_import(api, book, 0, n)
            print(f"v2 import updating {n:,} contacts: {update:.1f} s")
            v3_time, v3_bytes = _v3_import(api, book, 0, args.v3_contacts)
            print(f"v3 import of {args.v3_contacts:,} contacts ({v3_bytes / 1e6:.0f} MB): "
                  f"{v3_time:.1f} s")
            held = api.get(f"/v2/address-books/{book}").json()["contacts"]
            memory = _memory_mb(process.pid)
            print(f"contacts held: {held:,}; emulator RSS {memory['VmRSS']:.0f} MB "
                  f"(idle {idle:.0f} MB, peak {memory['VmHWM']:.0f} MB)")
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
