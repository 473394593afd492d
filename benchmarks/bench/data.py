"""The profiles (Parquet), their changes between runs, and the membership check.

The expected membership is computed here, from the Parquet, with rules written independently of
``dotsync.mapping`` (a simpler e-mail pattern, no shared SQL), so that a bug in dotsync's
validation or planning shows as a difference instead of being reproduced by the check."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb

from dotsync.synthetic import profiles_sql, write_profiles

# The segment of the benchmark: lifetime values are uniform over 0..5,000, so it holds 98%.
SEGMENT_WHERE = "lifetime_value > 100"
# Deliberately not dotsync's pattern: something at something dot a 2+ character top-level label,
# no spaces, one '@'. The synthetic broken addresses (empty, no '@', '@@', trailing dot, space,
# no domain, no local part) all fail it; every generated good one passes.
_INDEPENDENT_EMAIL = r"[^@\s]+@([^@\s.]+\.)+[^@\s.]{2,}"

# Shares of the third run, as the performance targets state them.
CHANGED_SHARE, LEFT_SHARE, ARRIVED_SHARE = 0.01, 0.005, 0.01


def _q(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def generate(path: Path, count: int) -> Path:
    """``count`` synthetic profiles (2% bad e-mails, 0.5% duplicated e-mails, built in)."""
    return write_profiles(path, count)


@dataclass(frozen=True)
class Mutation:
    changed: int  # profiles whose LOYALTY_TIER changed (in the file; some are not members)
    left: int  # profiles deleted from the file
    arrived: int  # new profiles appended


def mutate(path: Path, generated: int, day: int = 0) -> Mutation:
    """Change 1% of the profiles, delete 0.5% and append 1% new ones, in place (via a temporary
    file: DuckDB cannot overwrite the Parquet it reads). ``generated`` is how many profiles were
    generated, so the new ones get fresh keys (and fresh e-mails, which carry the row number).
    ``day`` picks which profiles change and leave: another 1% and 0.5% each day."""
    arrivals = int(generated * ARRIVED_SHARE)
    # One hash decides each profile's fate, so "left" and "changed" never overlap.
    fate = f"hash(customer_id, 'benchmark-refresh-{int(day)}') % 10000"
    left_below = int(LEFT_SHARE * 10000)
    changed_below = left_below + int(CHANGED_SHARE * 10000)
    rotated = "CASE tier WHEN 'gold' THEN 'silver' WHEN 'silver' THEN 'bronze' ELSE 'gold' END"
    # The rows that change get a new change marker, as an application's updated_at would.
    touched = "(SELECT max(updated_at) FROM read_parquet({src})) + INTERVAL 1 DAY"
    newest = f"'C' || lpad('{generated - 1}', 8, '0')"
    temporary = path.with_suffix(".next.parquet")
    with duckdb.connect() as duck:
        duck.execute("set preserve_insertion_order = false")
        counts = duck.execute(f"""
            select count(*) filter (where {fate} < {left_below}),
                   count(*) filter (where {fate} >= {left_below} and {fate} < {changed_below})
            from read_parquet({_q(path)})""").fetchone()
        assert counts is not None
        duck.execute(f"""copy (
            select * replace (
              case when {fate} >= {left_below} and {fate} < {changed_below}
                then {rotated} else tier end as tier,
              case when {fate} >= {left_below} and {fate} < {changed_below}
                then {touched.format(src=_q(path))} else updated_at end as updated_at)
            from read_parquet({_q(path)}) where {fate} >= {left_below}
            union all
            select * from ({profiles_sql(generated + arrivals)}) where customer_id > {newest}
        ) to {_q(temporary)} (format parquet)""")
    temporary.replace(path)
    return Mutation(changed=int(counts[1]), left=int(counts[0]), arrived=arrivals)


@dataclass(frozen=True)
class MembershipCheck:
    expected: int  # distinct valid e-mails of the segment, computed from the Parquet
    in_book: int  # members the emulator lists in the address book
    missing: int  # expected but not in the book
    unexpected: int  # in the book but not expected
    duplicated: int  # e-mails listed more than once in the book
    exact: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_membership(profiles: Path, members_json: Path) -> MembershipCheck:
    """Compare the segment's expected e-mails (from the Parquet) with the book's members (the
    emulator's admin listing, saved as a JSON array), as sets of trimmed, lower-cased e-mails."""
    with duckdb.connect() as duck:
        duck.execute(f"""create table expected as
            select distinct lower(trim(email)) as email from read_parquet({_q(profiles)})
            where {SEGMENT_WHERE}
              and regexp_full_match(lower(trim(email)), '{_INDEPENDENT_EMAIL}')""")
        duck.execute(f"""create table actual as
            select lower(trim(email)) as email from read_json({_q(members_json)},
                format = 'array', columns = {{email: 'VARCHAR'}}, maximum_object_size = 1048576)""")
        row = duck.execute("""select
            (select count(*) from expected),
            (select count(*) from actual),
            (select count(*) from (select email from expected except select email from actual)),
            (select count(*) from (select email from actual except select email from expected)),
            (select count(*) - count(distinct email) from actual)""").fetchone()
    assert row is not None
    expected, in_book, missing, unexpected, duplicated = (int(v) for v in row)
    exact = missing == 0 and unexpected == 0 and duplicated == 0 and expected == in_book
    return MembershipCheck(expected, in_book, missing, unexpected, duplicated, exact)


def naive_sample(profiles: Path, size: int) -> list[dict[str, str | None]]:
    """The first ``size`` members of the segment with valid e-mails: what the naive export
    sends, one call each (names, gender, post code, tier; the same fields as the bulk export)."""
    with duckdb.connect() as duck:
        rows = duck.execute(f"""
            select lower(trim(email)), first_name, last_name, full_name, gender, zip, tier
            from read_parquet({_q(profiles)})
            where {SEGMENT_WHERE}
              and regexp_full_match(lower(trim(email)), '{_INDEPENDENT_EMAIL}')
            order by customer_id limit {int(size)}""").fetchall()
    names = ("email", "FIRSTNAME", "LASTNAME", "FULLNAME", "GENDER", "POSTCODE", "LOYALTY_TIER")
    return [dict(zip(names, row, strict=True)) for row in rows]
