"""Leases on the state's locks: what several workers sharing one state (PostgreSQL) need.

A run's locks are a lease: the row names its holder (``host:pid:random``), a fence bumped at every
acquisition, and when it expires by the database's clock. A keeper thread renews it every third of
its length, whatever the run is doing (a long source read included). Every transaction of the
store that holds the lease first checks, in that same transaction, that the rows still name this
holder (on PostgreSQL under a share lock, so a takeover waits for the transaction to end): a worker
paused past its lease (SIGSTOP, a long GC, a network partition) and taken over cannot write a
checkpoint any more. Before each DotDigital call the run also checks the lease locally (its last
renewal plus its length, on the monotonic clock, which goes on while a process is stopped), so a
paused worker that wakes up stops before calling DotDigital for an account another worker now
runs."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dotsync.errors import LeaseLostError

log = logging.getLogger(__name__)

LEASE_SECONDS = 60.0  # `[serve] lease_seconds`: how long a dead worker's run waits to be resumed


def new_holder() -> str:
    """host:pid:random: unique for every acquisition, readable for a person."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass
class Lease:
    names: tuple[str, ...]
    export: str
    holder: str
    fences: dict[str, int]
    seconds: float
    valid_until: float  # time.monotonic() after which it is not known to be ours any more
    lost: threading.Event = field(default_factory=threading.Event)
    on_lost: Callable[[], None] = lambda: None

    def mark_lost(self) -> None:
        if not self.lost.is_set():
            self.lost.set()
            log.warning(
                "the lease of export %s passed and another worker took it over: this run "
                "stops without writing anything more",
                self.export,
            )
            self.on_lost()

    def check(self) -> None:
        """Raises unless the lease is still known to be ours (before a call to DotDigital)."""
        if self.lost.is_set():
            raise self.error()
        if time.monotonic() > self.valid_until:
            raise LeaseLostError(
                f"the lease of export {self.export!r} was not renewed for {self.seconds:g} s "
                "(this worker was paused or cut off from the state): it stops before calling "
                "DotDigital; another worker resumes the run"
            )

    def error(self) -> LeaseLostError:
        return LeaseLostError(
            f"another worker took over the lease of export {self.export!r} (this worker was "
            "paused or cut off from the state past its lease): this run stops without writing; "
            "the other worker resumes it"
        )


class LeaseKeeper:
    """Renews a lease every third of its length until stopped or lost."""

    def __init__(self, renew: Callable[[Lease], bool], lease: Lease) -> None:
        self._renew, self.lease = renew, lease
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=f"lease-{lease.export}", daemon=True
        )
        self._thread.start()

    def _loop(self) -> None:
        lease = self.lease
        while not self._stop.wait(lease.seconds / 3):
            started = time.monotonic()
            try:
                ours = self._renew(lease)
            except LeaseLostError:
                ours = False
            except Exception as exc:  # the state unreachable: try again; the lease runs out
                log.warning("could not renew the lease of export %s: %s", lease.export, exc)
                continue
            if not ours:
                lease.mark_lost()
                return
            lease.valid_until = started + lease.seconds

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
