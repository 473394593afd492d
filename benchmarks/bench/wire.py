"""A TCP relay in front of PostgreSQL that counts the bytes each way: what a run really reads
from the database (and writes to it), on the wire, whatever the driver does."""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class CountingRelay:
    """Listen on 127.0.0.1 (a free port) and relay every connection to ``target``; ``read`` is
    the bytes the server sent, ``written`` the bytes clients sent, since the last ``reset``."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(64)
        self.port = int(self._server.getsockname()[1])
        self._lock = threading.Lock()
        self.read = 0
        self.written = 0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self) -> None:
        with self._lock:
            self.read = self.written = 0

    def _count(self, n: int, *, from_server: bool) -> None:
        with self._lock:
            if from_server:
                self.read += n
            else:
                self.written += n

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_server: bool) -> None:
        try:
            while chunk := source.recv(1 << 16):
                sink.sendall(chunk)
                self._count(len(chunk), from_server=from_server)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()

    def close(self) -> None:
        self._closed = True
        self._server.close()

    def __enter__(self) -> CountingRelay:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
