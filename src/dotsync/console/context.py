"""What the console works with: the project's files, the state, and the running service.

One :class:`ConsoleState` per server, built by ``dotsync serve``; pages reach it through
``dotsync.console.web.console_state(request)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from dotsync.config import Config, load_config
from dotsync.config.models import StateConfig
from dotsync.console.users import User
from dotsync.serve.jobs import LiveRun
from dotsync.state import StateStore
from dotsync.state.accounts import Accounts
from dotsync.state.audit import AuditEntry, AuditLog
from dotsync.state.run_requests import RequestKind, RunRequest, RunRequests
from dotsync.state.store import open_engine

# Audit actions that create or change an export (the pages record them; see ConsoleState.changes)
EXPORT_CHANGES = ("export.create", "export.edit", "export.detach", "export.remove")


@dataclass(frozen=True)
class ProjectPaths:
    """Where a project keeps its state, read from ``dotsync.toml`` or, before the file exists
    (``dotsync serve`` in an empty folder), the defaults relative to where it will be."""

    config_path: Path
    state_url: str
    work_dir: Path

    @classmethod
    def of(cls, config_path: Path) -> ProjectPaths:
        if config_path.exists():
            state = load_config(config_path).state
        else:
            base = config_path.parent.resolve()
            state = StateConfig.model_validate({}, context={"base_dir": base})
        return cls(config_path, state.url, Path(state.work_dir))


def _nothing() -> None:
    return None


def _no_runs() -> dict[str, LiveRun]:
    return {}


@dataclass
class ConsoleState:
    paths: ProjectPaths
    # Set by ``dotsync serve``: reload the configuration; look at the requests now; the runs
    # going on in this process.
    on_config_changed: Callable[[], None] = _nothing
    on_request: Callable[[], None] = _nothing
    live_runs: Callable[[], dict[str, LiveRun]] = _no_runs
    engine: Engine = field(init=False)

    def __post_init__(self) -> None:
        with StateStore(self.paths.state_url):
            pass  # brings the schema up to date once, before the console's tables are used
        self.engine = open_engine(self.paths.state_url)
        self.accounts = Accounts(self.engine)
        self.audit_log = AuditLog(self.engine)
        self.requests = RunRequests(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # --- the project ---------------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.paths.config_path

    @property
    def project_dir(self) -> Path:
        return self.paths.config_path.parent.resolve()

    @property
    def work_dir(self) -> Path:
        return self.paths.work_dir

    def load_config(self) -> Config:
        """``dotsync.toml`` read now, from disk (raises ConfigError naming the key)."""
        return load_config(self.config_path)

    def config_changed(self) -> None:
        """Call after writing ``dotsync.toml``: serve reloads it (schedules, exports) now. Raises
        the ConfigError of a file it cannot load; the previous configuration then stays."""
        self.on_config_changed()

    @contextmanager
    def store(self) -> Iterator[StateStore]:
        with StateStore(self.paths.state_url) as store:
            yield store

    # --- runs asked for in the console ---------------------------------------------------------

    def request_run(self, export: str, user: User) -> int:
        """Records "run now" of ``export`` by ``user`` (the process running exports starts it
        through the account's lane); returns the request's id."""
        request_id = self.requests.request(export, RequestKind.RUN, user.name)
        self.audit_log.record(user.name, "run.request", export, "ok", {"request": str(request_id)})
        self.on_request()
        return request_id

    def request_cancel(self, export: str, user: User) -> int:
        """Records "cancel" of ``export``'s run by ``user``: it stops at its next checkpoint."""
        request_id = self.requests.request(export, RequestKind.CANCEL, user.name)
        self.audit_log.record(user.name, "run.cancel", export, "ok", {"request": str(request_id)})
        self.on_request()
        return request_id

    def run_request(self, request_id: int) -> RunRequest | None:
        return self.requests.get(request_id)

    def run_requests(self, export: str | None = None, limit: int = 20) -> list[RunRequest]:
        return self.requests.recent(export, limit)

    # --- the audit log -------------------------------------------------------------------------

    def audit_entries(
        self, target: str | None = None, actions: tuple[str, ...] = (), limit: int = 200
    ) -> list[AuditEntry]:
        return self.audit_log.entries(target=target, actions=actions, limit=limit)

    def changes(self, export: str) -> list[AuditEntry]:
        """Who created and changed ``export``, newest first (the pages record ``export.create``,
        ``export.edit``, ``export.remove`` with the export's name as target)."""
        return self.audit_log.entries(target=export, actions=EXPORT_CHANGES, limit=50)
