"""Applying a parsed import to the store in set-based SQL, and what the import then reports.

Rows are streamed into a ``stage`` table of a scratch in-memory database (dropped whole after
the import) in batches (bounded memory; the lock is released between batches) and classified
in a few statements: existing contact or new, suppressed (account status, global list,
suppressed domain, unsubscribed from a target book).
The whole-file checks (injected failure, watchdog, contact limit) leave the store untouched.
Then rows are applied in chunks, one transaction each, so that HTTP calls interleave and
``import_rate`` can pace the work.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dotsync.emulator.base import Account
from dotsync.emulator.db import Database
from dotsync.emulator.importing import ParsedImport
from dotsync.emulator.values import SUPPRESSIONS

_SUPPRESSED = ", ".join(f"'{s}'" for s in SUPPRESSIONS)
_BATCH = 50_000
_MERGE = {  # the new value of contacts.fields, by merge option
    "overwrite": "json_patch(coalesce(contacts.fields, '{}'), s.fields)",  # null clears
    "ifNotEmpty": "json_patch(coalesce(contacts.fields, '{}'), json_patch('{}', s.fields))",
    "ifEmpty": "json_patch(json_patch('{}', s.fields), coalesce(contacts.fields, '{}'))",
}
_NEW_STATUS = (
    "CASE s.vstatus WHEN 'unsubscribed' THEN 'Unsubscribed' "
    "WHEN 'suppressed' THEN 'Suppressed' ELSE 'Subscribed' END"
)
_OPTED_OUT = "s.vstatus IN ('unsubscribed', 'suppressed')"


class InterruptedImportError(Exception):
    """The emulator is stopping: the import stays ``NotFinished`` and is processed again from
    the start on the next run (imports are idempotent in effect, so only its counters shift)."""


@dataclass
class Job:
    account: Account
    book_ids: list[int]  # v2: the book of the URL (none for All Contacts); v3 rows name lists
    virtual_books: list[int]  # All Contacts: membership is implicit
    merge: str
    now: str
    want_ids: bool  # v3 replies list the ids of created and updated contacts


@dataclass
class Applied:
    status: str
    new: int = 0
    updated: int = 0
    # v3: the reply's created and updated arrays as JSON text, built by SQLite (no per-contact
    # Python: a 250k-contact reply is ~20 MB).
    created_json: str = "[]"
    updated_json: str = "[]"
    suppressed: list[tuple[int, int | None, str, str]] = field(default_factory=list)


def apply_import(
    db: Database,
    job: Job,
    parsed: ParsedImport,
    *,
    rate: float | None,
    max_bad_share: float | None,
    injected_failure: str | None,
    wait: Callable[[float], bool],
) -> Applied:
    """``wait(seconds)`` paces the work at ``rate`` contacts/s; it returns True when the
    emulator is stopping."""
    if injected_failure is not None:
        return Applied(injected_failure)
    db.open_scratch()
    try:
        return _apply(db, job, parsed, rate, max_bad_share, wait)
    finally:
        db.close_scratch()


def _apply(
    db: Database,
    job: Job,
    parsed: ParsedImport,
    rate: float | None,
    max_bad_share: float | None,
    wait: Callable[[float], bool],
) -> Applied:
    good = _stage(db, parsed)
    total = good + len(parsed.bad)
    if max_bad_share is not None and total and len(parsed.bad) / total > max_bad_share:
        return Applied("RejectedByWatchdog")
    new = _classify(db, job, good)
    if job.account.contact_limit is not None:
        row = db.one("SELECT count(*) FROM contacts WHERE account_id = ?", (job.account.id,))
        if row is not None and row[0] + new > job.account.contact_limit:
            return Applied("ExceedsAllowedContactLimit")
    chunk = _BATCH if rate is None else max(1, min(_BATCH, int(rate / 10) or 1))
    started, done = time.monotonic(), 0
    offsets: list[tuple[int, int, int]] = []  # chunks whose new ids are n + offset, not staged
    for low in range(1, good + 1, chunk):
        with db.tx() as conn:
            high = min(low + chunk, good + 1)
            every = high - low if new == good else None  # all new: no need to count them
            rows, offset = _apply_chunk(conn.execute, job, parsed.lists, low, high, every)
            db.members_changed(_books_of_chunk(conn.execute, job, parsed.lists, low, high))
        done += rows
        if offset is not None:
            offsets.append((low, high, offset))
        pause = 0.0 if rate is None else started + done / rate - time.monotonic()
        if wait(max(0.0, pause)):
            raise InterruptedImportError
    return _collect(db, job, good, new, _fill_ids(db, offsets))


def _fill_ids(db: Database, offsets: list[tuple[int, int, int]]) -> int:
    """The offset that gives the unstaged ids of new contacts (``cid`` is ``n + offset``): one
    for the whole import unless other writes took ids between its chunks, in which case the
    ids are staged now (and 0 returned)."""
    if len({offset for *_, offset in offsets}) <= 1:
        return offsets[0][2] if offsets else 0
    with db.tx() as conn:
        for low, high, offset in offsets:
            conn.execute(
                "UPDATE stage SET cid = n + ? WHERE n >= ? AND n < ? AND is_new",
                (offset, low, high),
            )
    return 0


def _stage(db: Database, parsed: ParsedImport) -> int:
    """Stage the good rows; their count. Each gets a dense number ``n`` (1, 2, ...: the rowid,
    in file order) besides its place in the file (``seq``, with gaps where rows were refused):
    the chunks are ranges of ``n``, and a chunk of new contacts only takes ids ``n + offset``."""
    values = [f"c{k}" for k in range(len(parsed.mapped))]
    with db.tx() as conn:
        conn.execute(
            "CREATE TABLE scratch.stage (n INTEGER PRIMARY KEY, seq INTEGER NOT NULL, "
            "email TEXT, fields TEXT, opt_in TEXT, email_type TEXT, vstatus TEXT, lists TEXT, "
            "channel TEXT, cid INTEGER, cstatus TEXT, supp TEXT, "
            f"is_new INTEGER NOT NULL DEFAULT 1{''.join(', ' + v for v in values)})"
        )
    columns = parsed.stage_columns
    insert = f"INSERT INTO stage ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    while batch := list(itertools.islice(parsed.good, _BATCH)):
        with db.tx() as conn:
            conn.executemany(insert, batch)
    with db.tx() as conn:
        if parsed.mapped:  # v2: the fields' JSON, built in SQL rather than per row in Python
            pairs = ", ".join(
                f"'{name}', {_json_value(f'c{k}', kind)}"
                for k, (name, kind) in enumerate(parsed.mapped)
            )
            conn.execute(f"UPDATE stage SET fields = json_object({pairs})")
        elif parsed.from_csv:  # no mapped column (v3 rows carry their JSON, "{}" when none)
            conn.execute("UPDATE stage SET fields = '{}' WHERE fields IS NULL")
        conn.execute(
            "UPDATE stage SET opt_in = json_extract(channel, '$[0]'), "
            "email_type = json_extract(channel, '$[1]'), "
            "vstatus = json_extract(channel, '$[2]') WHERE channel <> ''"
        )
        row = conn.execute("SELECT count(*) FROM stage").fetchone()
    return int(row[0])


def _json_value(column: str, kind: str) -> str:
    if kind == "Boolean":  # SQLite stores booleans as 1/0
        return f"json(CASE {column} WHEN 1 THEN 'true' WHEN 0 THEN 'false' END)"
    if kind == "Numeric":  # staged as JSON number text: exact beyond SQLite's 64-bit integers
        return f"json({column})"
    return column


def _classify(db: Database, job: Job, staged: int) -> int:
    """Mark existing contacts and suppressed rows; the number of new contacts. Rows marked by
    no statement (a first export's) are all new: no pass over the stage learns it again."""
    account = job.account.id
    with db.tx() as conn:
        marked = conn.execute(
            "UPDATE stage SET cid = c.id, cstatus = c.status FROM contacts c "
            "WHERE c.account_id = ? AND c.email = stage.email",
            (account,),
        ).rowcount
        if marked:
            conn.execute(f"UPDATE stage SET supp = cstatus WHERE cstatus IN ({_SUPPRESSED})")
        if conn.execute("SELECT 1 FROM global_suppressions LIMIT 1").fetchone():
            marked += conn.execute(
                "UPDATE stage SET supp = g.status FROM global_suppressions g "
                "WHERE stage.supp IS NULL AND g.email = stage.email"
            ).rowcount
        if conn.execute(
            "SELECT 1 FROM domain_suppressions WHERE account_id = ?", (account,)
        ).fetchone():
            marked += conn.execute(
                "UPDATE stage SET supp = 'DomainSuppression' WHERE supp IS NULL AND "
                "substr(email, instr(email, '@') + 1) IN (SELECT domain FROM "
                "domain_suppressions WHERE account_id = ?)",
                (account,),
            ).rowcount
        if conn.execute(
            "SELECT 1 FROM book_unsubscribes b JOIN books k ON k.id = b.book_id "
            "WHERE k.account_id = ? LIMIT 1",
            (account,),
        ).fetchone():
            books = ",".join(str(b) for b in job.book_ids) or "NULL"
            conn.execute(
                "UPDATE stage SET supp = 'Unsubscribed' WHERE supp IS NULL AND cid IN "
                f"(SELECT contact_id FROM book_unsubscribes WHERE book_id IN ({books}))"
            )
            conn.execute(
                "UPDATE stage SET supp = 'Unsubscribed' WHERE supp IS NULL AND lists "
                "IS NOT NULL AND EXISTS (SELECT 1 FROM book_unsubscribes b, "
                "json_each(stage.lists) j WHERE b.contact_id = stage.cid AND "
                "b.book_id = j.value)"
            )
        if not marked:
            return staged
        conn.execute("UPDATE stage SET is_new = 0 WHERE cid IS NOT NULL OR supp IS NOT NULL")
        row = conn.execute("SELECT count(*) FROM stage WHERE is_new").fetchone()
    return int(row[0])


def _apply_chunk(
    execute: Callable[..., Any],
    job: Job,
    lists: set[str] | None,
    low: int,
    high: int,
    every: int | None,
) -> tuple[int, int | None]:
    """Apply the staged rows ``low <= n < high`` (``every``: their number, when they are known
    to be all new): their number, and when they are all new, the offset that gives their ids
    from ``n`` (``cid`` is then left NULL, not written)."""
    now, account = job.now, job.account.id
    rng = "s.n >= ? AND s.n < ?"
    rows, new = (
        (every, every)
        if every is not None
        else execute(
            "SELECT count(*), count(*) FILTER (WHERE is_new) FROM stage WHERE n >= ? AND n < ?",
            (low, high),
        ).fetchone()
    )
    # New contacts get their ids here, in file order after the highest id, so that no lookup
    # by e-mail is needed to learn them (the chunk's transaction holds the lock). A chunk of new
    # contacts only (a first export) numbers them from its rows' dense ``n``: no ranking, and
    # no write of the stage.
    top = execute("SELECT coalesce(max(id), 0) FROM contacts").fetchone()[0]
    offset = int(top) + 1 - low if new and new == rows else None
    cid = "s.cid" if offset is None else f"(s.n + {offset})"
    if new and offset is None:
        execute(
            "UPDATE stage SET cid = ? + r.k FROM (SELECT n, row_number() OVER (ORDER BY n) "
            "AS k FROM stage WHERE n >= ? AND n < ? AND is_new) r WHERE stage.n = r.n",
            (top, low, high),
        )
    # A new contact's fields drop null values (``json_patch`` over ``{}``); the rows that
    # hold no null, nearly all, are stored as staged, without parsing their JSON again.
    execute(
        "INSERT INTO contacts (id, account_id, email, status, opt_in, email_type, fields, "
        f"created, modified, suppressed_at) SELECT {cid}, ?, s.email, {_NEW_STATUS}, "
        "coalesce(s.opt_in, 'Unknown'), coalesce(s.email_type, 'Html'), "
        "CASE WHEN instr(s.fields, 'null') THEN json_patch('{}', s.fields) ELSE s.fields END, "
        f"?, ?, CASE WHEN {_OPTED_OUT} THEN ? END "
        f"FROM stage s WHERE {rng} AND s.is_new ORDER BY s.n",
        (account, now, now, now, low, high),
    )
    # Every contact of the import that is not suppressed gets a new modified date, also when
    # only its membership of a book changes. DotDigital does not document that adding a contact
    # to a book changes its modified date; we assume it, so that a reader of ``~modified`` (v3)
    # or ``modified-since`` (v2) sees the contacts added to a book.
    if new < rows:
        execute(
            f"UPDATE contacts SET fields = {_MERGE[job.merge]}, modified = ?, "
            "opt_in = coalesce(s.opt_in, contacts.opt_in), "
            "email_type = coalesce(s.email_type, contacts.email_type), "
            f"status = CASE WHEN {_OPTED_OUT} THEN {_NEW_STATUS} ELSE contacts.status END, "
            f"suppressed_at = CASE WHEN {_OPTED_OUT} THEN ? ELSE contacts.suppressed_at END "
            f"FROM stage s WHERE contacts.id = s.cid AND {rng} AND NOT s.is_new "
            "AND s.supp IS NULL",
            (now, now, low, high),
        )
    joins = (
        f"{rng} AND s.supp IS NULL AND coalesce(s.vstatus, '') NOT IN "
        "('unsubscribed', 'suppressed')"
    )
    virtual = set(job.virtual_books)
    books = list(job.book_ids)  # v2: one book for every row
    if lists is not None and len(lists) == 1:  # v3: every row names the same lists
        books += [b for b in json.loads(next(iter(lists))) if b not in virtual]
    for book in books:
        execute(
            f"INSERT OR IGNORE INTO members SELECT ?, {cid} FROM stage s WHERE {joins}",
            (book, low, high),
        )
    if lists is None or len(lists) > 1:
        listed = ",".join(str(b) for b in job.virtual_books) or "NULL"
        execute(
            f"INSERT OR IGNORE INTO members SELECT j.value, {cid} FROM stage s, "
            f"json_each(s.lists) j WHERE s.lists IS NOT NULL AND {joins} "
            f"AND j.value NOT IN ({listed})",
            (low, high),
        )
    return int(rows), offset


def _books_of_chunk(
    execute: Callable[..., Any], job: Job, lists: set[str] | None, low: int, high: int
) -> list[int]:
    """The books whose members a chunk may have changed: the v2 book, the v3 rows' lists."""
    if lists is not None and len(lists) <= 1:
        return [*job.book_ids, *(int(b) for text in lists for b in json.loads(text))]
    rows = execute(
        "SELECT DISTINCT j.value FROM stage s, json_each(s.lists) j "
        "WHERE s.lists IS NOT NULL AND s.n >= ? AND s.n < ?",
        (low, high),
    ).fetchall()
    return [*job.book_ids, *(int(row[0]) for row in rows)]


def _collect(db: Database, job: Job, good: int, new: int, offset: int) -> Applied:
    """What the import did; ``offset`` gives the ids of new contacts not staged (``n + offset``,
    see ``_fill_ids``)."""
    applied = Applied("Finished")
    applied.suppressed = [
        (r[0], r[1], r[2], r[3])
        for r in db.read(
            "SELECT seq, cid, email, supp FROM stage WHERE supp IS NOT NULL ORDER BY n"
        )
    ]
    # Every staged row is new, suppressed or updated.
    applied.new, applied.updated = new, good - new - len(applied.suppressed)
    if job.want_ids:
        applied.created_json = _references_json(db, "is_new", offset)
        applied.updated_json = _references_json(db, "NOT is_new", 0)
    return applied


def _references_json(db: Database, which: str, offset: int) -> str:
    """``[{"contactId":1,"identifiers":{"email":"a@x.com"}},...]`` in file order (the rowid
    order of ``stage``, which the subquery keeps)."""
    row = db.one(
        "SELECT json_group_array(json_object('contactId', cid, 'identifiers', "
        "json_object('email', email))) FROM (SELECT coalesce(cid, n + ?) AS cid, email "
        f"FROM stage WHERE supp IS NULL AND {which} ORDER BY n)",
        (offset,),
    )
    return str(row[0]) if row is not None and row[0] is not None else "[]"


def v2_report(parsed: ParsedImport, applied: Applied) -> dict[str, int]:
    report = dict.fromkeys(
        (
            "newContacts",
            "updatedContacts",
            "globallySuppressed",
            "invalidEntries",
            "duplicateEmails",
            "blocked",
            "unsubscribed",
            "hardBounced",
            "softBounced",
            "ispComplaints",
            "mailBlocked",
            "domainSuppressed",
            "pendingDoubleOptin",
            "failures",
            "suppressedContacts",
        ),
        0,
    )
    report["newContacts"], report["updatedContacts"] = applied.new, applied.updated
    for bad in parsed.bad:
        report[
            {"invalid": "invalidEntries", "duplicate": "duplicateEmails"}.get(bad.kind, "failures")
        ] += 1
    for *_, status in applied.suppressed:
        report[SUPPRESSIONS[status][0]] += 1
    report["suppressedContacts"] = len(applied.suppressed)
    return report


def v3_result(parsed: ParsedImport, applied: Applied) -> str:
    """The JSON text of created/updated/failures of ``GET /contacts/v3/import/{id}``, compact
    (the reply is sent as stored). A suppressed contact fails with ``contactSuppressed``: the
    v3 document shows no code for it (our choice)."""
    codes = {"invalid": "invalidEmail", "duplicate": "duplicateIdentifier"}
    failures: list[tuple[int, dict[str, Any]]] = [
        (b.seq, _failure(None, b.email, codes.get(b.kind) or b.code, b.detail)) for b in parsed.bad
    ]
    failures += [
        (seq, _failure(cid, email, "contactSuppressed", f"The contact is {status}"))
        for seq, cid, email, status in applied.suppressed
    ]
    failures.sort(key=lambda item: item[0])
    summary = {
        "newContacts": applied.new,
        "updatedContacts": applied.updated,
        "globallySuppressed": len(applied.suppressed),
        "invalidEntries": sum(b.kind != "duplicate" for b in parsed.bad),
        "duplicateIdentifiers": sum(b.kind == "duplicate" for b in parsed.bad),
    }
    return (
        f'{{"summary":{_compact(summary)},"created":{applied.created_json},'
        f'"updated":{applied.updated_json},"failures":{_compact([f for _, f in failures])}}}'
    )


def _compact(value: Any) -> str:
    # As Starlette's JSONResponse writes JSON: UTF-8, no spaces.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _failure(cid: int | None, email: str, code: str, description: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "matchIdentifier": "email",
        "identifiers": {"email": email},
        "failures": [{"failureCode": code, "description": description}],
    }
    if cid is not None:
        item["contactId"] = cid
    return item
