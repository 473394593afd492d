"""/metrics and /healthz over real HTTP from the serve app (here without the console)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.asgi_server import serve_app

from dotsync.console.app import build_app
from dotsync.result import RunCounts, RunStatus
from dotsync.serve.metrics import MetricsRegistry
from dotsync.serve.outcome import RunOutcome

START = datetime(2026, 1, 10, 6, 0, tzinfo=UTC)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


class Health:
    def __init__(self) -> None:
        self.ok = True

    def __call__(self) -> tuple[bool, dict[str, Any]]:
        return self.ok, {"running": ["newsletter"]}


@pytest.fixture
def served() -> Iterator[tuple[MetricsRegistry, Health, httpx.Client]]:
    metrics = MetricsRegistry(["newsletter", "vip"])
    health = Health()
    with serve_app(build_app(metrics, health, None)) as url, httpx.Client(base_url=url) as client:
        yield metrics, health, client


def test_metrics_reflect_runs(served: tuple[MetricsRegistry, Health, httpx.Client]) -> None:
    metrics, _health, client = served
    counts = RunCounts(
        profiles_in_segments=1000,
        sent=900,
        rejected=7,
        failed=3,
        left=12,
        api_calls_by_endpoint={"PUT /contacts/v3/import": 2, "GET /contacts/v3/import/{id}": 5},
        rate_limited_by_endpoint={"GET /contacts/v3/import/{id}": 1},
    )
    metrics.run_started("newsletter")
    metrics.set_imports_in_flight(2, export="newsletter")
    metrics.set_imports_in_flight(1, export="vip")
    during = samples(client.get("/metrics").text)
    assert during[("dotsync_imports_in_flight", ())] == 3
    assert during[("dotsync_run_in_progress", (("export", "newsletter"),))] == 1

    finished = START + timedelta(seconds=42)
    metrics.record_run(RunOutcome("newsletter", RunStatus.PARTIAL, START, finished, counts=counts))
    metrics.record_run(
        RunOutcome("newsletter", RunStatus.FAILED, START, START + timedelta(seconds=3), error="x")
    )
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = samples(response.text)
    nl = (("export", "newsletter"),)
    assert after[("dotsync_runs_total", (("export", "newsletter"), ("status", "partial")))] == 1
    assert after[("dotsync_runs_total", (("export", "newsletter"), ("status", "failed")))] == 1
    assert after[("dotsync_run_duration_seconds_count", nl)] == 2
    assert after[("dotsync_run_duration_seconds_sum", nl)] == 45
    assert after[("dotsync_profiles_sent_total", nl)] == 900
    assert after[("dotsync_profiles_rejected_total", nl)] == 10  # 7 by validation + 3 by DotDigital
    assert after[("dotsync_profiles_left_total", nl)] == 12
    assert after[("dotsync_profiles_sent_total", (("export", "vip"),))] == 0  # present from start
    assert after[("dotsync_api_calls_total", (("endpoint", "PUT /contacts/v3/import"),))] == 2
    assert after[("dotsync_api_calls_total", (("endpoint", "GET /contacts/v3/import/{id}"),))] == 5
    assert (
        after[("dotsync_api_rate_limited_total", (("endpoint", "GET /contacts/v3/import/{id}"),))]
        == 1
    )
    assert after[("dotsync_last_success_timestamp_seconds", nl)] == finished.timestamp()
    assert after[("dotsync_imports_in_flight", ())] == 1  # newsletter's run ended: vip's remains
    assert after[("dotsync_run_in_progress", nl)] == 0


def test_healthz(served: tuple[MetricsRegistry, Health, httpx.Client]) -> None:
    _metrics, health, client = served
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "running": ["newsletter"]}
    health.ok = False
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy"


def test_other_paths_are_not_found(served: tuple[MetricsRegistry, Health, httpx.Client]) -> None:
    assert served[2].get("/admin").status_code == 404
