"""A host that never answers: the message names the URL tried and the setting to check."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from dotdigital.fakes import FakeTime
from dotsync.dotdigital import DotDigitalClient
from dotsync.dotdigital.retry import RetryPolicy
from dotsync.errors import ConnectionCheckError, ExitCode, TransientError


def test_an_unresolvable_host_is_retried_then_named(fake_time: FakeTime) -> None:
    url = "https://r9-api.dotsync-test.invalid"  # .invalid never resolves (RFC 6761)
    with (
        DotDigitalClient(
            "apiuser-1@apiconnector.com",
            SecretStr("pw"),
            url,
            retry=RetryPolicy(random=lambda: 1.0),
            sleep=fake_time.sleep,
            clock=fake_time.monotonic,
            api_url_setting="`connections.eu.api_url`",
        ) as client,
        pytest.raises(TransientError) as caught,
    ):
        client.discover()
    message = str(caught.value)
    assert caught.value.exit_code == ExitCode.RETRY_LATER
    assert f"nothing answered account-info at {url} after 6 attempts (ConnectError" in message
    assert "check `connections.eu.api_url`" in message
    assert len(fake_time.sleeps) == 5  # a remote host may come back: it is retried


def test_a_refused_loopback_port_fails_at_once(fake_time: FakeTime) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with (
        DotDigitalClient(
            "apiuser-1@apiconnector.com",
            SecretStr("pw"),
            f"http://127.0.0.1:{port}",
            sleep=fake_time.sleep,
            clock=fake_time.monotonic,
        ) as client,
        pytest.raises(ConnectionCheckError) as caught,
    ):
        client.discover()
    assert f"nothing answers at http://127.0.0.1:{port} (connection refused)" in str(caught.value)
    assert "the connection's api_url" in str(caught.value)
    assert fake_time.sleeps == []
