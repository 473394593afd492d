"""TLS verification stays on: a certificate nobody vouches for is refused at once, clearly."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from pydantic import SecretStr
from support.certificates import self_signed_certificate

from dotsync.dotdigital import DotDigitalClient
from dotsync.emulator import EmulatorSettings, RunningEmulator, create_app
from dotsync.errors import ConnectionCheckError, ExitCode


@pytest.fixture
def https_emulator(tmp_path: Path) -> Iterator[str]:
    """The emulator behind a self-signed certificate on loopback."""
    cert, key = self_signed_certificate(tmp_path)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(EmulatorSettings()),
        host="127.0.0.1",
        port=port,
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_self_signed_certificate_is_refused_without_retrying(https_emulator: str) -> None:
    sleeps: list[float] = []
    client = DotDigitalClient(
        "demo@apiconnector.com", SecretStr("demo"), https_emulator, sleep=sleeps.append
    )
    with client, pytest.raises(ConnectionCheckError, match=r"TLS certificate of 127\.0\.0\.1"):
        client.discover()
    assert sleeps == []  # no backoff: a certificate does not fix itself


def test_https_to_a_plain_http_server_fails_at_once_with_a_hint(emulator: RunningEmulator) -> None:
    sleeps: list[float] = []
    url = emulator.base_url.replace("http://", "https://")
    user, password = emulator.credentials
    client = DotDigitalClient(
        user,
        SecretStr(password),
        url,
        sleep=sleeps.append,
        api_url_setting="`connections.eu.api_url`",
    )
    with client, pytest.raises(ConnectionCheckError) as caught:
        client.discover()
    message = str(caught.value)
    assert caught.value.exit_code is ExitCode.CONNECTION
    assert f"the TLS handshake with {url} failed (WRONG_VERSION_NUMBER)" in message
    assert "is the server speaking http, not https? Fix `connections.eu.api_url`" in message
    assert sleeps == []  # a protocol mismatch does not fix itself: no backoff
