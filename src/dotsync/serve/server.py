"""The HTTP side of ``dotsync serve``: where it listens, over what, and uvicorn running the app.

The console refuses to listen beyond loopback in plain HTTP: passwords and session cookies would
cross the network in clear. A non-loopback address needs ``--tls-cert``/``--tls-key``, or
``--behind-proxy`` when a reverse proxy terminates TLS in front of it (uvicorn then trusts the
proxy's ``X-Forwarded-*`` headers from loopback only). ``--no-console`` keeps the operations
endpoints alone, on any address, as before.

uvicorn handles SIGTERM and SIGINT while it runs; :class:`_Server` passes the first one on to the
service too, so a run going on stops at its next checkpoint while the HTTP side shuts down.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import uvicorn
from starlette.types import ASGIApp

from dotsync.config.models import ServeConfig
from dotsync.console.app import Transport
from dotsync.errors import ConfigError

log = logging.getLogger(__name__)

TRUSTED_PROXIES = "127.0.0.1,::1"  # --behind-proxy: the proxy runs on this machine


@dataclass(frozen=True)
class ServeOptions:
    console: bool = True
    host: str | None = None  # None: [serve] host
    port: int | None = None  # None: [serve] port
    tls_cert: Path | None = None
    tls_key: Path | None = None
    behind_proxy: bool = False

    def address(self, serve: ServeConfig) -> tuple[str, int]:
        return self.host or serve.host, self.port if self.port is not None else serve.port

    def transport(self, host: str) -> Transport:
        """Checks the TLS options and the address; raises ConfigError (exit 2) naming them."""
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("--tls-cert and --tls-key go together: give both or neither")
        for option, path in (("--tls-cert", self.tls_cert), ("--tls-key", self.tls_key)):
            if path is not None and not path.is_file():
                raise ConfigError(f"{option} {path}: no such file")
        tls = self.tls_cert is not None
        if self.console and not tls and not self.behind_proxy and not is_loopback(host):
            raise ConfigError(
                f"the console would listen on {host} in plain HTTP, where passwords and session "
                "cookies cross the network in clear: give --tls-cert and --tls-key, or "
                "--behind-proxy when a reverse proxy serves it over HTTPS (README: Web console), "
                "or listen on 127.0.0.1",
                key="serve.host",
            )
        return Transport(tls=tls, behind_proxy=self.behind_proxy)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere


def base_url(host: str, port: int, transport: Transport) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    if ":" in shown:
        shown = f"[{shown}]"
    return f"{'https' if transport.tls else 'http'}://{shown}:{port}"


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._on_exit()
        super().handle_exit(sig, frame)


def run_http(
    app: ASGIApp,
    host: str,
    port: int,
    options: ServeOptions,
    on_exit: Callable[[], None],
) -> None:
    """Serves ``app`` until SIGTERM/SIGINT (``on_exit`` is called at the first one)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,  # dotsync's logging (text or JSON) applies to uvicorn's loggers too
        access_log=False,  # a setup link's token is in its URL; requests are not logged
        server_header=False,
        lifespan="off",
        proxy_headers=options.behind_proxy,
        forwarded_allow_ips=TRUSTED_PROXIES if options.behind_proxy else None,
        ssl_certfile=str(options.tls_cert) if options.tls_cert else None,
        ssl_keyfile=str(options.tls_key) if options.tls_key else None,
        timeout_graceful_shutdown=5,
    )
    server = _Server(config, on_exit)
    try:
        server.run()
    except SystemExit as exc:  # uvicorn exits when it cannot bind: say which option to change
        if server.started:
            raise
        raise ConfigError(
            f"cannot listen on {host}:{port} (in use, or not an address of this machine): "
            "choose another with --port/--host or [serve] port/host",
            key="serve.port",
        ) from exc
