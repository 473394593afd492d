"""A console edit of ``dotsync.toml`` reaches the running service: ``reload_configuration`` gives
it the new schedules (keeping when each export last ran), and a broken file changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from dotsync.errors import ConfigError
from dotsync.serve.app import build_service, reload_configuration

CONFIG = """
[source]
path = "profiles.csv"
key = "id"
[segments.all]
where = "true"
[connections.c]
api_user = "demo@apiconnector.com"
password_env = "DOTSYNC_TEST_UNSET_PASSWORD"
address_book_id = 1
api_url = "http://127.0.0.1:9"
[exports.news]
connection = "c"
segments = ["all"]
{schedule}
[exports.news.mapping]
email = "email"
"""


def test_a_reload_brings_new_schedules_and_keeps_the_old_on_a_broken_file(tmp_path: Path) -> None:
    config = tmp_path / "dotsync.toml"
    service = build_service(None, require_schedule=False, work_dir=tmp_path / ".dotsync")
    assert service.scheduler.exports == []  # an empty folder: nothing to run yet

    config.write_text(CONFIG.format(schedule='schedule = "0 6 * * *"'))
    reload_configuration(service, config)
    [scheduled] = service.scheduler.exports
    assert (scheduled.name, scheduled.cron) == ("news", "0 6 * * *")
    assert service.account_of("news") == ("http://127.0.0.1:9", "demo@apiconnector.com")
    ran_at = datetime(2026, 1, 10, 6, 0, tzinfo=UTC)
    service.scheduler.record_run("news", ran_at)

    config.write_text(CONFIG.format(schedule='schedule = "30 7 * * *"'))
    reload_configuration(service, config)
    [changed] = service.scheduler.exports
    assert changed.cron == "30 7 * * *"
    assert service.scheduler.last_runs == {"news": ran_at}  # not due again because of the edit

    config.write_text(CONFIG.format(schedule='schedule = "not cron"'))
    with pytest.raises(ConfigError, match="cron"):
        reload_configuration(service, config)
    assert service.scheduler.exports == [changed]  # the previous configuration stays

    config.write_text(CONFIG.format(schedule=""))
    reload_configuration(service, config)
    assert service.scheduler.exports == []  # unscheduled: runs only when asked
    assert service.account_of("news") is not None
