"""Faults on demand for reliability tests: 5xx replies, dropped connections, slow replies, 429s and
imports that end ``Failed``.

``FaultInjector`` is the pure, thread-safe core (what happens to the next request);
``FaultMiddleware`` is the thin ASGI layer that carries it out. Paths under ``/_emulator/`` (the
admin API) are never faulted, so a test can always reconfigure or reset a misbehaving emulator.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.types import ASGIApp, Receive, Scope, Send

from dotsync.emulator.ratelimit import (
    RateLimitSettings,
    is_admin_path,
    is_v3_path,
    throttled,
    tier_of,
)

SCRIPT_STEPS = frozenset({"ok", "500", "502", "503", "429", "drop", "slow", "late"})
FaultKind = Literal["error", "drop", "slow", "late", "throttle"]


class FaultSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    error_rate: float = Field(default=0.0, ge=0, le=1)  # share answered with a 5xx
    statuses: list[int] = Field(default_factory=lambda: [500, 502, 503], min_length=1)
    drop_rate: float = Field(default=0.0, ge=0, le=1)  # share whose connection is dropped
    slow_rate: float = Field(default=0.0, ge=0, le=1)  # share delayed by slow_seconds
    slow_seconds: float = Field(default=0.0, ge=0)
    # Consumed one per matching request before the rates apply; "ok" answers normally.
    script: list[str] = Field(default_factory=list)
    path_pattern: str | None = None  # regex searched in the path; None = every non-admin path
    failed_imports: int = Field(default=0, ge=0)  # the next N imports end with the status below
    import_failure_status: Literal["Failed", "RejectedByWatchdog"] = "Failed"
    seed: int | None = None  # for reproducible random faults

    @field_validator("statuses")
    @classmethod
    def _server_errors_only(cls, statuses: list[int]) -> list[int]:
        bad = [s for s in statuses if not 500 <= s <= 599]
        if bad:
            raise ValueError(f"statuses must be 5xx codes, got {bad}")
        return statuses

    @field_validator("script")
    @classmethod
    def _known_steps(cls, script: list[str]) -> list[str]:
        unknown = sorted({step for step in script if step not in SCRIPT_STEPS})
        if unknown:
            raise ValueError(f"unknown script steps {unknown}; known: {sorted(SCRIPT_STEPS)}")
        return script

    @field_validator("path_pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"path_pattern is not a valid regex: {exc}") from exc
        return pattern

    @model_validator(mode="after")
    def _coherent(self) -> FaultSettings:
        # One random draw picks at most one fault per request, so the shares must fit in 1.
        if self.error_rate + self.drop_rate + self.slow_rate > 1:
            raise ValueError("error_rate + drop_rate + slow_rate must not exceed 1")
        slow = self.slow_rate > 0 or "slow" in self.script or "late" in self.script
        if slow and self.slow_seconds <= 0:
            raise ValueError("slow faults need slow_seconds > 0")
        return self


@dataclass(frozen=True)
class Fault:
    """One fault to inflict: a 5xx or 429 ``status``, a drop, or a ``delay`` before answering."""

    kind: FaultKind
    status: int | None = None
    delay: float = 0.0

    @property
    def label(self) -> str:
        """The key under which ``FaultInjector.injected`` counts this fault."""
        return str(self.status) if self.status is not None else self.kind


class FaultInjector:
    """Decides, request by request, which fault to inject. Thread-safe."""

    def __init__(self, settings: FaultSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._script: deque[str] = deque(settings.script)
        self._random = random.Random(settings.seed)  # noqa: S311 - test faults, not cryptography
        self._pattern = re.compile(settings.path_pattern) if settings.path_pattern else None
        self._failed_imports_left = settings.failed_imports
        self._injected: Counter[str] = Counter()

    def matches(self, path: str) -> bool:
        if is_admin_path(path):
            return False
        return self._pattern is None or self._pattern.search(path) is not None

    def decide(self, method: str, path: str) -> Fault | None:
        """The fault for this request, or None to answer normally. Counts what it injects."""
        if not self.matches(path):
            return None
        with self._lock:
            fault = self._from_script() if self._script else self._from_rates()
            if fault is not None:
                self._injected[fault.label] += 1
            return fault

    def _from_script(self) -> Fault | None:
        step = self._script.popleft()
        match step:
            case "ok":
                return None
            case "drop":
                return Fault("drop")
            case "slow":
                return Fault("slow", delay=self.settings.slow_seconds)
            case "late":  # handled (an import accepted), the reply held back slow_seconds
                return Fault("late", delay=self.settings.slow_seconds)
            case "429":
                return Fault("throttle", status=429)
            case _:
                return Fault("error", status=int(step))

    def _from_rates(self) -> Fault | None:
        settings = self.settings
        draw = self._random.random()
        if draw < settings.drop_rate:
            return Fault("drop")
        if draw < settings.drop_rate + settings.error_rate:
            return Fault("error", status=self._random.choice(settings.statuses))
        if draw < settings.drop_rate + settings.error_rate + settings.slow_rate:
            return Fault("slow", delay=settings.slow_seconds)
        return None

    def next_import_failure(self) -> str | None:
        """The status the next import must end with, consuming one of ``failed_imports``."""
        with self._lock:
            if self._failed_imports_left <= 0:
                return None
            self._failed_imports_left -= 1
            self._injected["import_failure"] += 1
            return self.settings.import_failure_status

    def injected(self) -> dict[str, int]:
        """Faults injected so far by kind: "500", "502", "503", "429", "drop", "slow",
        "import_failure"."""
        with self._lock:
            return dict(self._injected)

    def script_left(self) -> list[str]:
        with self._lock:
            return list(self._script)


# --- ASGI ----------------------------------------------------------------------------------------

# DotDigital documents no 5xx body; these reuse its error envelopes with codes from its catalogue
# (https://marketing.developer.dotdigital.com/docs/error-response-types) where one fits. A 502
# comes from a gateway, which knows no DotDigital codes.
_V2_SENTENCES = {
    500: "An unexpected error occurred. ERROR_UNKNOWN",
    503: "The API is temporarily unavailable. ERROR_SYSTEM_SERVICETEMPORARILYUNAVAILABLE",
}


def server_error_body(status: int, path: str) -> dict[str, object]:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:  # a 5xx code the standard library does not name
        phrase = "Server Error"
    if is_v3_path(path):
        return {"errorCode": "contacts:serverError", "description": phrase}
    return {"message": _V2_SENTENCES.get(status, phrase)}


async def _send_json(
    send: Send, status: int, body: dict[str, object], headers: dict[str, str] | None = None
) -> None:
    payload = json.dumps(body).encode()
    raw_headers = [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(payload)).encode()),
    ]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


async def _drop(send: Send) -> None:
    """Promise a body, then end without it: the server closes the connection mid-response, which
    an HTTP client sees as a transport error (uvicorn logs "returned without completing")."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"1024")],
        }
    )


