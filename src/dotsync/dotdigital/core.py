"""The client's core: construction, lifecycle, region discovery and the plumbing every endpoint
uses (lazy discovery, parsing replies into models at the boundary)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from dotsync.dotdigital.models import AccountInfo
from dotsync.dotdigital.retry import RetryPolicy
from dotsync.dotdigital.session import ApiSession, Call
from dotsync.dotdigital.stats import CallStats
from dotsync.dotdigital.throttle import Throttle, Tier
from dotsync.errors import DotDigitalError

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://r1-api.dotdigital.com"  # discovery works on r1 whatever the region
T = TypeVar("T")


class ClientCore:
    """Everything injected (httpx client, retry policy, sleep, clocks, stop flag) so tests can
    run it against the emulator and assert the exact waits. Thread-safe once discovered."""

    def __init__(
        self,
        api_user: str,
        password: SecretStr,
        api_url: str = DEFAULT_API_URL,
        *,
        http_client: httpx.Client | None = None,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, safe to share
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 121.0,
        stats: CallStats | None = None,
        stop_requested: Callable[[], bool] = lambda: False,
        wall_clock: Callable[[], float] = time.time,  # epoch values of X-RateLimit-Reset
        rate_budget: Mapping[Tier, int] | None = None,  # our own calls per minute per tier
        password_source: str = "the connection's password setting",  # noqa: S107 - a place, e.g. "DOTDIGITAL_PASSWORD"
        api_url_setting: str = "the connection's api_url",  # where to fix it, for messages
        api_user_setting: str = "the connection's api_user",  # named instead of the address
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.api_user = api_user
        self.stats = stats if stats is not None else CallStats()
        self.clock = clock
        self.account: AccountInfo | None = None
        self._owns_http = http_client is None
        self._session = ApiSession(
            http_client=http_client or httpx.Client(follow_redirects=False),
            auth=httpx.BasicAuth(api_user, password.get_secret_value()),
            api_user_setting=api_user_setting,
            password_source=password_source,
            api_url_setting=api_url_setting,
            base_url=self.api_url,
            retry=retry,
            throttle=Throttle(clock, wall_clock, rate_budget),
            stats=self.stats,
            sleep=sleep,
            wall_clock=wall_clock,
            timeout=timeout,
            stop_requested=stop_requested,
        )

    def server_now(self) -> datetime:
        """DotDigital's clock (from its replies' Date header), to compare its dates with."""
        return self._session.server_now()

    def __repr__(self) -> str:  # no password, and no httpx internals that might hold one
        return f"DotDigitalClient(api_user={self.api_user!r}, api_url={self.api_url!r})"

    # -- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        """Close the httpx client if this object made it (an injected one belongs to its owner)."""
        if self._owns_http:
            self._session.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- discovery --------------------------------------------------------------------------
    def discover(self) -> AccountInfo:
        """``GET /v2/account-info`` on ``api_url``; every later call goes to its ApiEndpoint."""
        call = Call("GET", "/v2/account-info", subject="account-info", base_url=self.api_url)
        info = self._parse(call, AccountInfo.from_payload)
        if not info.api_endpoint:
            raise DotDigitalError(
                "DotDigital's account-info named no ApiEndpoint: dotsync cannot tell the "
                "account's region",
                detail="GET /v2/account-info: no ApiEndpoint property",
            )
        self._session.base_url = info.api_endpoint
        self.account = info
        log.info(
            "DotDigital account discovered: region %s, API host %s",
            info.region or "unknown",
            urlsplit(info.api_endpoint).netloc,
        )
        return info

    @property
    def base_url(self) -> str:
        """The API endpoint of the account's region (``api_url`` until discovered)."""
        return self._session.base_url

    # -- plumbing ---------------------------------------------------------------------------
    def _send(self, call: Call) -> httpx.Response:
        if self.account is None and call.base_url is None:
            self.discover()  # lazily: any call goes to the account's own region
        return self._session.send(call)

    def _parse(self, call: Call, parse: Callable[[Any], T]) -> T:
        return self._read(call, self._send(call), parse)

    @staticmethod
    def _read(
        call: Call, response: httpx.Response, parse: Callable[[Any], T], *, raw: bool = False
    ) -> T:
        """``parse`` the reply's JSON (``raw``: its bytes, for a parser that reads JSON itself)."""
        try:
            return parse(response.content if raw else response.json())
        # Bad JSON, pydantic's ValidationError (a ValueError), or a shape we index into wrongly.
        except (ValueError, KeyError, TypeError) as exc:
            raise DotDigitalError(
                f"DotDigital sent a reply to {call.subject or call.endpoint} that dotsync "
                "cannot read",
                status=response.status_code,
                detail=f"{call.endpoint}: {type(exc).__name__}",
            ) from exc

    def _wait(self, seconds: float) -> None:
        self._session.wait(seconds)
