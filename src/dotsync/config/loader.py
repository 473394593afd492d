"""Read ``dotsync.toml`` once, validate it, and turn every problem into one ConfigError.

The message of each error names the key path (``exports.newsletter.mapping.email``), the file, what
is wrong and how to fix it; TOML syntax errors give the line and column.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails

from dotsync.config.models import (
    AlertsConfig,
    ConnectionConfig,
    ExportConfig,
    KeyedValueError,
    PullConfig,
    SegmentConfig,
    ServeConfig,
    SourceConfig,
    StateConfig,
)
from dotsync.errors import ConfigError

DEFAULT_CONFIG = Path("dotsync.toml")


class _CrossCheckError(ValueError):
    """A cross-reference failed; carries the key path so the message can name it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _known(names: Any) -> str:
    listed = ", ".join(sorted(names))
    return listed or "none are defined"


def did_you_mean(name: str, names: Any) -> str:
    """``"did you mean 'churn_risk'? "`` when one of ``names`` is close to ``name``, else ``""``:
    a misspelt name suggests its likely intent before the full list."""
    guess = difflib.get_close_matches(name, sorted(names), n=1)
    return f"did you mean {guess[0]!r}? " if guess else ""


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path | None = Field(default=None, exclude=True)  # the file it was read from
    # Validated from {} so that its relative defaults resolve against the file, like written ones.
    state: StateConfig = Field(default_factory=dict, validate_default=True)
    source: SourceConfig
    segments: dict[str, SegmentConfig] = Field(default_factory=dict)
    connections: dict[str, ConnectionConfig] = Field(default_factory=dict)
    exports: dict[str, ExportConfig] = Field(default_factory=dict)
    serve: ServeConfig = Field(default_factory=ServeConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    # Validated from {} like `state`: its default path resolves against the file.
    pull: PullConfig = Field(default_factory=dict, validate_default=True)

    @model_validator(mode="after")
    def _references_exist(self) -> Config:
        for name, export in self.exports.items():
            if export.connection not in self.connections:
                raise _CrossCheckError(
                    f"exports.{name}.connection",
                    f"unknown connection {export.connection!r}; "
                    f"{did_you_mean(export.connection, self.connections)}known connections: "
                    f"{_known(self.connections)} "
                    f"(define it under [connections.{export.connection}])",
                )
            for segment in export.segments:
                if segment not in self.segments:
                    raise _CrossCheckError(
                        f"exports.{name}.segments",
                        f"unknown segment {segment!r}; {did_you_mean(segment, self.segments)}"
                        f"known segments: {_known(self.segments)} "
                        f"(define it under [segments.{segment}])",
                    )
        self._pull_matches_source()
        self._warehouse_needs_sql_source()
        return self

    def _warehouse_needs_sql_source(self) -> None:
        """``members_in = "source"`` runs the diff inside the source database: a file source
        has none."""
        if self.state.members_in == "source" and self.source.url is None:
            raise _CrossCheckError(
                "state.members_in",
                'members_in = "source" runs the diff inside the source database, which needs a '
                "SQL source (`[source] url`); the source is a file (`[source] path`). Remove "
                '`members_in` (or set it to "state") or use a database source',
            )

    def _pull_matches_source(self) -> None:
        """``[pull]``: a table for a database source, a Parquet file for a file source; a key
        of the other kind would silently do nothing, so it is named."""
        given = self.pull.model_fields_set
        if self.source.url is not None and "path" in given:
            raise _CrossCheckError(
                "pull.path",
                "the source is a database (`[source] url`): `dotsync pull` writes to the table "
                "`table` (in `schema`) of that database; remove `path`",
            )
        if self.source.url is None:
            for key, name in (("table", "table"), ("schema_name", "schema")):
                if key in given:
                    raise _CrossCheckError(
                        f"pull.{name}",
                        "the source is a file (`[source] path`): `dotsync pull` writes a Parquet "
                        f"file, `path`; remove `{name}`",
                    )

    def find_export(self, name: str) -> ExportConfig:
        try:
            return self.exports[name]
        except KeyError:
            raise ConfigError(
                f"no export named {name!r} in {self.path or 'the configuration'}; "
                f"{did_you_mean(name, self.exports)}known exports: {_known(self.exports)}",
                key=f"exports.{name}",
            ) from None


def _key_path(loc: tuple[int | str, ...]) -> str:
    # pydantic adds the name of a tagged-union member or "function-after[...]" to locations; drop
    # those so the path reads like the TOML keys the user wrote.
    parts = [
        str(part)
        for part in loc
        if str(part) not in _UNION_MEMBERS and not str(part).startswith("function-")
    ]
    return ".".join(parts)


_UNION_MEMBERS = frozenset({"str", "DataFieldMapping"})


def _describe(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "missing":
        return "field required: add this key"
    if kind == "extra_forbidden":
        return _unknown_key(error["loc"])
    message = error["msg"]
    return message.removeprefix("Value error, ")


def _sections_with(key: str) -> list[str]:
    """The top-level tables (``[state]``, ``[serve]``...) that accept ``key``."""
    sections = []
    for name, field in Config.model_fields.items():
        model = field.annotation
        if isinstance(model, type) and issubclass(model, BaseModel) and key in model.model_fields:
            sections.append(field.alias or name)
    return sorted(sections)


def _keys_beside(loc: tuple[int | str, ...]) -> list[str]:
    """The keys the table holding ``loc``'s last key accepts, found by walking the model tree
    (tables of named entries, like ``exports.NAME``, are skipped over by their name)."""
    model: type[BaseModel] = Config
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        if field is None:
            continue  # a name of ours (an export's, a segment's) or a union member's tag
        found = [
            t
            for t in (field.annotation, *getattr(field.annotation, "__args__", ()))
            if isinstance(t, type) and issubclass(t, BaseModel)
        ]
        if not found:
            return []
        model = found[0]
    return sorted(f.alias or name for name, f in model.model_fields.items() if not f.exclude)


def _unknown_key(loc: tuple[int | str, ...]) -> str:
    known = _keys_beside(loc)
    guess = difflib.get_close_matches(str(loc[-1]), known, n=1) if known else []
    if guess:
        return f"unknown key: did you mean {guess[0]!r}? (or remove it)"
    elsewhere = _sections_with(str(loc[-1]))
    if elsewhere and len(loc) == 2:  # a key of a top-level table, put in the wrong one
        tables = " or ".join(f"[{name}]" for name in elsewhere)
        return f"unknown key here: it belongs in {tables} (move it there, or remove it)"
    if known:
        return f"unknown key: remove it or check its spelling; known keys here: {', '.join(known)}"
    return "unknown key: remove it or check its spelling (the README's Configuration lists keys)"


def _from_validation_error(exc: ValidationError, path: Path) -> ConfigError:
    seen: set[str] = set()
    lines: list[str] = []
    problems: list[tuple[str | None, str]] = []
    first_key: str | None = None
    for error in exc.errors(include_url=False, include_input=False):
        ctx = error.get("ctx") or {}
        inner = ctx.get("error")
        if error["type"] == "string_type" and "str" in error["loc"]:
            continue  # the table form of a union failed too, and its error says more
        key = _key_path(error["loc"])
        if isinstance(inner, _CrossCheckError):
            key = inner.key
        elif isinstance(inner, KeyedValueError):
            key = f"{key}.{inner.subkey}" if key else inner.subkey
        line = f"{key}: {_describe(error)}" if key else _describe(error)
        if line not in seen:
            seen.add(line)
            lines.append(line)
            problems.append((key or None, _describe(error)))
            first_key = first_key or key
    config_error = ConfigError(f"{path}: " + ("; ".join(lines) or "invalid configuration"))
    config_error.key = first_key
    config_error.problems = problems
    return config_error


def parse_config(data: dict[str, Any], *, path: Path) -> Config:
    """Validate already-parsed TOML data; relative paths resolve against ``path``'s folder."""
    try:
        return Config.model_validate(
            {**data, "path": path}, context={"base_dir": path.parent.resolve()}
        )
    except ValidationError as exc:
        raise _from_validation_error(exc, path) from None


def load_config(path: str | Path = DEFAULT_CONFIG) -> Config:
    """Read and validate a ``dotsync.toml`` (``str`` or ``Path``); relative paths in it resolve
    against its folder. Every problem (file missing, not TOML, a wrong or unknown key) becomes one
    ConfigError naming the file and the key."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: configuration file not found; "
            "create it (see the README) or pass --config PATH"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: the file is not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        # The message ends with "(at line L, column C)"; keep it, it is what the user needs.
        raise ConfigError(f"{path}: TOML syntax error: {exc}") from None
    if "path" in data:
        raise ConfigError(f"{path}: unknown top-level key `path`", key="path")
    return parse_config(data, path=path)
