"""Retries, rate limits, busy import slots and stops, against the emulator's fault injection and
rate limiter over real HTTP. A fake ``sleep`` records every wait, so each schedule is exact."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from dotdigital.fakes import ClientFactory, FakeTime
from dotsync.dotdigital import PollPolicy, RetryPolicy
from dotsync.dotdigital.retry import rate_limit_wait
from dotsync.emulator import RunningEmulator
from dotsync.errors import ExitCode, InterruptedRunError, RateLimitedError, TransientError

BOOK_PATH = r"^/v2/address-books/\d+$"


def _v3_body(book_id: int, count: int, prefix: str = "c") -> bytes:
    contacts = [
        {
            "matchIdentifier": "email",
            "identifiers": {"email": f"{prefix}{i}@example.com"},
            "lists": [book_id],
        }
        for i in range(count)
    ]
    return json.dumps({"contacts": contacts}).encode()


def _clear_of_a_new_minute(margin: float = 3.0) -> None:
    """The emulator's tiered windows are aligned on the clock's minute: when one is about to
    begin, wait for it, so the calls that follow share one window (the budget they spend is not
    refilled halfway)."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.05)


def _lift_limits(emulator: RunningEmulator) -> Any:
    """As if the rate-limit window had passed while the client slept."""
    return lambda _seconds: emulator.set_rate_limits({"mode": "off"})


# -- transient failures ---------------------------------------------------------------------
def test_5xx_and_drops_are_retried_with_full_jitter(
    make_client: ClientFactory, emulator: RunningEmulator, fake_time: FakeTime
) -> None:
    policy = RetryPolicy(random=random.Random(3).random)  # noqa: S311 - jitter, not secrets
    client = make_client(emulator.base_url, emulator.credentials, retry=policy)
    book = client.create_address_book("Flaky")
    emulator.set_faults({"script": ["500", "502", "503", "drop"], "path_pattern": BOOK_PATH})

    assert client.address_book(book.id).name == "Flaky"

    draws = random.Random(3)  # noqa: S311
    assert fake_time.sleeps == [draws.random() * min(30, 0.5 * 2**n) for n in range(4)]
    assert client.stats.calls["GET /v2/address-books/{id}"] == 5
    assert client.stats.snapshot().retries == {"GET /v2/address-books/{id}": 4}


def test_gives_up_after_max_attempts(
    make_client: ClientFactory, emulator: RunningEmulator, fake_time: FakeTime
) -> None:
    policy = RetryPolicy(max_attempts=3, random=lambda: 1.0)
    client = make_client(emulator.base_url, emulator.credentials, retry=policy)
    client.discover()
    emulator.set_faults({"script": ["503"] * 5, "path_pattern": BOOK_PATH})
    with pytest.raises(TransientError) as caught:
        client.address_book(1)
    assert fake_time.sleeps == [0.5, 1.0]
    assert caught.value.status == 503
    assert caught.value.exit_code is ExitCode.RETRY_LATER
    assert "after 3 attempts" in str(caught.value)


def test_import_upload_is_retried_from_the_start_of_its_file(
    make_client: ClientFactory, emulator: RunningEmulator, fake_time: FakeTime, tmp_path: Path
) -> None:
    client = make_client(emulator.base_url, emulator.credentials)
    book = client.create_address_book("Retried upload")
    path = tmp_path / "body.json"
    path.write_bytes(_v3_body(book.id, 50))
    emulator.set_faults({"script": ["503"], "path_pattern": r"^/contacts/v3/import$"})
    before = client.stats.bytes_uploaded

    done = client.wait_for_contacts_import(client.start_contacts_import(path))

    assert len(done.created) == 50  # the second attempt sent the whole file again
    assert fake_time.sleeps[0] == RetryPolicy(random=lambda: 0.5).backoff(0)
    assert client.stats.bytes_uploaded - before == 2 * path.stat().st_size


def test_stop_request_ends_the_wait(
    make_client: ClientFactory, emulator: RunningEmulator, fake_time: FakeTime
) -> None:
    stop = {"requested": False}
    client = make_client(
        emulator.base_url, emulator.credentials, stop_requested=lambda: stop["requested"]
    )
    client.discover()
    fake_time.on_sleep.append(lambda _s: stop.update(requested=True))  # SIGTERM mid-backoff
    emulator.set_faults({"script": ["503"] * 5, "path_pattern": BOOK_PATH})
    with pytest.raises(InterruptedRunError):
        client.address_book(1)
    assert len(fake_time.sleeps) == 1
    assert client.stats.calls["GET /v2/address-books/{id}"] == 1


