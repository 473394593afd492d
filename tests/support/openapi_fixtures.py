"""Pytest plugin: HTTP clients whose every exchange is validated against DotDigital's OpenAPI.

- ``openapi_checker`` (session): the shared ``OpenAPIChecker`` (documents loaded once).
- ``checked_hooks``: ``event_hooks`` that validate each reply, for clients built elsewhere
  (e.g. dotsync's own DotDigital client: ``httpx.Client(..., event_hooks=checked_hooks)``).
- ``checked_client``: a factory ``make(base_url, auth=None, **kw) -> httpx.Client`` of validating
  clients, all closed at teardown.

A reply that drifts from the documents raises ``OpenAPIMismatch`` (an ``AssertionError``) out of
the call that received it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

import httpx
import pytest

from support.openapi_check import OpenAPIChecker, validation_hooks

Hooks = dict[str, list[Callable[[httpx.Response], None]]]


class ClientFactory(Protocol):
    def __call__(
        self, base_url: str, auth: tuple[str, str] | None = None, **kw: Any
    ) -> httpx.Client: ...


@pytest.fixture(scope="session")
def openapi_checker() -> OpenAPIChecker:
    return OpenAPIChecker()


@pytest.fixture
def checked_hooks(openapi_checker: OpenAPIChecker) -> Hooks:
    return validation_hooks(openapi_checker)


@pytest.fixture
def checked_client(openapi_checker: OpenAPIChecker) -> Iterator[ClientFactory]:
    clients: list[httpx.Client] = []

    def make(base_url: str, auth: tuple[str, str] | None = None, **kw: Any) -> httpx.Client:
        hooks: dict[str, list[Callable[..., Any]]] = dict(kw.pop("event_hooks", None) or {})
        # Validation runs after the caller's own response hooks, on the body as received.
        hooks["response"] = [
            *hooks.get("response", []),
            *validation_hooks(openapi_checker)["response"],
        ]
        kw.setdefault("timeout", 30.0)
        client = httpx.Client(base_url=base_url, auth=auth, event_hooks=hooks, **kw)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
