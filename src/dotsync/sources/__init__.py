"""Profile sources: where the unified customer profiles live (files via DuckDB, or a database)."""

from __future__ import annotations

from dotsync.config.models import SourceConfig
from dotsync.sources.base import ProfileSource, require_columns
from dotsync.sources.duckdb_source import DuckDBSource
from dotsync.sources.sqlalchemy_source import SQLAlchemySource


def open_source(config: SourceConfig) -> ProfileSource:
    """The source the configuration describes: ``path`` → DuckDB, ``url`` → SQLAlchemy."""
    if config.url is not None:
        return SQLAlchemySource(config)
    return DuckDBSource(config)


__all__ = ["DuckDBSource", "ProfileSource", "SQLAlchemySource", "open_source", "require_columns"]
