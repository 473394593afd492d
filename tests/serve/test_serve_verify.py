"""``verify_schedule``: ``dotsync serve`` runs ``verify`` on its own schedule, in the export's
account lane, and ``/metrics`` shows the last drift counts of each export (against the emulator)."""

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
from dotsync.serve.app import build_service


@pytest.fixture
def project(emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    user, password = emulator.credentials
    monkeypatch.setenv(PASSWORD_ENV, password)
    with emulator.client() as api:
        book = api.post("/v2/address-books", json={"name": "News"}).json()
    return Project(folder=tmp_path, emulator=emulator, book_id=int(book["id"]), api_user=user)


def _drift(metrics_text: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in metrics_text.splitlines():
        if line.startswith('dotsync_verify_drift{export="news"'):
            kind = line.split('kind="')[1].split('"')[0]
            found[kind] = float(line.rsplit(" ", 1)[1])
    return found


def test_serve_runs_verify_on_its_schedule_and_metrics_show_the_drift(project: Project) -> None:
    project.write_profiles([profile(i) for i in range(6)])
    project.write_config(verify_schedule="0 5 * * 1")  # serve verifies; the export runs by hand
    project.run()
    contact = project.members()["person1@example.com"]["id"]
    with project.emulator.client() as api:
        api.delete(f"/v2/address-books/{project.book_id}/contacts/{contact}").raise_for_status()
        api.post(
            f"/v2/address-books/{project.book_id}/contacts/unsubscribe",
            json={"email": "person2@example.com"},
        ).raise_for_status()
        api.post(f"/v2/address-books/{project.book_id}/contacts", json={"email": "x@example.com"})
    service = build_service(load_config(project.config_path))

    with serve_app(build_app(service.metrics, service.health, None)) as url:
        assert _drift(httpx.get(f"{url}/metrics").text) == {}  # no verify yet
        [outcome] = service.run_due_once()
        text = httpx.get(f"{url}/metrics").text

    assert (outcome.export, str(outcome.status)) == ("verify:news", "succeeded")
    assert _drift(text) == {"missing": 1.0, "unknown": 1.0, "unsubscribed": 1.0, "suppressed": 0.0}
    assert 'dotsync_verify_last_timestamp_seconds{export="news"}' in text
    assert 'dotsync_api_calls_total{endpoint="GET /contacts/v3"}' in text
    assert "person1@example.com" not in project.members()  # it reports; it repairs nothing


def test_serve_runs_the_export_then_its_verify_in_one_lane(project: Project) -> None:
    project.write_profiles([profile(i) for i in range(6)])
    project.write_config(schedule="0 6 * * *", verify_schedule="0 5 * * 1")
    project.run()
    contact = project.members()["person1@example.com"]["id"]
    with project.emulator.client() as api:
        api.delete(f"/v2/address-books/{project.book_id}/contacts/{contact}").raise_for_status()
        api.post(
            f"/v2/address-books/{project.book_id}/contacts/unsubscribe",
            json={"email": "person2@example.com"},
        ).raise_for_status()
    # Something to send, so that the run reads the book's changes (a run with nothing to do
    # does not).
    project.write_profiles(
        [profile(i, first_name="New" if i == 3 else f"Ann{i}") for i in range(6)]
    )
    service = build_service(load_config(project.config_path))

    outcomes = service.run_due_once()

    assert [(o.export, str(o.status)) for o in outcomes] == [
        ("news", "succeeded"),
        ("verify:news", "succeeded"),
    ]
    # The export's run reads the book's unsubscribes (recorded), not the removal made by hand
    # (its state says the member is there): the verify after it finds only that.
    drift = _drift(service.metrics.exposition().decode())
    assert drift == {"missing": 1.0, "unknown": 0.0, "unsubscribed": 0.0, "suppressed": 0.0}


def test_a_bad_verify_schedule_is_named(project: Project) -> None:
    project.write_profiles([profile(1)])
    with pytest.raises(ConfigError, match=r"exports\.news\.verify_schedule: 'every monday'"):
        project.write_config(verify_schedule="every monday")
