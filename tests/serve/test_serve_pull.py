"""``pull_schedule``: ``dotsync serve`` pulls for every export of the connection on its schedule,
in the account's lane, and ``/metrics`` shows the last pull's counts of each export (against the
emulator); a restarted service shows them from the state before its first pull."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from support.asgi_server import serve_app
from support.project import PASSWORD_ENV, Project, profile

from dotsync.config import load_config
from dotsync.console.app import build_app
from dotsync.emulator import RunningEmulator
from dotsync.errors import ConfigError
from dotsync.pull import last_pulls
from dotsync.serve.app import build_service


@pytest.fixture
def project(emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    user, password = emulator.credentials
    monkeypatch.setenv(PASSWORD_ENV, password)
    with emulator.client() as api:
        book = api.post("/v2/address-books", json={"name": "News"}).json()
    return Project(folder=tmp_path, emulator=emulator, book_id=int(book["id"]), api_user=user)


def _gauges(text: str, name: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(f'{name}{{export="news"'):
            labels = line.split("{", 1)[1].split("}", 1)[0]
            found[labels] = float(line.rsplit(" ", 1)[1])
    return found


def test_serve_pulls_on_the_connections_schedule_and_metrics_show_the_counts(
    project: Project,
) -> None:
    project.write_profiles([profile(i) for i in range(6)])
    project.connection = {"pull_schedule": "0 * * * *"}
    project.write_config(schedule="0 6 * * *")
    project.run()
    with project.emulator.client() as api:
        api.post("/v2/contacts/unsubscribe", json={"email": "person1@example.com"})
    project.emulator.suppress(project.api_user, "person2@example.com", "HardBounced")
    project.emulator.suppress(project.api_user, "somebody@example.com", "HardBounced")
    config = load_config(project.config_path)
    service = build_service(config)

    outcomes = service.run_due_once()

    # One lane per account: the export's run (due: never run under serve), then the pull.
    assert [(o.export, str(o.status)) for o in outcomes] == [
        ("news", "succeeded"),
        ("pull:dd", "succeeded"),
    ]
    text = service.metrics.exposition().decode()
    assert _gauges(text, "dotsync_pull_rows_written") == {
        'export="news",status="Subscribed"': 0.0,
        'export="news",status="Unsubscribed"': 1.0,
        'export="news",status="Suppressed"': 1.0,
    }
    assert _gauges(text, "dotsync_pull_unknown_contacts") == {'export="news"': 1.0}
    assert _gauges(text, "dotsync_pull_complete") == {'export="news"': 1.0}
    assert 'dotsync_api_calls_total{endpoint="GET /v2/contacts/suppressed-since/{id}"}' in text
    assert last_pulls(config)["news"].counts.rows_written == 2  # what the console reads

    restarted = build_service(config)  # before any pull of its own
    with serve_app(build_app(restarted.metrics, restarted.health, None)) as url:
        served = httpx.get(f"{url}/metrics").text
    assert _gauges(served, "dotsync_pull_rows_written")['export="news",status="Suppressed"'] == 1
    assert 'dotsync_pull_last_timestamp_seconds{export="news"}' in served


def test_a_bad_pull_schedule_is_named(project: Project) -> None:
    project.write_profiles([profile(1)])
    project.connection = {"pull_schedule": "hourly"}
    with pytest.raises(ConfigError, match=r"connections\.dd\.pull_schedule: 'hourly'"):
        project.write_config()
