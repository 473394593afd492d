"""``dotsync emulator`` as a real process: it prints its URL, serves, and stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    dotsync = Path(sys.executable).with_name("dotsync")
    process = subprocess.Popen(
        [
            str(dotsync),
            "emulator",
            "--port",
            str(port),
            "--api-user",
            "cli@apiconnector.com",
            "--password",
            "pw",
            "--region",
            "r2",
            "--state",
            str(tmp_path / "s.sqlite"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("DOTSYNC_")},
    )
    try:
        deadline, reply = time.monotonic() + 20, None
        while time.monotonic() < deadline:
            try:
                reply = httpx.get(
                    f"http://127.0.0.1:{port}/v2/account-info", auth=("cli@apiconnector.com", "pw")
                )
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert reply is not None and reply.status_code == 200
        endpoint = {p["name"]: p["value"] for p in reply.json()["properties"]}["ApiEndpoint"]
        assert endpoint == f"http://127.0.0.1:{port}/r2"
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert f"http://127.0.0.1:{port}" in out


def test_cli_refuses_unpaired_passwords() -> None:
    dotsync = Path(sys.executable).with_name("dotsync")
    command = [str(dotsync), "emulator", "--api-user", "a", "--api-user", "b", "--password", "x"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "--password" in result.stderr
