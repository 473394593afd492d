"""The DotDigital emulator as a separate process (``dotsync emulator``), and its admin API.

A separate process, so that its CPU and memory never count as dotsync's, and so that dotsync's
HTTP traffic crosses a real socket as it would to DotDigital."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

API_USER = "demo@apiconnector.com"
PASSWORD = "demo"  # noqa: S105 - the emulator's documented demo account


def dotsync_command() -> Path:
    """The ``dotsync`` entry point of the interpreter running the benchmark (the project venv)."""
    return Path(sys.executable).with_name("dotsync")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Emulator:
    process: subprocess.Popen[bytes]
    base_url: str
    options: list[str]

    def client(self, timeout: float = 600.0) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, auth=(API_USER, PASSWORD), timeout=timeout)

    def _admin(self, method: str, path: str, **kwargs: Any) -> Any:
        with httpx.Client(base_url=self.base_url, timeout=600.0) as admin:
            reply = admin.request(method, f"/_emulator{path}", **kwargs)
            reply.raise_for_status()
            return reply.json()

    def reset_calls(self) -> None:
        self._admin("POST", "/calls/reset")

    def calls(self) -> dict[str, Any]:
        """``{"calls": {endpoint: n}, "by_status": {endpoint: {status: n}}, "total": n}``."""
        result: dict[str, Any] = self._admin("GET", "/calls")
        return result

    def set_rate_limits(self, settings: dict[str, Any]) -> None:
        """Replace the rate-limit settings (``RateLimitSettings`` JSON: mode, per-tier budgets)."""
        self._admin("PUT", "/rate-limits", json=settings)

    def create_book(self, name: str) -> int:
        with self.client() as api:
            reply = api.post("/v2/address-books", json={"name": name})
            reply.raise_for_status()
            return int(reply.json()["id"])

    def download_members(self, book_id: int, target: Path) -> int:
        """Stream the admin members listing (JSON array) of a book to ``target``; its bytes."""
        url = f"/_emulator/accounts/{API_USER}/address-books/{book_id}/members"
        with (
            httpx.Client(base_url=self.base_url, timeout=1800.0) as admin,
            admin.stream("GET", url) as reply,
            target.open("wb") as out,
        ):
            reply.raise_for_status()
            for chunk in reply.iter_bytes(1 << 20):
                out.write(chunk)
        return target.stat().st_size

    def memory_mb(self) -> dict[str, float]:
        """The emulator's resident memory now (VmRSS) and at its peak (VmHWM), in MB."""
        fields: dict[str, float] = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) / 1024
        return fields


@contextmanager
def running_emulator(
    *, rate_limit: str = "off", import_rate: float | None = None, log_file: Path | None = None
) -> Iterator[Emulator]:
    """Start ``dotsync emulator`` on a free port with its defaults (25 active imports, 50 MB
    files), wait until it answers, and stop it (SIGTERM, then SIGKILL) on exit."""
    port = _free_port()
    options = ["--rate-limit", rate_limit]
    if import_rate is not None:
        options += ["--import-rate", str(import_rate)]
    command = [str(dotsync_command()), "emulator", "--port", str(port), *options]
    log = log_file.open("wb") if log_file else subprocess.DEVNULL
    process = subprocess.Popen(command, stdout=log, stderr=log)  # noqa: S603 - our own CLI
    emulator = Emulator(process, f"http://127.0.0.1:{port}", options)
    try:
        deadline = time.monotonic() + 60
        with emulator.client(timeout=5) as api:
            while True:
                try:
                    api.get("/v2/account-info").raise_for_status()
                    break
                except httpx.TransportError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("the emulator did not start") from None
                    time.sleep(0.1)
        yield emulator
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log_file and not isinstance(log, int):
            log.close()
