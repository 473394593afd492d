"""How a person's e-mail address is normalised and hashed, once for every stage: validation,
committing an import, reading the book, matching refusals. The hash (SHA-256 of the trimmed,
lower-cased address) is what the state keeps in place of the address."""

from __future__ import annotations

# Spaces, tabs and line ends: what a spreadsheet or an export job leaves around an address.
WHITESPACE_SQL = "' ' || chr(9) || chr(10) || chr(13)"


def normalised_email_sql(expr: str) -> str:
    """DuckDB SQL for the normalised form of the address ``expr`` (DotDigital compares
    addresses case-insensitively)."""
    return f"lower(trim({expr}, {WHITESPACE_SQL}))"


def email_hash_sql(expr: str) -> str:
    """DuckDB SQL for the e-mail hash of the address ``expr`` (raw or already normalised)."""
    return f"sha256({normalised_email_sql(expr)})"


def quote_literal(value: str) -> str:
    """A SQL string literal: quotes doubled, never stripped (a path or a name may hold one)."""
    return "'" + value.replace("'", "''") + "'"