# -- rate limits ----------------------------------------------------------------------------
def test_429_waits_what_its_headers_say(
    make_client: ClientFactory,
    emulator: RunningEmulator,
    fake_time: FakeTime,
    responses: list[httpx.Response],
) -> None:
    # Another process spent the account's low-tier budget: only the 429 tells this client.
    other = make_client(emulator.base_url, emulator.credentials)
    client = make_client(emulator.base_url, emulator.credentials)
    other.discover()
    client.discover()
    emulator.set_rate_limits({"mode": "tiered", "low_per_minute": 1})
    other.address_books()
    fake_time.on_sleep.append(_lift_limits(emulator))

    assert client.address_books()

    refused = [r for r in responses if r.status_code == 429]
    assert len(refused) == 1
    expected = rate_limit_wait(refused[0].headers, 0.0)
    assert expected is not None and expected >= 1
    assert fake_time.sleeps == [expected]
    assert client.stats.rate_limited == {"GET /v2/address-books": 1}


def test_throttle_waits_before_sending_instead_of_meeting_a_429(
    make_client: ClientFactory,
    emulator: RunningEmulator,
    fake_time: FakeTime,
    responses: list[httpx.Response],
) -> None:
    client = make_client(emulator.base_url, emulator.credentials)
    client.discover()
    emulator.set_rate_limits({"mode": "tiered", "low_per_minute": 2})
    _clear_of_a_new_minute()
    client.address_books()
    client.address_books()
    spent = [r for r in responses if r.headers.get("x-ratelimit-remaining") == "0"]
    assert len(spent) == 1
    fake_time.on_sleep.append(_lift_limits(emulator))

    client.address_books()

    # The reply that spent the budget says when it comes back (one second earlier than the
    # first reply said when a second ticked over between the two).
    assert fake_time.sleeps == [float(spent[0].headers["x-ratelimit-reset"])]
    assert not [r for r in responses if r.status_code == 429]
    assert client.stats.rate_limited == {}


def test_flat_limit_waits_with_backoff_then_goes_on(
    make_client: ClientFactory, emulator: RunningEmulator, fake_time: FakeTime
) -> None:
    client = make_client(emulator.base_url, emulator.credentials)
    client.discover()  # one call in the rolling hour
    emulator.set_rate_limits({"mode": "flat", "flat_per_hour": 1})
    fake_time.on_sleep.append(_lift_limits(emulator))

    client.data_fields()

    assert fake_time.sleeps == [RetryPolicy(random=lambda: 0.5).rate_limit_backoff(0)]
    assert client.stats.rate_limited == {"GET /v2/data-fields": 1}


def test_flat_limit_gives_up_past_the_longest_wait(
    make_client: ClientFactory, emulator: RunningEmulator, fake_time: FakeTime
) -> None:
    policy = RetryPolicy(random=lambda: 1.0, max_rate_limit_wait=100)
    client = make_client(emulator.base_url, emulator.credentials, retry=policy)
    client.discover()
    emulator.set_rate_limits({"mode": "flat", "flat_per_hour": 1})
    with pytest.raises(RateLimitedError) as caught:
        client.data_fields()
    assert fake_time.sleeps == [60.0]  # the next wait, 120 s, would pass 100 s in all
    assert caught.value.code == "ERROR_APIUSAGE_EXCEEDED"
    assert client.stats.rate_limited == {"GET /v2/data-fields": 2}


# -- busy import slots and polling ----------------------------------------------------------
def test_too_many_active_imports_waits_for_a_slot(
    make_client: ClientFactory, emulator_factory: Any, fake_time: FakeTime
) -> None:
    emulator = emulator_factory(max_active_imports=1, import_rate=40)
    client = make_client(emulator.base_url, emulator.credentials)
    book = client.create_address_book("Busy")
    first = client.start_contacts_import(_v3_body(book.id, 20))  # ~0.5 s at 40 contacts/s
    fake_time.on_sleep.append(lambda _s: emulator.wait_for_import(first))

    second = client.start_contacts_import(_v3_body(book.id, 2, prefix="d"))  # a 429 first

    assert fake_time.sleeps == [RetryPolicy(random=lambda: 0.5).busy_backoff(0)]
    assert first != second
    assert client.stats.rate_limited == {}
    assert client.stats.snapshot().retries == {"PUT /contacts/v3/import": 1}


def test_polling_backs_off_until_the_import_ends(
    make_client: ClientFactory, emulator_factory: Any, fake_time: FakeTime
) -> None:
    emulator = emulator_factory(import_rate=100)
    client = make_client(emulator.base_url, emulator.credentials)
    book = client.create_address_book("Slow")
    import_id = client.start_contacts_import(_v3_body(book.id, 30))  # ~0.3 s
    fake_time.on_sleep.append(lambda _s: time.sleep(0.05))  # let the import progress

    done = client.wait_for_contacts_import(import_id)

    assert len(done.created) == 30
    assert fake_time.sleeps and fake_time.sleeps == [
        PollPolicy().delay(n) for n in range(len(fake_time.sleeps))
    ]
    assert client.stats.calls["GET /contacts/v3/import/{id}"] == len(fake_time.sleeps) + 1
