"""A database URL whose driver is not installed: say what to install instead of "No module named".

SQLAlchemy imports a URL's driver when the engine is created (``postgresql+psycopg://`` imports
``psycopg``); dotsync installs only SQLite's and DuckDB's, and PostgreSQL's comes with the
``postgres`` extra."""

from __future__ import annotations

from sqlalchemy.exc import NoSuchModuleError

from dotsync.errors import ConfigError

# Driver modules that one of dotsync's extras installs.
EXTRAS = {"psycopg": "dotsync[postgres]"}


def missing_driver(key: str, url: str, exc: ImportError | NoSuchModuleError) -> ConfigError:
    """The error for ``url`` (the URL of setting ``key``, password hidden) whose driver failed
    to import with ``exc``."""
    if isinstance(exc, NoSuchModuleError):
        scheme = url.split("://", 1)[0]
        return ConfigError(
            f"SQLAlchemy knows no database {scheme!r} in {url}: install the package that "
            "provides it, or fix the URL (dialect+driver://...)",
            key=key,
        )
    module = (exc.name or "").split(".")[0] or "the driver"
    extra = EXTRAS.get(module)
    install = (
        f"install dotsync's PostgreSQL extra: pip install '{extra}'"
        if extra
        else f"install it (pip install {module})"
    )
    return ConfigError(
        f"{url} needs the Python package {module!r}, which is not installed: {install}",
        key=key,
    )
