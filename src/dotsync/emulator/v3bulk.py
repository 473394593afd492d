"""A v3 import body's contacts turned into staged rows by SQLite, in bulk: the fast path of
``v3body.parse_v3`` for the plain bodies bulk clients send (dotsync's among them).

The per-contact path (``v3rows``) decodes each contact into Python objects and checks it there:
about 14 µs a contact, most of a 1M-contact export's time in the emulator. Here SQLite's C JSON
functions read the contacts on a private in-memory connection (no store lock held, the GIL
released while SQLite works) and classify them in a few statements; Python only checks each
e-mail (the same ``is_valid_email`` as the per-contact path, as a SQL function) and receives the
rows to stage.

Only bodies every contact of which is *plain* take this path, so that both paths give the same
rows by construction: the documented camelCase keys, each once; ``identifiers.email`` a string;
``lists`` absent, null or integers; no ``channelProperties``; ``dataFields`` absent, null or an
object whose keys name account fields (case-insensitively, each field once) with values that are
null, empty strings, strings of at most 255 characters for String fields, or booleans for Boolean
fields. Anything else (numbers, dates, unknown fields, values to refuse, other spellings) sends
the whole body down the per-contact path, which decides what it means.
"""

from __future__ import annotations

import sqlite3

from dotsync.emulator.importing import BadRow, GoodRow
from dotsync.emulator.values import MAX_STRING, is_valid_email

_CONTACT_KEYS = "('matchIdentifier', 'identifiers', 'dataFields', 'channelProperties', 'lists')"

# A contact is plain when none of these finds something (``c`` is the contact row).
_NOT_PLAIN = f"""
    c.type <> 'object'
    OR EXISTS (SELECT 1 FROM json_each(c.value) k WHERE k.key NOT IN {_CONTACT_KEYS})
    OR (SELECT count(*) <> count(DISTINCT key) FROM json_each(c.value))
    OR json_type(c.value, '$.identifiers') IS NOT 'object'
    OR (SELECT count(*) FROM json_each(c.value, '$.identifiers') i WHERE i.key = 'email') <> 1
    OR json_type(c.value, '$.identifiers.email') IS NOT 'text'
    OR json_type(c.value, '$.channelProperties') IS NOT NULL
    OR coalesce(json_type(c.value, '$.lists'), 'null') NOT IN ('null', 'array')
    OR EXISTS (SELECT 1 FROM json_each(c.value, '$.lists') l WHERE l.type <> 'integer')
    OR coalesce(json_type(c.value, '$.dataFields'), 'null') NOT IN ('null', 'object')
    OR (SELECT count(*) <> count(DISTINCT upper(f.key)) FROM json_each(c.value, '$.dataFields') f)
    OR EXISTS (SELECT 1 FROM json_each(c.value, '$.dataFields') f
               LEFT JOIN field_types t ON t.name = upper(f.key)
               WHERE t.name IS NULL OR NOT (
                 f.type = 'null' OR (f.type = 'text' AND f.value = '')
                 OR (f.type = 'text' AND t.type = 'String' AND length(f.value) <= {MAX_STRING})
                 OR (f.type IN ('true', 'false') AND t.type = 'Boolean')))
"""

# The stored fields' JSON of a plain contact, as ``v3rows._FieldReader`` builds it: names
# upper-cased, empty strings as null (kept only under the overwrite merge, ``?1``).
_FIELDS = """
    (SELECT json_group_object(upper(f.key), CASE f.type WHEN 'true' THEN json('true')
              WHEN 'false' THEN json('false') WHEN 'text' THEN nullif(f.value, '') END)
     FROM json_each(c.value, '$.dataFields') f
     WHERE ?1 OR NOT (f.type = 'null' OR (f.type = 'text' AND f.value = '')))
"""


def _normalised(raw: str | None) -> str | None:
    """The e-mail as the per-contact path keeps it, or None where it refuses it."""
    email = (raw or "").strip().lower()
    return email if is_valid_email(email) else None


def plain_rows(
    text: str, field_types: dict[str, str], merge: str
) -> tuple[list[GoodRow], list[BadRow]] | None:
    """The staged rows and the refused ones of the body ``text`` (validated at submission), as
    ``parse_v3`` gives them, or None when the body is not plain (see the module's docstring)."""
    if "\x00" in text:
        return None
    conn = sqlite3.connect(":memory:")
    try:
        conn.create_function("normalised_email", 1, _normalised, deterministic=True)
        top = conn.execute(
            "SELECT count(*) FILTER (WHERE lower(key) = 'contacts'), "
            "count(*) FILTER (WHERE key = 'contacts' AND type = 'array') FROM json_each(?1)",
            (text,),
        ).fetchone()
        if top != (1, 1):
            return None
        conn.execute("CREATE TABLE field_types (name TEXT PRIMARY KEY, type TEXT)")
        conn.executemany("INSERT INTO field_types VALUES (?, ?)", field_types.items())
        conn.execute(
            "CREATE TABLE c AS SELECT key AS seq, value, type FROM json_each(?1, '$.contacts')",
            (text,),
        )
        if conn.execute(f"SELECT 1 FROM c WHERE {_NOT_PLAIN} LIMIT 1").fetchone():
            return None
        conn.execute(
            "CREATE TABLE e AS SELECT seq, json_extract(value, '$.identifiers.email') AS raw, "
            "normalised_email(json_extract(value, '$.identifiers.email')) AS email FROM c"
        )
        conn.execute(
            "CREATE TABLE first AS SELECT email, min(seq) AS seq FROM e "
            "WHERE email IS NOT NULL GROUP BY email"
        )
        good = conn.execute(
            f"""SELECT c.seq, e.email, coalesce({_FIELDS}, '{{}}'),
                 CASE json_type(c.value, '$.lists') WHEN 'array'
                   THEN json(json_extract(c.value, '$.lists')) ELSE '[]' END, NULL
            FROM c JOIN e USING (seq) JOIN first f ON f.seq = c.seq ORDER BY c.seq""",
            (merge == "overwrite",),
        ).fetchall()
        bad = [
            BadRow(seq, "invalid", raw, "Invalid value for 'email'")
            if email is None
            else BadRow(seq, "duplicate", raw, f"Duplicate identifier detected for email '{raw}'")
            for seq, raw, email in conn.execute(
                "SELECT e.seq, e.raw, e.email FROM e LEFT JOIN first f ON f.seq = e.seq "
                "WHERE f.seq IS NULL ORDER BY e.seq"
            )
        ]
    finally:
        conn.close()
    return [tuple(row) for row in good], bad
