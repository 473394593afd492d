"""What a run works with: its configuration, the names of its locks, its private work folder and
its connections (DuckDB, DotDigital). Callbacks (progress, stop) are given here, once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import httpx

from dotsync import mapping
from dotsync.config import Config, ConnectionConfig, ExportConfig
from dotsync.connect import ConnectionReport, check_connection, open_client
from dotsync.dotdigital import CallStats, DotDigitalClient
from dotsync.errors import InterruptedRunError
from dotsync.identity import quote_literal
from dotsync.state import BookRef
from dotsync.state.locks import account_lock, run_locks

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)
# With the interpreter's ~150 MB, a 1M export peaked at 501 MB under 300 MB, 460 MB under 250 MB
# and 392 MB under 200 MB (measured on the benchmark's profiles), no slower within the noise:
# planning's tables are dropped before sending and no statement copies a million rows twice.
DUCKDB_MEMORY_LIMIT = "200MB"
# A bound on what is not yet checkpointed (kept in memory or spilled): a checkpoint every
# ~8 imports of 100k instead of every one or two.
CHECKPOINT_THRESHOLD = "256MB"


def _no_progress(_stage: str, _done: int, _total: int) -> None:
    return None


@dataclass
class RunContext:
    config: Config
    name: str
    full: bool = False
    stop: threading.Event = field(default_factory=threading.Event)
    progress: ProgressFn = _no_progress
    http_client: httpx.Client | None = None
    stats: CallStats = field(default_factory=CallStats)
    run_id: int | None = None  # once recorded: sent as X-Dotsync-Run with each call

    def __post_init__(self) -> None:
        self.export: ExportConfig = self.config.find_export(self.name)
        self.connection: ConnectionConfig = self.config.connections[self.export.connection]
        self.book_id = int(self.connection.address_book_id)
        self.work_dir = Path(self.config.state.work_dir)
        self.lock_names = run_locks(
            self.name, str(self.connection.api_url), self.connection.api_user
        )

    # --- workspace -------------------------------------------------------------------------------

    def run_dir(self, run_id: int) -> Path:
        return self.work_dir / "runs" / f"{self.name}-{run_id}"

    def rejects_dir(self) -> Path:
        return self.work_dir / "rejects"

    def duck(self, run_dir: Path | None) -> duckdb.DuckDBPyConnection:
        duck = duckdb.connect(":memory:")
        if run_dir is not None:
            # Private folders: they hold import bodies (e-mails, names) for a moment.
            for folder in (self.work_dir, self.work_dir / "runs", run_dir):
                folder.mkdir(parents=True, exist_ok=True, mode=0o700)
                folder.chmod(0o700)
            # Spill to the run's private folder rather than the shared /tmp.
            duck.execute(f"set temp_directory = {quote_literal(str(run_dir / 'spill'))}")
            # DuckDB keeps what it allocates; capped, a million profiles fit in about 0.4 GB
            # and larger exports spill to disk instead of growing with the profiles (measured:
            # peak RSS 1.2 GB uncapped -> 0.4 GB at 1M).
            duck.execute(f"set memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
        duck.execute("set preserve_insertion_order = false")
        # Each import's commit appends ~100k members and ledger rows to their files; checkpointed
        # at DuckDB's default 16 MB of log, every commit or two recompressed the files (measured:
        # 3.6 s of CPU for ten commits, against 0.8 s with one checkpoint when the run detaches
        # the files). The log is written and synced at each commit all the same.
        duck.execute(f"set checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
        return duck

    def check_stop(self) -> None:
        if self.stop.is_set():
            raise InterruptedRunError("stopped on request at a checkpoint; the next run resumes")

    # --- DotDigital ------------------------------------------------------------------------------

    def client(self) -> DotDigitalClient:
        return open_client(
            self.connection,
            name=self.export.connection,
            http_client=self.http_client,
            stats=self.stats,
            stop=self.stop,
            config_path=self.config.path,
        )

    def connect(
        self, client: DotDigitalClient, *, create_missing: bool, dry_run: bool = False
    ) -> ConnectionReport:
        names = mapping.required_fields(self.export.mapping)
        _, fields = mapping.plan_columns(self.export.mapping)
        return check_connection(
            client,
            connection=self.export.connection,
            display_name=self.connection.display_name,
            address_book_id=self.book_id,
            expected_region=self.connection.region,
            required_fields=names,
            field_types={f.name: f.type for f in fields if f.explicit_type},
            create_missing=create_missing,
            dry_run=dry_run,
        )

    @property
    def url_account(self) -> str:
        """The account as the configuration names it (host and API user), where DotDigital
        gives no id."""
        return account_lock(str(self.connection.api_url), self.connection.api_user).removeprefix(
            "account:"
        )

    def book(self, report: ConnectionReport) -> BookRef:
        """The ledger's key of the configured book. Without an account id from DotDigital, the
        API user and host stand for the account."""
        return BookRef(report.account_id or self.url_account, self.book_id)
