"""Fault injection: the injector's decisions, and the middleware over real HTTP under uvicorn."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from dotsync.emulator.faults import Fault, FaultInjector, FaultMiddleware, FaultSettings
from dotsync.emulator.ratelimit import RateLimitSettings


def decisions(injector: FaultInjector, n: int, path: str = "/v2/account-info") -> list[str]:
    """The next n decisions as labels ("ok" when no fault)."""
    out = []
    for _ in range(n):
        fault = injector.decide("GET", path)
        out.append("ok" if fault is None else fault.label)
    return out


# --- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"script": ["500", "teapot"]}, "unknown script steps"),
        ({"statuses": [500, 429]}, "5xx"),
        ({"error_rate": 0.6, "drop_rate": 0.5}, "must not exceed 1"),
        ({"slow_rate": 0.1}, "slow_seconds"),
        ({"script": ["slow"]}, "slow_seconds"),
        ({"path_pattern": "contacts/("}, "regex"),
        ({"error_rate": 1.5}, "less than or equal to 1"),
        ({"failed_imports": 1, "import_failure_status": "Finished"}, "import_failure_status"),
        ({"eror_rate": 0.5}, "eror_rate"),
    ],
    ids=["step", "status", "shares", "slow-rate", "slow-step", "regex", "rate", "import", "typo"],
)
def test_settings_reject_incoherent_values(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultSettings.model_validate(settings)


# --- injector ------------------------------------------------------------------------------------


def test_script_is_consumed_in_order_before_rates_apply() -> None:
    injector = FaultInjector(
        FaultSettings(
            script=["503", "drop", "ok", "slow", "429", "500", "502"],
            slow_seconds=0.5,
            error_rate=1.0,
            statuses=[500],
        )
    )
    assert decisions(injector, 9) == [
        "503",
        "drop",
        "ok",
        "slow",
        "429",
        "500",
        "502",
        "500",
        "500",
    ]
    assert injector.script_left() == []
    assert injector.injected() == {"503": 1, "drop": 1, "slow": 1, "429": 1, "500": 3, "502": 1}


def test_slow_fault_carries_its_delay() -> None:
    injector = FaultInjector(FaultSettings(script=["slow"], slow_seconds=0.25))
    assert injector.decide("GET", "/v2/account-info") == Fault("slow", delay=0.25)


def test_no_fault_by_default() -> None:
    injector = FaultInjector(FaultSettings())
    assert decisions(injector, 200) == ["ok"] * 200
    assert injector.injected() == {}


def test_seeded_rates_are_reproducible_and_near_their_shares() -> None:
    settings = FaultSettings(error_rate=0.2, drop_rate=0.1, slow_rate=0.1, slow_seconds=1, seed=7)
    first = decisions(FaultInjector(settings), 4000)
    assert first == decisions(FaultInjector(settings), 4000)
    assert first != decisions(FaultInjector(settings.model_copy(update={"seed": 8})), 4000)

    counts = Counter(first)
    errors = counts["500"] + counts["502"] + counts["503"]
    assert 0.17 < errors / 4000 < 0.23
    assert 0.08 < counts["drop"] / 4000 < 0.12
    assert 0.08 < counts["slow"] / 4000 < 0.12
    assert min(counts["500"], counts["502"], counts["503"]) > 150  # every status gets drawn
    assert set(counts) == {"ok", "500", "502", "503", "drop", "slow"}


def test_path_pattern_limits_faults_and_script_consumption_to_matching_paths() -> None:
    injector = FaultInjector(FaultSettings(script=["500", "503"], path_pattern=r"/contacts/import"))
    assert injector.decide("GET", "/v2/account-info") is None
    assert injector.decide("POST", "/v2/address-books/3/contacts") is None
    assert injector.script_left() == ["500", "503"]
    assert decisions(injector, 3, "/r2/v2/address-books/3/contacts/import") == ["500", "503", "ok"]


def test_admin_paths_are_never_faulted() -> None:
    injector = FaultInjector(FaultSettings(script=["500"], drop_rate=1.0, path_pattern=".*"))
    assert injector.decide("POST", "/_emulator/faults") is None
    assert injector.decide("GET", "/_emulator") is None
    assert injector.script_left() == ["500"]
    assert injector.decide("GET", "/_emulatorish") == Fault("error", status=500)


@pytest.mark.parametrize("status", ["Failed", "RejectedByWatchdog"])
def test_import_failures_are_consumed_one_per_import(status: str) -> None:
    injector = FaultInjector(
        FaultSettings.model_validate({"failed_imports": 2, "import_failure_status": status})
    )
    outcomes = [injector.next_import_failure() for _ in range(3)]
    assert outcomes == [status, status, None]
    assert injector.injected() == {"import_failure": 2}


def test_decide_is_thread_safe() -> None:
    script = ["500", "502", "503", "drop"] * 250
    injector = FaultInjector(FaultSettings(script=script))
    seen: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        got = decisions(injector, 200)
        with lock:
            seen.extend(got)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Counter(seen) == Counter(script) + Counter({"ok": 200})
    assert sum(injector.injected().values()) == 1000


# --- middleware over real HTTP -------------------------------------------------------------------


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"method": request.method, "path": request.url.path})


@dataclass
class Served:
    base_url: str
    injector: FaultInjector

    def configure(self, **settings: object) -> FaultInjector:
        self.injector = FaultInjector(FaultSettings.model_validate(settings))
        return self.injector


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """A tiny Starlette app behind FaultMiddleware, served by uvicorn in a thread on a free port."""
    holder = Served("", FaultInjector(FaultSettings()))
    inner = Starlette(routes=[Route("/{path:path}", echo, methods=["GET", "POST", "PUT"])])
    app = FaultMiddleware(
        inner,
        get_injector=lambda: holder.injector,
        get_rate_settings=lambda: RateLimitSettings(mode="tiered", low_per_minute=77),
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # "critical": a drop makes uvicorn log an error, which is the point here, not news.
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    holder.base_url = f"http://127.0.0.1:{port}"
    try:
        yield holder
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def client(served: Served) -> Iterator[httpx.Client]:
    served.configure()  # every test starts without faults
    with httpx.Client(base_url=served.base_url, timeout=5) as http:
        yield http


def test_without_faults_requests_pass_through(client: httpx.Client) -> None:
    reply = client.get("/v2/account-info")
    assert reply.status_code == 200
    assert reply.json() == {"method": "GET", "path": "/v2/account-info"}


@pytest.mark.parametrize("status", [500, 502, 503])
def test_error_rate_answers_each_configured_5xx_with_a_json_body(
    served: Served, client: httpx.Client, status: int
) -> None:
    served.configure(error_rate=1.0, statuses=[status])
    for _ in range(3):
        reply = client.get("/v2/address-books/5")
        assert reply.status_code == status
        assert reply.headers["content-type"].startswith("application/json")
        assert isinstance(reply.json()["message"], str)
    v3 = client.put("/contacts/v3/import", json={"contacts": []})
    assert v3.status_code == status
    assert set(v3.json()) == {"errorCode", "description"}


def test_script_drives_replies_in_order_over_http(served: Served, client: httpx.Client) -> None:
    served.configure(script=["503", "ok", "500"])
    statuses = [client.get("/v2/account-info").status_code for _ in range(4)]
    assert statuses == [503, 200, 500, 200]
    assert served.injector.injected() == {"503": 1, "500": 1}


def test_drop_is_a_transport_error_for_the_client(served: Served, client: httpx.Client) -> None:
    served.configure(script=["drop", "drop"])
    with pytest.raises(httpx.TransportError):
        client.get("/v2/account-info")
    with pytest.raises(httpx.TransportError):
        client.post("/v2/address-books", json={"name": "x"})
    assert client.get("/v2/account-info").status_code == 200  # the server carries on


def test_slow_delays_the_reply_then_answers_normally(served: Served, client: httpx.Client) -> None:
    served.configure(script=["slow"], slow_seconds=0.4)
    started = time.monotonic()
    slow = client.get("/v2/account-info")
    slow_elapsed = time.monotonic() - started
    started = time.monotonic()
    fast = client.get("/v2/account-info")
    fast_elapsed = time.monotonic() - started
    assert slow.status_code == fast.status_code == 200
    assert slow.json() == {"method": "GET", "path": "/v2/account-info"}
    assert slow_elapsed >= 0.4
    assert fast_elapsed < 0.3


def test_slow_requests_do_not_block_each_other(served: Served) -> None:
    served.configure(slow_rate=1.0, slow_seconds=0.4)

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=served.base_url, timeout=5) as http:
            replies = await asyncio.gather(*(http.get("/v2/account-info") for _ in range(5)))
        return [r.status_code for r in replies]

    started = time.monotonic()
    assert asyncio.run(burst()) == [200] * 5
    assert time.monotonic() - started < 1.5  # five serial sleeps would take 2 s


def test_scripted_429_answers_like_the_tiered_limiter(served: Served, client: httpx.Client) -> None:
    served.configure(script=["429"])
    reply = client.put("/r2/contacts/v3/import", json={"contacts": []})
    assert reply.status_code == 429
    assert reply.headers["Retry-After"] == "1"
    assert reply.headers["X-RateLimit-Reset"] == "1"
    assert reply.headers["X-RateLimit-Limit"] == "77"
    assert reply.headers["X-RateLimit-Remaining"] == "0"
    assert reply.headers["X-RateLimit-Scope"] == "lowCallRate"
    assert reply.json()["errorCode"] == "contacts:tooManyRequests"
    assert client.put("/r2/contacts/v3/import", json={}).status_code == 200


def test_admin_paths_are_never_faulted_over_http(served: Served, client: httpx.Client) -> None:
    served.configure(drop_rate=0.5, error_rate=0.5, script=["500", "drop"])
    for _ in range(20):
        assert client.get("/_emulator/state").status_code == 200
    assert client.post("/_emulator/faults").json()["path"] == "/_emulator/faults"
    assert served.injector.script_left() == ["500", "drop"]
    assert served.injector.injected() == {}


def test_path_pattern_over_http(served: Served, client: httpx.Client) -> None:
    served.configure(error_rate=1.0, statuses=[502], path_pattern=r"^(/r[23])?/v2/contacts/import/")
    assert client.get("/v2/contacts/import/abc").status_code == 502
    assert client.get("/r3/v2/contacts/import/abc").status_code == 502
    assert client.get("/v2/account-info").status_code == 200
