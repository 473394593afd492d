"""SIGTERM and SIGINT: the first asks for a stop at the next checkpoint, a second acts at once."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from dotsync.signals import stop_on_signals


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_first_signal_requests_a_stop_and_a_second_one_acts_as_before(
    sig: signal.Signals,
) -> None:
    seen: list[int] = []
    before = signal.signal(sig, lambda signum, _frame: seen.append(signum))
    try:
        stop = threading.Event()
        with stop_on_signals(stop.set):
            os.kill(os.getpid(), sig)
            assert stop.is_set()
            assert seen == []  # the first one is ours
            os.kill(os.getpid(), sig)
            assert seen == [sig]  # the second one does what it did before
    finally:
        signal.signal(sig, before)


def test_handlers_are_restored_on_exit() -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    with stop_on_signals(lambda: None):
        assert signal.getsignal(signal.SIGTERM) != before[signal.SIGTERM]
    assert {s: signal.getsignal(s) for s in before} == before


def test_outside_the_main_thread_it_changes_nothing() -> None:
    before = signal.getsignal(signal.SIGTERM)
    changed: list[bool] = []

    def worker() -> None:
        with stop_on_signals(lambda: None):
            changed.append(signal.getsignal(signal.SIGTERM) != before)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(5)
    assert changed == [False]
