"""SIGTERM and SIGINT for ``dotsync serve``: finish at the next checkpoint, then exit cleanly."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from types import FrameType

from dotsync.serve.service import Service

log = logging.getLogger(__name__)


def install_stop_signals(service: Service) -> Callable[[], None]:
    """SIGTERM/SIGINT stop the service at the runs' next checkpoint; a second signal kills.

    Must be called from the main thread. Returns a function restoring the previous handlers.
    """
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {sig: signal.getsignal(sig) for sig in signals}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.warning(
            "%s received: stopping at the next checkpoint (send it again to stop at once)",
            signal.Signals(signum).name,
        )
        service.request_stop()
        # The default action on a second signal: an impatient operator is not kept waiting.
        for sig in signals:
            signal.signal(sig, signal.SIG_DFL)

    for sig in signals:
        signal.signal(sig, on_signal)

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
