"""Run the emulator in a background thread on a free port: for tests, demos and benchmarks.

with run_emulator() as emu:
    httpx.get(f"{emu.base_url}/v2/account-info", auth=emu.credentials)
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import httpx
import uvicorn

from dotsync.emulator.app import create_app
from dotsync.emulator.faults import FaultSettings
from dotsync.emulator.ratelimit import RateLimitSettings
from dotsync.emulator.settings import EmulatorSettings


class RunningEmulator:
    """A started emulator: its ``base_url`` (no trailing slash), settings, and helpers over the
    admin API (``admin`` is an httpx client on it)."""

    def __init__(self, settings: EmulatorSettings, base_url: str) -> None:
        self.settings = settings
        self.base_url = base_url
        self.admin = httpx.Client(base_url=base_url, timeout=30)

    @property
    def credentials(self) -> tuple[str, str]:
        """The first account's API user and password."""
        account = self.settings.accounts[0]
        return account.api_user, account.password.get_secret_value()

    def client(
        self, auth: tuple[str, str] | None = None, region: str = "r1", **kwargs: Any
    ) -> httpx.Client:
        """An httpx client on a region host of the emulator, with the first account's
        credentials unless ``auth`` says otherwise. The caller closes it."""
        base = self.base_url if region == "r1" else f"{self.base_url}/{region}"
        return httpx.Client(base_url=base, auth=auth or self.credentials, timeout=30, **kwargs)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.admin.request(method, f"/_emulator{path}", **kwargs)
        response.raise_for_status()
        return response.json()

    def calls(self) -> dict[str, int]:
        calls: dict[str, int] = self._json("GET", "/calls")["calls"]
        return calls

    def timeline(self) -> list[dict[str, Any]]:
        return list(self._json("GET", "/calls/timeline")["calls"])

    def reset_calls(self) -> None:
        self._json("POST", "/calls/reset")

    def set_faults(self, faults: FaultSettings | dict[str, Any]) -> None:
        body = faults.model_dump() if isinstance(faults, FaultSettings) else faults
        self._json("PUT", "/faults", json=body)

    def set_rate_limits(self, limits: RateLimitSettings | dict[str, Any]) -> None:
        body = limits.model_dump() if isinstance(limits, RateLimitSettings) else limits
        self._json("PUT", "/rate-limits", json=body)

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self._json("GET", "/state")
        return state

    def reset(self) -> None:
        self._json("POST", "/reset")

    def book_members(self, api_user: str, book_id: int) -> list[dict[str, Any]]:
        members: list[dict[str, Any]] = self._json(
            "GET", f"/accounts/{api_user}/address-books/{book_id}/members"
        )
        return members

    def suppress(
        self,
        api_user: str,
        email: str,
        status: str = "Unsubscribed",
        global_: bool = False,
        scope: str | None = None,
        date: datetime | None = None,
        address_book_id: int | None = None,
    ) -> None:
        """``date``: when it happened (default now), as the ``...-since`` feeds report it;
        ``address_book_id``: an unsubscribe from that book only."""
        chosen = scope or ("global" if global_ else "account")
        body: dict[str, Any] = {"email": email, "status": status, "scope": chosen}
        if date is not None:
            body["date"] = date.isoformat()
        if address_book_id is not None:
            body["address_book_id"] = address_book_id
        self._json("POST", f"/accounts/{api_user}/suppress", json=body)

    def wait_for_import(self, import_id: str, timeout: float = 30.0) -> str:
        """Poll the admin state until the import is no longer ``NotFinished``; its status."""
        deadline = time.monotonic() + timeout
        with self.client() as api:
            while True:
                reply = api.get(f"/v2/contacts/import/{import_id}")
                if reply.status_code == 404:
                    reply = api.get(f"/contacts/v3/import/{import_id}")
                status = str(reply.json()["status"])
                if status != "NotFinished" or time.monotonic() > deadline:
                    return status
                time.sleep(0.02)


@contextmanager
def run_emulator(
    settings: EmulatorSettings | None = None, *, port: int = 0
) -> Iterator[RunningEmulator]:
    """Serve the emulator on 127.0.0.1 on ``port`` (0: a free one) in a background thread; stop
    on exit."""
    settings = settings or EmulatorSettings()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings), log_level="warning", lifespan="on", timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"emulator-{port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the emulator did not start")
        time.sleep(0.01)
    running = RunningEmulator(settings, f"http://127.0.0.1:{port}")
    try:
        yield running
    finally:
        running.admin.close()
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()
