"""Prometheus metrics of the service, in a registry of its own (never the process-global one).

Exposition is prometheus_client's (the reference client library), served at ``/metrics`` by
``dotsync.console.ops``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from dotsync.serve.outcome import RunOutcome
from dotsync.serve.workers import WorkerInfo

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Runs last from seconds (nothing changed) to hours (a first sync of a million profiles).
_DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800)


class MetricsRegistry:
    def __init__(self, exports: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.runs = Counter(
            "dotsync_runs_total", "Export runs by final status.", ["export", "status"], registry=r
        )
        self.run_duration = Histogram(
            "dotsync_run_duration_seconds",
            "Duration of export runs that ended (succeeded, partial or failed).",
            ["export"],
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.run_in_progress = Gauge(
            "dotsync_run_in_progress",
            "1 while a run of the export is going on.",
            ["export"],
            registry=r,
        )
        self.profiles_sent = Counter(
            "dotsync_profiles_sent_total",
            "Contacts sent to DotDigital in imports.",
            ["export"],
            registry=r,
        )
        self.profiles_rejected = Counter(
            "dotsync_profiles_rejected_total",
            "Rows rejected by validation or refused by DotDigital.",
            ["export"],
            registry=r,
        )
        self.profiles_left = Counter(
            "dotsync_profiles_left_total",
            "Members that left the export's segments.",
            ["export"],
            registry=r,
        )
        self.api_calls = Counter(
            "dotsync_api_calls_total", "DotDigital API calls by endpoint.", ["endpoint"], registry=r
        )
        self.api_rate_limited = Counter(
            "dotsync_api_rate_limited_total",
            "DotDigital replies that said to slow down (429 or APIUSAGE), by endpoint.",
            ["endpoint"],
            registry=r,
        )
        self.worker_runs = Gauge(
            "dotsync_worker_runs",
            "Workers sharing the state (several dotsync serve): 1 per job a worker runs; the "
            'job="" series counts its runs (0: alive and idle).',
            ["worker", "host", "job"],
            registry=r,
        )
        self.imports_in_flight = Gauge(
            "dotsync_imports_in_flight",
            "DotDigital imports submitted and not yet finished.",
            registry=r,
        )
        self.last_success = Gauge(
            "dotsync_last_success_timestamp_seconds",
            "Unix time at which the export's last successful run ended.",
            ["export"],
            registry=r,
        )
        # Set by each verify (dotsync verify, or serve's verify_schedule); absent before the first.
        self.verify_drift = Gauge(
            "dotsync_verify_drift",
            "Contacts the export's last verify found out of step with the state, by kind: missing "
            "(removed from the book), unknown (added by others), unsubscribed, suppressed.",
            ["export", "kind"],
            registry=r,
        )
        self.verify_last = Gauge(
            "dotsync_verify_last_timestamp_seconds",
            "Unix time at which the export's last verify ended.",
            ["export"],
            registry=r,
        )
        # Set by each pull (dotsync pull, or serve's pull_schedule): the last pull of each export.
        self.pull_rows = Gauge(
            "dotsync_pull_rows_written",
            "Rows the export's last pull wrote to its status table or file, by status "
            "(Unsubscribed, Suppressed, Subscribed).",
            ["export", "status"],
            registry=r,
        )
        self.pull_unknown = Gauge(
            "dotsync_pull_unknown_contacts",
            "Contacts the export's last pull read that no profile key of the export names.",
            ["export"],
            registry=r,
        )
        self.pull_calls = Gauge(
            "dotsync_pull_api_calls",
            "DotDigital calls the export's last pull made (pull.max_calls at most).",
            ["export"],
            registry=r,
        )
        self.pull_complete = Gauge(
            "dotsync_pull_complete",
            "1 when the export's last pull read every feed to its end, 0 when the call budget "
            "left some for the next pull.",
            ["export"],
            registry=r,
        )
        self.pull_last = Gauge(
            "dotsync_pull_last_timestamp_seconds",
            "Unix time at which the export's last pull ended.",
            ["export"],
            registry=r,
        )
        self._in_flight_by_export: dict[str, int] = {}
        self._lock = threading.Lock()
        self._tracked: set[str] = set()
        self.track_exports(exports)

    def track_exports(self, exports: Iterable[str]) -> None:
        """Makes each export's series present, so a dashboard shows 0 rather than "no data"
        (at start, and for exports a reloaded configuration adds)."""
        for name in exports:
            if name in self._tracked:
                continue  # known already: its gauge may say a run is going on
            self._tracked.add(name)
            self.profiles_sent.labels(name)
            self.profiles_rejected.labels(name)
            self.profiles_left.labels(name)
            self.run_in_progress.labels(name).set(0)

    def run_started(self, export: str) -> None:
        self.run_in_progress.labels(export).set(1)

    def set_imports_in_flight(self, n: int, *, export: str = "") -> None:
        """Callback for the runner: ``n`` imports of ``export`` are in flight now.

        Runs on different accounts may go on at once, so the gauge is the sum over exports.
        """
        with self._lock:
            self._in_flight_by_export[export] = max(0, n)
            self.imports_in_flight.set(sum(self._in_flight_by_export.values()))

    def record_run(self, outcome: RunOutcome) -> None:
        name = outcome.export
        self.run_in_progress.labels(name).set(0)
        self.set_imports_in_flight(0, export=name)
        self.runs.labels(name, str(outcome.status)).inc()
        if outcome.status not in ("busy", "lost", "interrupted", "dry_run"):
            self.run_duration.labels(name).observe(outcome.duration_seconds)
        if outcome.succeeded:
            self.last_success.labels(name).set(outcome.finished_at.timestamp())
        counts = outcome.counts
        if counts is None:
            return
        self.profiles_sent.labels(name).inc(counts.sent)
        self.profiles_rejected.labels(name).inc(counts.rejected + counts.failed)
        self.profiles_left.labels(name).inc(counts.left)
        for endpoint, calls in counts.api_calls_by_endpoint.items():
            self.api_calls.labels(endpoint).inc(calls)
        for endpoint, limited in counts.rate_limited_by_endpoint.items():
            self.api_rate_limited.labels(endpoint).inc(limited)

    def record_verify(self, export: str, drift: Mapping[str, int], finished_at: float) -> None:
        """The drift counts of a verify of ``export`` (kind -> contacts)."""
        for kind, count in drift.items():
            self.verify_drift.labels(export, kind).set(count)
        self.verify_last.labels(export).set(finished_at)

    def record_pull(
        self,
        export: str,
        *,
        written: Mapping[str, int],
        unknown_contacts: int,
        api_calls: int,
        complete: bool,
        finished_at: float,
    ) -> None:
        """The counts of a pull of ``export`` (``written``: status -> rows)."""
        for status, rows in written.items():
            self.pull_rows.labels(export, status).set(rows)
        self.pull_unknown.labels(export).set(unknown_contacts)
        self.pull_calls.labels(export).set(api_calls)
        self.pull_complete.labels(export).set(1 if complete else 0)
        self.pull_last.labels(export).set(finished_at)

    def set_workers(self, workers: Iterable[WorkerInfo]) -> None:
        """The ``dotsync serve`` workers sharing the state, and what each runs now."""
        with self._lock:
            self.worker_runs.clear()
            for worker in workers:
                self.worker_runs.labels(worker.worker, worker.host, "").set(len(worker.running))
                for job in worker.running:
                    self.worker_runs.labels(worker.worker, worker.host, job).set(1)

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)
