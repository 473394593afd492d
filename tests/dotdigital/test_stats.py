from __future__ import annotations

import threading

from dotsync.dotdigital.stats import CallStats


def test_counts_are_exact_under_threads() -> None:
    stats = CallStats()

    def work() -> None:
        for _ in range(2000):
            stats.record_call("GET /v2/address-books/{id}", 3)
            stats.record_retry("GET /v2/address-books/{id}")
        stats.record_rate_limited("PUT /contacts/v3/import")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    snap = stats.snapshot()
    assert snap.calls == {"GET /v2/address-books/{id}": 16000}
    assert snap.total_retries == stats.retries == 16000
    assert snap.bytes_uploaded == 48000
    assert stats.rate_limited == {"PUT /contacts/v3/import": 8}
