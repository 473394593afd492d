"""The configuration (``dotsync.toml``): models, loading and the privacy check."""

from __future__ import annotations

from dotsync.config.loader import DEFAULT_CONFIG, Config, load_config, parse_config
from dotsync.config.models import (
    STANDARD_FIELDS,
    AlertsConfig,
    ConnectionConfig,
    DataFieldMapping,
    ExportConfig,
    FieldType,
    MappingConfig,
    MembershipConfig,
    SegmentConfig,
    ServeConfig,
    SourceConfig,
    StateConfig,
)
from dotsync.errors import ConfigError


def require_privacy_ack(connection_name: str, connection: ConnectionConfig) -> None:
    """Refuse to export through a connection whose owner has not acknowledged the privacy notice."""
    if not connection.privacy_acknowledged:
        raise ConfigError(
            "this export sends personal data (e-mail addresses, names and the other mapped "
            "fields) out of your systems to DotDigital, a third party that will process and store "
            "it. Check that you may share it (consent, data processing agreement), then set "
            f"`privacy_acknowledged = true` under [connections.{connection_name}] "
            "to acknowledge this",
            key=f"connections.{connection_name}.privacy_acknowledged",
        )


__all__ = [
    "DEFAULT_CONFIG",
    "STANDARD_FIELDS",
    "AlertsConfig",
    "Config",
    "ConnectionConfig",
    "DataFieldMapping",
    "ExportConfig",
    "FieldType",
    "MappingConfig",
    "MembershipConfig",
    "SegmentConfig",
    "ServeConfig",
    "SourceConfig",
    "StateConfig",
    "load_config",
    "parse_config",
    "require_privacy_ack",
]