class FaultMiddleware:
    """Pure ASGI middleware that carries out the injector's decisions.

    ``get_injector`` is called per request so the admin API can swap the injector at run time.
    ``get_rate_settings`` (optional) supplies the limits a scripted 429 reports in its headers.
    """

    def __init__(
        self,
        app: ASGIApp,
        get_injector: Callable[[], FaultInjector],
        get_rate_settings: Callable[[], RateLimitSettings] | None = None,
    ) -> None:
        self.app = app
        self._get_injector = get_injector
        self._get_rate_settings = get_rate_settings or RateLimitSettings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        fault = self._get_injector().decide(method, path)
        if fault is None:
            await self.app(scope, receive, send)
            return
        match fault.kind:
            case "slow":
                await asyncio.sleep(fault.delay)
                await self.app(scope, receive, send)
            case "late":
                # The request is handled first (an import PUT is accepted and queued), then its
                # reply waits: the window between DotDigital's 202 and the client's hearing of it.
                held: list[Any] = []

                async def hold(message: Any) -> None:
                    held.append(message)

                await self.app(scope, receive, hold)
                await asyncio.sleep(fault.delay)
                for message in held:
                    await send(message)
            case "drop":
                await _drop(send)
            case "error":
                status = fault.status or 500
                await _send_json(send, status, server_error_body(status, path))
            case "throttle":
                limit = self._get_rate_settings().limit_of(tier_of(method, path))
                decision = throttled(method, path, limit, reset_seconds=1)
                await _send_json(send, decision.status, decision.body or {}, decision.headers)
