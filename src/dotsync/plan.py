"""Pure planning: the members now (validated, in DuckDB) against the state (what DotDigital last
confirmed) gives who enters, who changed, and who left. No network, no disk: DuckDB tables in,
DuckDB tables and counts out.

Inputs (tables or registered Arrow views in ``duck``):
- ``members_raw(key, ...)``: every profile in a selected segment whose row was read, valid or
  not, and ``members_kept(key, ...)`` (if there) the members whose row a change marker spared;
- ``members_valid(key, email, email_hash, digest, f_<FIELD>...)``;
- ``state_members(key, contact_id, email_hash, digest)``.

Outputs:
- ``to_send``: ``members_valid`` columns plus ``kind`` ('enter' | 'change');
- ``to_leave(key, contact_id, reason)``: reason 'left' (in no selected segment any more) or
  'email_changed' (the old contact leaves, the new e-mail enters).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from dotsync import tables


@dataclass(frozen=True)
class PlanCounts:
    entered: int
    changed: int
    unchanged: int
    left: int
    email_changed: int

    @property
    def to_send(self) -> int:
        return self.entered + self.changed


def _has_table(duck: duckdb.DuckDBPyConnection, table: tables.RunTable) -> bool:
    rows = duck.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [table.name]
    ).fetchall()
    return bool(rows[0][0])


def make_plan(duck: duckdb.DuckDBPyConnection, *, full: bool) -> PlanCounts:
    """Create ``to_send`` and ``to_leave``. ``full`` resends every valid member. Members a
    change marker kept (``members_kept``, when the source made it) are in their segments and
    unchanged: they neither leave nor are sent."""
    resend_all = "true" if full else "false"
    kept = _has_table(duck, tables.MEMBERS_KEPT)
    present = (
        f"(SELECT key FROM {tables.MEMBERS_RAW} UNION ALL SELECT key FROM {tables.MEMBERS_KEPT})"
        if kept
        else f"(SELECT key FROM {tables.MEMBERS_RAW})"
    )
    kept_unchanged = (
        f"(SELECT count(*) FROM {tables.MEMBERS_KEPT} WHERE key NOT IN "
        f"(SELECT key FROM {tables.MEMBERS_REJECTED}))"
        if kept
        else "0"
    )
    duck.execute(
        f"""
        create or replace temp table {tables.TO_SEND} as
        select v.*, case when s.key is null then 'enter' else 'change' end as kind
        from {tables.MEMBERS_VALID} v left join {tables.STATE_MEMBERS} s using (key)
        where {resend_all} or s.key is null or s.digest <> v.digest
        """
    )
    # A profile whose row is now rejected (bad e-mail, ...) is still in its segment: we leave its
    # previous contact alone rather than remove someone the segment still holds.
    duck.execute(
        f"""
        create or replace temp table {tables.TO_LEAVE} as
        select s.key, s.contact_id, 'left' as reason
        from {tables.STATE_MEMBERS} s anti join {present} r using (key)
        union all
        select s.key, s.contact_id, 'email_changed' as reason
        from {tables.STATE_MEMBERS} s join {tables.MEMBERS_VALID} v using (key)
        where s.email_hash <> v.email_hash
        """
    )
    row = duck.execute(
        f"""
        select
          (select count(*) from {tables.TO_SEND} where kind = 'enter'),
          (select count(*) from {tables.TO_SEND} where kind = 'change'),
          (select count(*) from {tables.MEMBERS_VALID}) - (select count(*) from {tables.TO_SEND})
            + {kept_unchanged},
          (select count(*) from {tables.TO_LEAVE} where reason = 'left'),
          (select count(*) from {tables.TO_LEAVE} where reason = 'email_changed')
        """
    ).fetchone()
    assert row is not None
    entered, changed, unchanged, left, email_changed = (int(x) for x in row)
    return PlanCounts(entered, changed, unchanged, left, email_changed)


def sample(
    duck: duckdb.DuckDBPyConnection, table: tables.RunTable, limit: int = 5
) -> list[tuple[str, str]]:
    """A few (key, kind-or-reason) pairs of ``to_send`` or ``to_leave`` for a dry run, ordered by
    key for repeatability."""
    column = "kind" if table == tables.TO_SEND else "reason"
    return [
        (str(k), str(v))
        for k, v in duck.execute(
            f"select key, {column} from {table} order by key limit {int(limit)}"
        ).fetchall()
    ]
