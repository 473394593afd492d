"""SIGTERM and SIGINT ask the current run to stop at its next checkpoint; a second one acts at once.

One behaviour for every command that runs exports (``dotsync export`` and ``dotsync serve``): an
operator's first signal loses no work, and an impatient second one is not kept waiting.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

log = logging.getLogger(__name__)

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def stop_on_signals(request_stop: Callable[[], None]) -> Iterator[None]:
    """While inside, the first SIGTERM or SIGINT calls ``request_stop`` and puts back the handlers
    that were there before, so a second signal does what it would have done without us (SIGTERM
    ends the process, SIGINT raises ``KeyboardInterrupt``). Handlers are restored on exit.

    Python delivers signals to the main thread only: elsewhere (a run started from a worker
    thread) this does nothing and the caller's own stop applies."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.warning(
            "%s received: stopping at the next checkpoint (send it again to stop at once)",
            signal.Signals(signum).name,
        )
        restore()
        request_stop()

    for sig in _SIGNALS:
        signal.signal(sig, on_signal)
    try:
        yield
    finally:
        restore()
