"""Helpers for the client's tests: a fake clock whose ``sleep`` records every wait, and a factory
of clients on the emulator whose every exchange is validated against OpenAPI (``checked_hooks``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from dotdigital.fakes import ClientFactory, FakeTime
from dotsync.dotdigital import CallStats, DotDigitalClient, RetryPolicy


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def responses() -> list[httpx.Response]:
    """Every reply the clients of ``make_client`` received, in order."""
    return []


@pytest.fixture
def make_client(
    request: pytest.FixtureRequest, fake_time: FakeTime, responses: list[httpx.Response]
) -> Iterator[ClientFactory]:
    # checked_hooks comes from tests/support/openapi_fixtures.py; without it, no validation.
    try:
        hooks: dict[str, list[Callable[[httpx.Response], None]]] = request.getfixturevalue(
            "checked_hooks"
        )
    except pytest.FixtureLookupError:
        hooks = {"response": []}
    made: list[httpx.Client] = []

    def make(
        base_url: str,
        credentials: tuple[str, str],
        *,
        retry: RetryPolicy = RetryPolicy(random=lambda: 0.5),  # noqa: B008
        **kwargs: Any,
    ) -> DotDigitalClient:
        http = httpx.Client(
            event_hooks={"response": [*hooks.get("response", []), responses.append]}
        )
        made.append(http)
        user, password = credentials
        kwargs.setdefault("sleep", fake_time.sleep)
        kwargs.setdefault("clock", fake_time.monotonic)
        kwargs.setdefault("stats", CallStats())
        return DotDigitalClient(
            user, SecretStr(password), base_url, http_client=http, retry=retry, **kwargs
        )

    yield make
    for http in made:
        http.close()
