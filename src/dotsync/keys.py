"""Keys stored by dotsync 0.1 in their rewritten form, matched back to the keys as written.

Version 0.1 let DuckDB's CSV and JSON readers type a key column that looked like numbers, so the
state holds such keys as the number's text: ``00123`` as ``123``, ``1.50`` as ``1.5``, a JSON
``2`` as ``2.0``. Keys are now read exactly as written; without this step the first run after the
upgrade would see every such member leave (its stored key is gone) and enter again (its key is
new), removing and re-adding contacts for nothing.

Pure SQL over the run's tables ``members_valid(key, email_hash, ...)`` and
``state_members(key, contact_id, email_hash, digest)``: a stored key is renamed only when it is
absent from the valid members, exactly one valid member has its e-mail hash, that member has no
stored row, and that member's key read as a number gives the stored key. Anything less certain is
left to the plan as it is.
"""

from __future__ import annotations

import duckdb

from dotsync import tables

RENAMED_TABLE = "_dotsync_renamed_keys"

# The text 0.1 stored for a key the readers typed as a number: an integer type drops leading
# zeros and a '+'; DOUBLE drops trailing zeros (1.50 -> 1.5) and writes whole numbers as '2.0'.
_REWRITES = (
    "try_cast(try_cast(n.key AS HUGEINT) AS VARCHAR)",
    "try_cast(try_cast(n.key AS DOUBLE) AS VARCHAR)",
)

# Stored keys absent from the valid members, and valid members with no stored key. Right after
# planning, the plan's leavers and enterers are these (leavers also left the segment: a rejected
# row is no leaver) and are few, so a refresh does not join a million keys twice more.
_FROM_TABLES = (
    f"""SELECT key, email_hash FROM {tables.STATE_MEMBERS} s
    WHERE NOT EXISTS (SELECT 1 FROM {tables.MEMBERS_VALID} v WHERE v.key = s.key)""",
    f"""SELECT key, email_hash FROM {tables.MEMBERS_VALID} v
    WHERE NOT EXISTS (SELECT 1 FROM {tables.STATE_MEMBERS} s WHERE s.key = v.key)""",
)
_FROM_PLAN = (
    f"""SELECT s.key, s.email_hash FROM {tables.STATE_MEMBERS} s
    WHERE s.key IN (SELECT key FROM {tables.TO_LEAVE} WHERE reason = 'left')""",
    f"SELECT key, email_hash FROM {tables.TO_SEND} WHERE kind = 'enter'",
)


def renames_sql(*, after_plan: bool = False) -> str:
    """(old_key, new_key) pairs; ``after_plan`` reads the candidates from ``to_leave`` and
    ``to_send`` (see :mod:`dotsync.plan`) instead of joining the two tables."""
    orphans, newcomers = _FROM_PLAN if after_plan else _FROM_TABLES
    return f"""
WITH orphans AS ({orphans}),
newcomers AS ({newcomers}),
holders AS (
    SELECT email_hash, min(key) AS key FROM {tables.MEMBERS_VALID}
    WHERE email_hash IN (SELECT email_hash FROM orphans)
    GROUP BY email_hash HAVING count(*) = 1
),
pairs AS (
    SELECT o.key AS old_key, n.key AS new_key
    FROM orphans o
    JOIN holders h ON h.email_hash = o.email_hash
    JOIN newcomers n ON n.key = h.key
    WHERE o.key <> n.key AND o.key IN ({", ".join(_REWRITES)})
)
SELECT old_key, new_key FROM pairs
WHERE old_key IN (SELECT old_key FROM pairs GROUP BY old_key HAVING count(*) = 1)
AND new_key IN (SELECT new_key FROM pairs GROUP BY new_key HAVING count(*) = 1)
ORDER BY old_key
"""


def rewritten_keys(
    duck: duckdb.DuckDBPyConnection, *, after_plan: bool = False
) -> list[tuple[str, str]]:
    """The (stored key, key as written) pairs to rename; see the module's rules."""
    sql = renames_sql(after_plan=after_plan)
    return [(str(old), str(new)) for old, new in duck.execute(sql).fetchall()]


def rename_in_run(duck: duckdb.DuckDBPyConnection, pairs: list[tuple[str, str]]) -> None:
    """Show ``state_members`` with ``pairs`` renamed for the rest of the run (planning included).

    The member store is renamed separately (and not at all by a dry run, which writes nothing);
    ``state_members`` stays what it was, a view or a table.
    """
    if not pairs:
        return
    duck.execute(f"CREATE OR REPLACE TEMP TABLE {RENAMED_TABLE} (old_key VARCHAR, new_key VARCHAR)")
    duck.executemany(f"INSERT INTO {RENAMED_TABLE} VALUES (?, ?)", pairs)
    duck.execute(
        "CREATE OR REPLACE TEMP TABLE _dotsync_state_renamed AS "
        "SELECT coalesce(r.new_key, s.key) AS key, s.contact_id, s.email_hash, s.digest "
        f"FROM {tables.STATE_MEMBERS} s LEFT JOIN {RENAMED_TABLE} r ON s.key = r.old_key"
    )
    is_view = duck.execute(
        "SELECT count(*) FROM duckdb_views() WHERE view_name = ?", [tables.STATE_MEMBERS.name]
    ).fetchone()
    kind = "VIEW" if is_view and is_view[0] else "TABLE"
    duck.execute(f"DROP {kind} {tables.STATE_MEMBERS}")
    duck.execute(
        f"CREATE TEMP {kind} {tables.STATE_MEMBERS} AS SELECT * FROM _dotsync_state_renamed"
    )
