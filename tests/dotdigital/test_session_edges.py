"""Replies the emulator never sends (timeouts, unreadable successes, bare 429s), through an httpx
MockTransport: the rest of the client's tests run against the emulator over real HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from pydantic import SecretStr

from dotdigital.fakes import FakeTime
from dotsync.dotdigital import DotDigitalClient, RetryPolicy
from dotsync.errors import DotDigitalError

BASE = "https://r1-api.dotdigital.com"
ACCOUNT_INFO = {
    "id": 1,
    "properties": [{"name": "ApiEndpoint", "type": "String", "value": BASE + "/"}],
}


@pytest.fixture
def mock_client(fake_time: FakeTime) -> Iterator[Callable[..., DotDigitalClient]]:
    made: list[httpx.Client] = []

    def make(replies: list[httpx.Response | Exception]) -> DotDigitalClient:
        def handle(request: httpx.Request) -> httpx.Response:
            if request.url.path == "/v2/account-info":
                return httpx.Response(200, json=ACCOUNT_INFO)
            reply = replies.pop(0)
            if isinstance(reply, Exception):
                raise reply
            return reply

        http = httpx.Client(transport=httpx.MockTransport(handle))
        made.append(http)
        return DotDigitalClient(
            "apiuser-1@apiconnector.com",
            SecretStr("pw"),
            http_client=http,
            retry=RetryPolicy(random=lambda: 1.0),
            sleep=fake_time.sleep,
            clock=fake_time.monotonic,
        )

    yield make
    for http in made:
        http.close()


def test_timeouts_are_retried(
    mock_client: Callable[..., DotDigitalClient], fake_time: FakeTime
) -> None:
    client = mock_client(
        [
            httpx.ReadTimeout("slow"),
            httpx.ConnectError("refused"),
            httpx.Response(200, json={"id": 7, "name": "Book"}),
        ]
    )
    assert client.address_book(7).id == 7
    assert client.base_url == BASE  # trailing slash of ApiEndpoint stripped
    assert fake_time.sleeps == [0.5, 1.0]


def test_bare_429_backs_off_like_the_flat_limit(
    mock_client: Callable[..., DotDigitalClient], fake_time: FakeTime
) -> None:
    client = mock_client([httpx.Response(429, json={}), httpx.Response(200, json=[])])
    assert client.data_fields() == []
    assert fake_time.sleeps == [RetryPolicy(random=lambda: 1.0).rate_limit_backoff(0)]


def test_unreadable_success_is_an_error_not_a_crash(
    mock_client: Callable[..., DotDigitalClient],
) -> None:
    client = mock_client([httpx.Response(202, json={"unexpected": True})])
    with pytest.raises(DotDigitalError, match="cannot read"):
        client.start_contacts_import(b'{"contacts": []}')


def test_proxy_error_page_is_retried_then_reported(
    mock_client: Callable[..., DotDigitalClient], fake_time: FakeTime
) -> None:
    page = httpx.Response(502, text="<html><h1>502 Bad Gateway</h1></html>")
    client = mock_client([page] * 6)
    with pytest.raises(DotDigitalError) as caught:
        client.address_book(7)
    assert len(fake_time.sleeps) == 5
    assert caught.value.status == 502
    assert "Bad Gateway" in str(caught.value.detail)
