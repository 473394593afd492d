"""One call to DotDigital, with everything around it: throttle, retries, rate-limit waits, stats,
and the translation of a failed reply into an error a person can act on.
"""

from __future__ import annotations

import email.utils
import ipaddress
import logging
import ssl
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from dotsync.dotdigital.bodies import BodyFactory, json_bytes
from dotsync.dotdigital.messages import error_for
from dotsync.dotdigital.responses import Action, ErrorBody, Rule, classify, parse_error_body
from dotsync.dotdigital.retry import RetryPolicy, rate_limit_wait
from dotsync.dotdigital.stats import CallStats
from dotsync.dotdigital.throttle import Throttle, tier_of
from dotsync.errors import ConnectionCheckError, InterruptedRunError
from dotsync.redaction import redact_emails

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Call:
    """A request by endpoint template: ``template`` names placeholders ``{id}`` filled in order
    from ``args`` (URL-quoted), so stats and logs carry the template, never ids or e-mails."""

    method: str
    template: str
    args: tuple[str | int, ...] = ()
    params: Mapping[str, str | int] | None = None
    json: Any = None
    body: BodyFactory | None = None
    subject: str = ""  # for messages: "address book 123"
    base_url: str | None = None  # else the session's base URL

    @property
    def endpoint(self) -> str:
        return f"{self.method} {self.template}"

    def path(self) -> str:
        parts = self.template.split("{id}")
        if len(parts) != len(self.args) + 1:
            raise ValueError(f"{self.template} needs {len(parts) - 1} arguments")
        quoted = [quote(str(arg), safe="@") for arg in self.args]
        return parts[0] + "".join(q + rest for q, rest in zip(quoted, parts[1:], strict=True))


@dataclass
class _Waits:
    retries: int = 0
    rate_limit_waits: int = 0
    rate_limit_seconds: float = 0.0
    busy_waits: int = 0
    busy_seconds: float = 0.0
    causes: list[str] = field(default_factory=list)


class ApiSession:
    def __init__(
        self,
        *,
        http_client: httpx.Client,
        auth: httpx.Auth,
        api_user_setting: str,
        password_source: str,
        api_url_setting: str,
        base_url: str,
        retry: RetryPolicy,
        throttle: Throttle,
        stats: CallStats,
        sleep: Callable[[float], None],
        wall_clock: Callable[[], float],
        timeout: float,
        stop_requested: Callable[[], bool],
    ) -> None:
        self.http = http_client
        self._auth = auth
        self.api_user_setting = api_user_setting
        self.password_source = password_source
        self.api_url_setting = api_url_setting
        self._answered = False  # whether anything has answered this session yet
        self.base_url = base_url
        self.retry = retry
        self.throttle = throttle
        self.stats = stats
        self._sleep = sleep
        self._wall_clock = wall_clock
        # DotDigital's API documentation asks clients to allow 121 s for a reply; the same bound
        # applies to connecting and writing, as a 50 MB upload on a slow link takes a while too.
        self._timeout = httpx.Timeout(timeout)
        self._stop_requested = stop_requested
        # How far DotDigital's clock is ahead of ours, from its replies' Date header: dates we
        # send back to it (a `~modified` filter) are then in its time, whatever our clock says.
        self.server_offset = timedelta(0)

    def send(self, call: Call) -> httpx.Response:
        """Send ``call`` until it succeeds, or raise the ``DotDigitalError`` its reply deserves."""
        waits = _Waits()
        url = (call.base_url or self.base_url) + call.path()
        tier = tier_of(call.endpoint)
        while True:
            while (delay := self.throttle.reserve(tier)) > 0:
                log.info("DotDigital %s budget spent: waiting %.1f s", tier, delay)
                self.wait(delay)
            response, error = self._attempt(call, url)
            if response is not None and response.is_success:
                return response
            status = response.status_code if response is not None else None
            body = _error_body(response) if response is not None else ErrorBody(None, error)
            rule = classify(status, body.code)
            delay = self._delay_or_raise(call, rule, status, body, response, waits)
            waits.causes.append(f"{status or error} {body.code or ''}".strip())
            self.stats.record_retry(call.endpoint)
            log.warning(
                "DotDigital %s: %s; sending again in %.2f s",
                call.endpoint,
                redact_emails(waits.causes[-1]),
                delay,
            )
            self.wait(delay)

    def wait(self, seconds: float) -> None:
        """Sleep, checking for a stop before and after: pass a ``sleep`` that returns early on a
        stop (``threading.Event.wait``) and a SIGTERM never waits out a long backoff."""
        self._check_stop()
        self._sleep(seconds)
        self._check_stop()

    def _check_stop(self) -> None:
        if self._stop_requested():
            raise InterruptedRunError("Stopped on request while waiting for DotDigital.")

    def _attempt(self, call: Call, url: str) -> tuple[httpx.Response | None, str]:
        try:
            with _body(call) as (kwargs, size):
                self.stats.record_call(call.endpoint, size)
                response = self.http.request(
                    call.method,
                    url,
                    params=dict(call.params) if call.params else None,
                    auth=self._auth,
                    timeout=self._timeout,
                    **kwargs,
                )
        except httpx.ConnectError as exc:
            if _certificate_refused(exc):
                # Not transient: retrying cannot fix a certificate, and TLS verification stays on.
                host = httpx.URL(url).host
                raise ConnectionCheckError(
                    f"the TLS certificate of {host} could not be verified ({_ssl_reason(exc)}); "
                    "dotsync keeps certificate checks on: fix api_url or the system's CA "
                    "certificates (SSL_CERT_FILE)"
                ) from None
            handshake = _tls_handshake_failure(exc)
            if handshake is not None:
                # Not transient either: a TLS handshake that fails (a plain-http server called
                # with https, a protocol mismatch) fails the same way on every attempt.
                raise ConnectionCheckError(
                    f"the TLS handshake with {_origin(url)} failed ({handshake}): "
                    + _tls_hint(handshake, self.api_url_setting)
                ) from None
            if not self._answered and _refused_on_loopback(exc, url):
                # Nothing listens on this machine's port (a stopped emulator, a wrong port):
                # waiting will not start it, so say so at once. Once something has answered, a
                # refusal is a restart in progress and is retried like any dropped connection.
                raise ConnectionCheckError(
                    f"nothing answers at {_origin(url)} (connection refused): start the server "
                    "(the local emulator: `dotsync emulator --state FILE`, with the project's "
                    f"emulator data file if it has one) or fix {self.api_url_setting}"
                ) from None
            return None, _transport_error(exc)
        except httpx.TransportError as exc:  # timeouts, refused and dropped connections
            return None, _transport_error(exc)
        self._answered = True
        self._note_server_clock(response.headers.get("date"))
        self.throttle.observe(tier_of(call.endpoint), response.headers)
        log.debug("DotDigital %s -> %d", call.endpoint, response.status_code)
        return response, ""

    def _note_server_clock(self, header: str | None) -> None:
        if not header:
            return
        try:
            server = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return  # a malformed Date: keep the last offset
        if server.tzinfo is not None:
            self.server_offset = server - datetime.fromtimestamp(self._wall_clock(), UTC)

    def server_now(self) -> datetime:
        """DotDigital's current time as far as its last reply told (whole seconds, so up to a
        second behind), or ours before any reply."""
        return datetime.fromtimestamp(self._wall_clock(), UTC) + self.server_offset

    def _delay_or_raise(
        self,
        call: Call,
        rule: Rule,
        status: int | None,
        body: ErrorBody,
        response: httpx.Response | None,
        waits: _Waits,
    ) -> float:
        policy = self.retry
        if rule.action is Action.RETRY:
            waits.retries += 1
            if waits.retries < policy.max_attempts:
                return policy.backoff(waits.retries - 1)
        elif rule.action is Action.WAIT_RATE_LIMIT:
            self.stats.record_rate_limited(call.endpoint)
            headers = response.headers if response is not None else httpx.Headers()
            delay = rate_limit_wait(headers, self._wall_clock())
            if delay is None:
                delay = policy.rate_limit_backoff(waits.rate_limit_waits)
            waits.rate_limit_waits += 1
            if waits.rate_limit_seconds + delay <= policy.max_rate_limit_wait:
                waits.rate_limit_seconds += delay
                return delay
        elif rule.action is Action.WAIT_IMPORT_SLOT:
            delay = policy.busy_backoff(waits.busy_waits)
            waits.busy_waits += 1
            if waits.busy_seconds + delay <= policy.max_busy_wait:
                waits.busy_seconds += delay
                return delay
        raise error_for(
            rule,
            status=status,
            body=body,
            call=call,
            api_user_setting=self.api_user_setting,
            password_source=self.password_source,
            api_url_setting=self.api_url_setting,
            url=call.base_url or self.base_url,
            attempts=waits.retries,
            waited=waits.rate_limit_seconds + waits.busy_seconds,
        )


