"""The operations HTTP server: ``/healthz`` and ``/metrics``, on ``[serve] host``/``port``.

The standard library's threading HTTP server is enough for two read-only endpoints scraped every
few seconds, and it stops synchronously, which keeps the service's shutdown simple.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from dotsync.serve.metrics import CONTENT_TYPE, MetricsRegistry

log = logging.getLogger(__name__)

HealthCheck = Callable[[], tuple[bool, dict[str, Any]]]


class OpsServer:
    """Serves in a daemon thread from :meth:`start` to :meth:`stop`. ``port=0`` picks a free one."""

    def __init__(
        self, metrics: MetricsRegistry, health: HealthCheck, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        handler = _handler_class(metrics, health)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},  # how long stop() may wait
            name="dotsync-ops",
            daemon=True,
        )

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> OpsServer:
        self._thread.start()
        log.info("operations endpoints on %s (/healthz, /metrics)", self.base_url)
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> OpsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler_class(metrics: MetricsRegistry, health: HealthCheck) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(200, CONTENT_TYPE, metrics.exposition())
            elif path == "/healthz":
                ok, details = health()
                body = json.dumps({"status": "ok" if ok else "unhealthy", **details}, default=str)
                self._reply(200 if ok else 503, "application/json", body.encode())
            else:
                hint = b"not found: try /healthz or /metrics\n"
                self._reply(404, "text/plain; charset=utf-8", hint)

        def _reply(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            # Scrapes every few seconds would drown the log; keep them at debug level.
            log.debug("ops %s %s", self.address_string(), format % args)

    return Handler
