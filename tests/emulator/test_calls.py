"""The per-endpoint call counter behind the admin API and the benchmarks."""

from __future__ import annotations

import threading

from dotsync.emulator.calls import CallCounter

IMPORT = "/v2/address-books/{addressBookId}/contacts/import"


def test_counts_per_endpoint_and_status() -> None:
    counter = CallCounter()
    counter.record("PUT", "/contacts/v3/import", 202)
    counter.record("put", "/contacts/v3/import", 429)
    counter.record("PUT", "/contacts/v3/import", 202)
    counter.record("POST", IMPORT, 202)
    counter.record("GET", "/contacts/v3/import/{importId}", 200)

    assert counter.snapshot() == {
        "GET /contacts/v3/import/{importId}": 1,
        f"POST {IMPORT}": 1,
        "PUT /contacts/v3/import": 3,
    }
    assert counter.by_status() == {
        "GET /contacts/v3/import/{importId}": {"200": 1},
        f"POST {IMPORT}": {"202": 1},
        "PUT /contacts/v3/import": {"202": 2, "429": 1},
    }
    assert counter.total() == 5


def test_snapshots_are_copies() -> None:
    counter = CallCounter()
    counter.record("GET", "/v2/account-info", 200)
    snapshot, by_status = counter.snapshot(), counter.by_status()
    counter.record("GET", "/v2/account-info", 200)
    assert snapshot == {"GET /v2/account-info": 1}
    assert by_status == {"GET /v2/account-info": {"200": 1}}
    assert counter.snapshot() == {"GET /v2/account-info": 2}


def test_reset_empties_everything() -> None:
    counter = CallCounter()
    counter.record("GET", "/v2/account-info", 200)
    counter.reset()
    assert (counter.snapshot(), counter.by_status(), counter.total()) == ({}, {}, 0)
    counter.record("GET", "/v2/account-info", 401)
    assert counter.by_status() == {"GET /v2/account-info": {"401": 1}}


def test_concurrent_records_are_all_counted() -> None:
    counter = CallCounter()

    def worker(status: int) -> None:
        for _ in range(2000):
            counter.record("GET", "/v2/contacts/{id}", status)

    threads = [threading.Thread(target=worker, args=(200 + i % 2,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter.total() == 16_000
    assert counter.by_status() == {"GET /v2/contacts/{id}": {"200": 8000, "201": 8000}}
