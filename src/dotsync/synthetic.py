"""Synthetic customer profiles for the demo and the benchmarks, generated in DuckDB.

Realistic enough to exercise everything: names, genders, post codes, lifetime values, a churn
score, about 2% broken e-mail addresses and some e-mails shared by two profiles."""

from __future__ import annotations

from pathlib import Path

import duckdb

from dotsync.identity import quote_literal

FIRST_NAMES = [
    "Emma",
    "Olivia",
    "Ava",
    "Sophia",
    "Mia",
    "Amelia",
    "Isla",
    "Léa",
    "Chloé",
    "Zoé",
    "Noah",
    "Liam",
    "Oliver",
    "Jack",
    "Harry",
    "Leo",
    "Lucas",
    "Hugo",
    "Gabriel",
    "Raphaël",
    "Aarav",
    "Yuki",
    "Mateo",
    "Sofía",
    "Björn",
    "Zoë",
    "Seán",
    "Ngozi",
    "Wei",
    "Fatima",
]
LAST_NAMES = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Müller",
    "Schmidt",
    "García",
    "Rossi",
    "O'Brien",
    "Nguyen",
    "Kowalski",
    "Silva",
    "Okafor",
    "Tanaka",
    "Chen",
]
DOMAINS = ["example.com", "mail.example.org", "example.net", "exämple.de", "shop.example.co.uk"]
BROKEN = [
    "",
    "  ",
    "no-at-sign.example.com",
    "two@@example.com",
    "trailing@example.com.",
    "space in@example.com",
    "nodomain@",
    "@nolocal.example.com",
]


def _list(values: list[str]) -> str:
    return "[" + ", ".join(quote_literal(v) for v in values) + "]"


def profiles_sql(
    count: int, *, seed: int = 42, bad_share: float = 0.02, duplicate_share: float = 0.005
) -> str:
    """SQL of a ``count``-row profile table (deterministic for a seed)."""
    s = int(seed)
    return f"""
    with base as (
      select i,
        hash(i, {s}) as h1, hash(i, {s} + 1) as h2, hash(i, {s} + 2) as h3, hash(i, {s} + 3) as h4
      from range({int(count)}) t(i)
    ),
    named as (
      select i, h1, h2, h3, h4,
        {_list(FIRST_NAMES)}[1 + (h1 % {len(FIRST_NAMES)})::int] as first_name,
        {_list(LAST_NAMES)}[1 + (h2 % {len(LAST_NAMES)})::int] as last_name,
        {_list(DOMAINS)}[1 + (h3 % {len(DOMAINS)})::int] as domain
      from base
    ),
    addressed as (
      select *, lower(strip_accents(first_name)) || '.' || i || '@' || domain as normal_email
      from named
    )
    select
      'C' || lpad(i::varchar, 8, '0') as customer_id,
      case
        when (h4 % 10000) < {int(bad_share * 10000)}
          then {_list(BROKEN)}[1 + (h1 % {len(BROKEN)})::int]
        when (h4 % 10000) < {int((bad_share + duplicate_share) * 10000)}
          -- shares the e-mail of the previous profile (in another case): a duplicate to catch
          then coalesce(upper(lag(normal_email) over (order by i)), normal_email)
        else normal_email
      end as email,
      first_name,
      last_name,
      first_name || ' ' || last_name as full_name,
      case h3 % 3 when 0 then 'female' when 1 then 'male' else null end as gender,
      lpad(((h1 // 7) % 99999)::varchar, 5, '0') as zip,
      round(((h2 // 11) % 500000) / 100.0, 2) as lifetime_value,
      round(((h3 // 13) % 1000) / 1000.0, 3) as churn_score,
      case (h4 // 17) % 4 when 0 then 'gold' when 1 then 'silver' else 'bronze' end as tier,
      date '2020-01-01' + ((h1 // 19) % 2000)::int as signup_date,
      -- when the row last changed: a change marker for ``[source] updated_at``
      timestamp '2026-01-01' + to_seconds(((h2 // 23) % 10000000)::bigint) as updated_at
    from addressed
    """


def write_profiles(
    path: Path,
    count: int,
    *,
    seed: int = 42,
    bad_share: float = 0.02,
    duplicate_share: float = 0.005,
) -> Path:
    """Write ``count`` profiles to a Parquet (or CSV, by suffix) file and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "csv, header true" if path.suffix == ".csv" else "parquet"
    target = quote_literal(str(path))
    with duckdb.connect() as duck:
        sql = profiles_sql(count, seed=seed, bad_share=bad_share, duplicate_share=duplicate_share)
        duck.execute(f"copy ({sql}) to {target} (format {fmt})")
    return path