def _error_body(response: httpx.Response) -> ErrorBody:
    try:
        payload = response.json()
    except ValueError:
        payload = None
    return parse_error_body(payload, response.text if payload is None else "")


@contextmanager
def _body(call: Call) -> Iterator[tuple[dict[str, Any], int]]:
    if call.body is not None:
        with call.body() as opened:
            yield opened
    elif call.json is not None:
        content = json_bytes(call.json)
        yield {"content": content, "headers": {"Content-Type": "application/json"}}, len(content)
    else:
        yield {}, 0


def _origin(url: str) -> str:
    parts = httpx.URL(url)
    return f"{parts.scheme}://{parts.netloc.decode('ascii')}"


def _transport_error(exc: httpx.TransportError) -> str:
    """The kind of failure and the system's reason ("ConnectError: [Errno -2] Name or service not
    known"), for the message; it names no credentials (those travel in a header)."""
    reason = str(exc).strip()
    return f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__


def _refused_on_loopback(exc: httpx.ConnectError, url: str) -> bool:
    host = httpx.URL(url).host
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return loopback
        cause = cause.__cause__ or cause.__context__
    return loopback and "refused" in str(exc).lower()


def _certificate_refused(exc: BaseException) -> bool:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        cause = cause.__cause__ or cause.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


def _ssl_reason(exc: BaseException) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return str(cause.verify_message or cause.reason or "certificate verify failed")
        cause = cause.__cause__ or cause.__context__
    return "certificate verify failed"


def _tls_handshake_failure(exc: BaseException) -> str | None:
    """The SSL reason (``WRONG_VERSION_NUMBER``...) when ``exc`` is a failed TLS handshake."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return str(cause.reason or type(cause).__name__)
        cause = cause.__cause__ or cause.__context__
    text = str(exc)
    return "WRONG_VERSION_NUMBER" if "WRONG_VERSION_NUMBER" in text else None


def _tls_hint(reason: str, api_url_setting: str) -> str:
    if reason == "WRONG_VERSION_NUMBER":
        # What OpenSSL reports when the server answers a TLS hello in plain text.
        return f"is the server speaking http, not https? Fix {api_url_setting}"
    return f"check {api_url_setting} and the server's TLS setup"
