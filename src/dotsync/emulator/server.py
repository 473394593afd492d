"""``serve``: run the emulator in the foreground until Ctrl-C or SIGTERM (the CLI calls it)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import uvicorn

from dotsync.emulator.app import create_app
from dotsync.emulator.settings import EmulatorSettings


class _Server(uvicorn.Server):
    """uvicorn re-raises the signal that stopped it once shut down, so the process dies *by*
    SIGTERM; an emulator stopped on purpose should exit 0 after its graceful shutdown."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        def stop(sig: int, frame: FrameType | None) -> None:
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True  # a second Ctrl-C does not wait for open requests
            self.should_exit = True

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve(settings: EmulatorSettings, host: str = "127.0.0.1", port: int = 8765) -> None:
    app = create_app(settings)  # before printing: a bad --seed or --state fails here
    shown = f"[{host}]" if ":" in host else host
    print(f"DotDigital emulator listening on http://{shown}:{port}", flush=True)
    for account in settings.accounts:
        print(f"  account {account.api_user} (region {account.region})", flush=True)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    _Server(config).run()
