"""``dotsync demo --console``: the demo's project, its emulator behind, and the console on it,
signed in with the admin password it prints; Run now goes through to the emulator."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from console.console_support import csrf_of, free_port

CONSOLE_LINE = re.compile(r"the console: (http://\S+)/ \(sign in as 'admin' with password (\S+)\)")


def test_demo_console_serves_the_demo_project(tmp_path: Path) -> None:
    emulator_port, console_port = free_port(), free_port()
    demo = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("dotsync")),
            "demo",
            "--console",
            "--dir",
            "demo",
            "--profiles",
            "300",
            "--port",
            str(emulator_port),
            "--console-port",
            str(console_port),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        assert demo.stdout is not None
        printed = []
        for line in demo.stdout:
            printed.append(line)
            found = CONSOLE_LINE.search(line)
            if found:
                break
        assert found, "".join(printed)
        url, password = found.groups()
        with httpx.Client(base_url=url, timeout=20) as client:
            for _ in range(100):  # the console starts after the line is printed
                try:
                    token = csrf_of(client.get("/login").text)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            signed = client.post(
                "/login",
                data={"name": "admin", "password": password, "csrf_token": token},
            )
            assert signed.status_code == 303
            page = client.get("/destinations").text
            assert "newsletter" in page
            asked = client.post("/exports/newsletter/run-now", data={"csrf_token": csrf_of(page)})
            run_page = asked.headers["location"]
            for _ in range(100):
                shown = client.get(run_page).text
                if 'id="run-status"' in shown:
                    break
                time.sleep(0.2)
            assert re.search(r'id="run-status"[^>]*>partial', shown), shown[-2000:]
            assert "started by admin" in shown
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(30)
