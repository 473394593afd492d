"""Reading a whole address book through the emulator: a page must not cost
more the further it is, so that a 1M-member book reads in seconds.

Fills one book with N members (v2 CSV imports of 500,000), then reads it twice:

1. through dotsync's client, ``DotDigitalClient.book_members`` (``GET /contacts/v3``, 5,000 a call,
   marker paging): wall time, calls, members read;
2. through the v2 paged listing ``GET /v2/address-books/{id}/contacts`` (1,000 a call, ``skip``),
   raw HTTP: wall time, and the time of the first and the last tenth of the pages (equal when a
   page's cost does not depend on its position).

The emulator runs as its own process (``dotsync emulator``), as in the other benchmarks. Each read
also reports the CPU seconds spent by the emulator and by the reader (this process): on a shared
machine the wall time follows the load, the CPU time much less.

    .venv/bin/python benchmarks/book_read.py [--members 1000000] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from dotsync.dotdigital import DotDigitalClient

AUTH = ("demo@apiconnector.com", "demo")
IMPORT_SIZE = 500_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat (fields 14 and 15, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Cpu:
    """CPU seconds of the emulator and of this process over a ``with`` block."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.figures: dict[str, float] = {}

    def __enter__(self) -> _Cpu:
        self._emulator, self._reader = _cpu_seconds(self.pid), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.figures = {
            "emulator_cpu_seconds": _cpu_seconds(self.pid) - self._emulator,
            "reader_cpu_seconds": time.process_time() - self._reader,
        }


def _fill(api: httpx.Client, book: int, members: int) -> float:
    began = time.perf_counter()
    for start in range(0, members, IMPORT_SIZE):
        count = min(IMPORT_SIZE, members - start)
        rows = "".join(f"member{i}@example.com,First{i}\n" for i in range(start, start + count))
        reply = api.post(
            f"/v2/address-books/{book}/contacts/import",
            files={"file": ("members.csv", ("Email,FirstName\n" + rows).encode(), "text/csv")},
        )
        reply.raise_for_status()
        path = f"/v2/contacts/import/{reply.json()['id']}"
        while (status := api.get(path).json()["status"]) == "NotFinished":
            time.sleep(0.1)
        assert status == "Finished", status
    return time.perf_counter() - began


def _read_v3(base_url: str, book: int) -> dict[str, Any]:
    client = DotDigitalClient(AUTH[0], SecretStr(AUTH[1]), base_url, timeout=300)
    with client:
        client.discover()
        began = time.perf_counter()
        ids: list[int] = []
        for page in client.book_members(book):
            ids.extend(member.contact_id for member in page)
        seconds = time.perf_counter() - began
        calls = client.stats.calls.get("GET /contacts/v3", 0)
    assert ids == sorted(set(ids)), "v3 read: ids not ascending or repeated"
    return {"seconds": seconds, "calls": calls, "members": len(ids)}


def _read_v2(api: httpx.Client, book: int, members: int) -> dict[str, Any]:
    page_times: list[float] = []
    read = 0
    began = time.perf_counter()
    while True:
        started = time.perf_counter()
        page = api.get(
            f"/v2/address-books/{book}/contacts", params={"select": 1000, "skip": read}
        ).json()
        page_times.append(time.perf_counter() - started)
        read += len(page)
        if len(page) < 1000:
            break
    seconds = time.perf_counter() - began
    tenth = max(1, len(page_times) // 10)
    return {
        "seconds": seconds,
        "calls": len(page_times),
        "members": read,
        "first_tenth_ms_per_page": 1000 * sum(page_times[:tenth]) / tenth,
        "last_tenth_ms_per_page": 1000 * sum(page_times[-tenth:]) / tenth,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    dotsync = Path(sys.executable).with_name("dotsync")
    process = subprocess.Popen(  # noqa: S603 - our own entry point, no user input
        [str(dotsync), "emulator", "--port", str(port)],
        stdout=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(base_url=base_url, auth=AUTH, timeout=300) as api:
            for _ in range(100):
                try:
                    api.get("/v2/account-info")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            book = int(api.post("/v2/address-books", json={"name": "Big"}).json()["id"])
            results: dict[str, Any] = {"members": args.members}
            results["fill_seconds"] = _fill(api, book, args.members)
            print(f"book filled with {args.members:,} members in {results['fill_seconds']:.1f} s")
            with _Cpu(process.pid) as cpu:
                v3 = results["v3_book_members"] = _read_v3(base_url, book)
            v3.update(cpu.figures)
            print(
                f"GET /contacts/v3 through DotDigitalClient.book_members: {v3['members']:,} "
                f"members in {v3['seconds']:.1f} s, {v3['calls']} calls; CPU: emulator "
                f"{v3['emulator_cpu_seconds']:.1f} s, reader {v3['reader_cpu_seconds']:.1f} s"
            )
            with _Cpu(process.pid) as cpu:
                v2 = results["v2_paged_listing"] = _read_v2(api, book, args.members)
            v2.update(cpu.figures)
            print(
                f"GET /v2/address-books/{{id}}/contacts by skip: {v2['members']:,} members in "
                f"{v2['seconds']:.1f} s, {v2['calls']} calls; "
                f"{v2['first_tenth_ms_per_page']:.1f} ms a page in the first tenth, "
                f"{v2['last_tenth_ms_per_page']:.1f} ms in the last; CPU: emulator "
                f"{v2['emulator_cpu_seconds']:.1f} s, reader {v2['reader_cpu_seconds']:.1f} s"
            )
            results["load_average"] = os.getloadavg()
            assert v3["members"] == v2["members"] == args.members
    finally:
        process.terminate()
        process.wait(timeout=30)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
