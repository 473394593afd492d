"""The schema version of the state database, and bringing it up to date.

The state records its schema revision in Alembic's ``alembic_version`` table. Opening a state runs
:func:`upgrade_schema`: a new database is created by applying every revision from empty; a database
written by dotsync 0.1 (its tables, no ``alembic_version``) is stamped as revision ``0001`` (the 0.1
schema), then upgraded; an up-to-date one costs one read. The revisions are the modules of
``migrations/versions`` (see the README there), shipped inside the package.

Alembic does not serialise two processes upgrading the same database, so the check and the upgrade
run in one transaction that holds a lock first: ``BEGIN EXCLUSIVE`` on SQLite, a transaction-level
advisory lock on PostgreSQL (keyed by the schema, so two states in two schemas of one database do
not wait for each other). The second process waits, then finds the schema current and does nothing.
"""

from __future__ import annotations

import logging
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, exc, inspect, text

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory

from dotsync.errors import ConfigError

log = logging.getLogger(__name__)
# Alembic narrates every step at INFO ("Context impl SQLiteImpl."...): one line of ours says it all.
logging.getLogger("alembic").setLevel(logging.WARNING)

MIGRATIONS = Path(__file__).parent / "migrations"
ZERO_ONE_REVISION = "0001"  # the schema of dotsync 0.1, which had no version table
# Execution option read by the SQLite engine's "begin" hook (store.open_engine): how to BEGIN.
SQLITE_BEGIN = "dotsync_sqlite_begin"


_REVISION = re.compile(r'^(down_revision|revision)\s*=\s*"([^"]*)"', re.MULTILINE)


@cache
def _scripts() -> ScriptDirectory:
    # Alembic is imported only to migrate: an up-to-date state (every run) does without it
    # (its import costs a run ~0.2 s).
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS))


@cache
def head_revision() -> str:
    """The revision this dotsync writes and expects: the one no other revision follows, read
    from the revision files' text (importing Alembic costs a run's start ~0.2 s)."""
    down: dict[str, str] = {}
    for path in (MIGRATIONS / "versions").glob("v*.py"):
        found = dict(_REVISION.findall(path.read_text(encoding="utf-8")))
        down[found["revision"]] = found.get("down_revision", "")
    heads = set(down) - set(down.values())
    if len(heads) != 1:  # not a simple chain: let Alembic say what the head is
        head = _scripts().get_current_head()
        assert head is not None
        return head
    return heads.pop()


def known_revisions() -> list[str]:
    """Every revision this dotsync knows, oldest first."""
    return [s.revision for s in reversed(list(_scripts().walk_revisions()))]


def current_revision(conn: Connection) -> str | None:
    """The revision recorded in the database; None for a new database or one written by 0.1."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def _recorded_revision(engine: Engine) -> str | None:
    """The revision in ``alembic_version``, read without Alembic; None if there is none."""
    with engine.connect() as conn:
        try:
            rows = conn.execute(text("select version_num from alembic_version")).fetchall()
        except exc.DBAPIError:
            return None
    return str(rows[0][0]) if len(rows) == 1 else None


def upgrade_schema(engine: Engine, revision: str | None = None) -> None:
    """Bring the state at ``engine`` to :func:`head_revision` (or to ``revision``, for tests of a
    later revision's data migration), safe against other processes doing the same at once.
    ``engine`` comes from ``store.open_engine``, whose SQLite engine honours SQLITE_BEGIN."""
    target = revision or head_revision()
    if _recorded_revision(engine) == target:  # the usual case: no lock, one read
        return
    with engine.connect() as conn:
        conn.execution_options(**{SQLITE_BEGIN: "EXCLUSIVE"})
        with conn.begin():
            # SQLite: BEGIN EXCLUSIVE (above). Other databases SQLAlchemy reaches get no lock:
            # dotsync supports SQLite and PostgreSQL.
            if conn.dialect.name == "postgresql":
                conn.execute(
                    text(
                        "select pg_advisory_xact_lock(hashtext('dotsync state schema'),"
                        " hashtext(current_schema()))"
                    )
                )
            _upgrade_locked(conn, target)


def _upgrade_locked(conn: Connection, target: str) -> None:
    current = current_revision(conn)
    if current == target:  # another process did it while we waited for the lock
        return
    if current is not None and current not in known_revisions():
        raise ConfigError(
            f"the state database is at schema revision {current}, written by a newer dotsync "
            f"(this one knows revisions up to {head_revision()}): upgrade dotsync, or point "
            "state.url at another database",
            key="state.url",
        )
    from alembic import command
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    if current is None and inspect(conn).has_table("runs"):
        command.stamp(config, ZERO_ONE_REVISION)  # written by dotsync 0.1
        current = f"{ZERO_ONE_REVISION} (dotsync 0.1)"
    command.upgrade(config, target)
    if current is None:
        log.info("state schema created at revision %s", target)
    else:
        log.info("state schema upgraded from revision %s to %s", current, target)
