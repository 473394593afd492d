"""Tables of the state store. It holds hashes, ids and counts, never personal values: a member is
its profile key, its DotDigital contact id, the SHA-256 of its normalised e-mail and the digest of
the values DotDigital last confirmed."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# One row per (export, address book, profile key) that DotDigital confirmed as a member.
members = Table(
    "members",
    metadata,
    Column("export", String(200), primary_key=True),
    Column("address_book_id", BigInteger, primary_key=True),
    Column("key", String(500), primary_key=True),
    Column("contact_id", BigInteger, nullable=False),
    Column("email_hash", String(64), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("run_id", Integer, nullable=False),  # the run that last confirmed it
    # The source's change marker (``[source] updated_at``) of the values confirmed, with the
    # mapping's version: a refresh reads again only rows whose marker moved (0007_perf).
    Column("row_version", String(500)),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("export", String(200), nullable=False, index=True),
    Column("status", String(20), nullable=False),
    Column("full", Boolean, nullable=False, default=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("counts", Text),  # RunCounts as JSON
    Column("error", Text),
    Column("rejects_file", Text),
    Column("resumed_imports", Integer, nullable=False, default=0),
    Column("host", String(200)),
    Column("pid", Integer),
    # Who started it: "scheduler", a console user's name; none from the command line.
    Column("started_by", String(64)),
)

# A batch of contacts: prepared (its member file written), then submitted (import id known), then
# committed (members written to state) or failed. The import id is saved as soon as the 202 arrives,
# so a restarted run polls it instead of sending the same contacts again.
imports = Table(
    "imports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("export", String(200), nullable=False),
    Column("address_book_id", BigInteger, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("import_id", String(64)),
    Column("batch_file", Text, nullable=False),  # keys, e-mail hashes and digests (Parquet)
    Column("contacts", Integer, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("submitted_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("error", Text),
)
Index("ix_imports_export_status", imports.c.export, imports.c.status)

# A bulk removal from the address book: contact ids to take out, then the deletion request's id.
removals = Table(
    "removals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("export", String(200), nullable=False),
    Column("address_book_id", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),
    Column("deletion_id", String(64)),
    Column("contact_ids", Text, nullable=False),  # JSON list of ints
    # remove: out of the book (a bulk deletion); unsubscribe: unsubscribed from the book
    Column("kind", String(20), nullable=False, server_default="remove"),
    Column("submitted_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
)

# Cooperative locks: one run per export, one per DotDigital account (limits are per account).
locks = Table(
    "locks",
    metadata,
    Column("name", String(400), primary_key=True),
    Column("run_id", Integer),
    Column("export", String(200), nullable=False),
    Column("host", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
    # A lease (see store.py): who holds it (host:pid:random id), until when (the database's
    # clock), and a fence bumped at every acquisition. A released lock keeps its row (holder
    # null) so the fence of its name only grows.
    Column("holder", String(300)),
    Column("fence", BigInteger, nullable=False, server_default="0"),
    Column("expires_at", DateTime(timezone=True)),
)

# The members file of each batch (keys, e-mail hashes, digests: Parquet bytes), for a state that
# several machines share: another worker resumes and commits a batch it did not send. Beside a
# SQLite state the file in the run's folder is enough, and nothing is written here.
batch_members = Table(
    "batch_members",
    metadata,
    Column("import_row", Integer, ForeignKey("imports.id", ondelete="CASCADE"), primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

# `dotsync serve` workers sharing the state: each one's heartbeat, and what it runs (for
# /healthz and /metrics, and so that a tick a dead worker held is taken over).
serve_workers = Table(
    "serve_workers",
    metadata,
    Column("worker", String(300), primary_key=True),
    Column("host", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("running", Text, nullable=False, server_default="[]"),  # JSON list of job names
)

# Each due tick of a scheduled job (its cron slot), claimed by one worker: the key makes a tick
# run once across workers. holder null: free to take (its worker died, or gave it back).
serve_ticks = Table(
    "serve_ticks",
    metadata,
    Column("job", String(300), primary_key=True),
    Column("tick_at", DateTime(timezone=True), primary_key=True),
    Column("holder", String(300)),
    Column("status", String(20), nullable=False),  # running | done
    Column("claimed_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("run_status", String(20)),
    Column("run_id", Integer),  # the run that ran it to its end (a resumed run: the resumer)
    Column("attempts", Integer, nullable=False, server_default="1"),
    Column("workers", Text),  # the workers that ran it, in order (space-separated)
)

# The ownership ledger of each address book (see state/ledger.py): beside a SQLite state it lives
# in one DuckDB file per book; with a PostgreSQL state, in these two tables.
book_contacts = Table(
    "book_contacts",
    metadata,
    Column("account_id", String(100), primary_key=True),
    Column("address_book_id", BigInteger, primary_key=True),
    Column("email_hash", String(64), primary_key=True),
    Column("contact_id", BigInteger),  # none for a contact refused as suppressed
    Column("origin", String(10)),  # added | found | none (not in the book through anyone known)
    Column("status", String(20)),  # confirmed | suppressed | unsubscribed
    Column("run_id", Integer, nullable=False),
)

# Contacts an export let go under ``on_segment_exit = keep``: it still holds them.
book_kept = Table(
    "book_kept",
    metadata,
    Column("account_id", String(100), primary_key=True),
    Column("address_book_id", BigInteger, primary_key=True),
    Column("export", String(200), primary_key=True),
    Column("email_hash", String(64), primary_key=True),
    Column("contact_id", BigInteger),
)

# Which book each export writes (account id from account-info, book id), so that another export
# of the same book and `remove` find the exports that hold the book's contacts.
export_books = Table(
    "export_books",
    metadata,
    Column("export", String(200), primary_key=True),
    Column("account_id", String(100), nullable=False),
    Column("address_book_id", BigInteger, nullable=False),
)

# Reads of a book: the baseline (its members before dotsync first wrote to it) and the start of
# the last read of its changes, from which the next read starts (less an overlap).
book_reads = Table(
    "book_reads",
    metadata,
    Column("account_id", String(100), primary_key=True),
    Column("address_book_id", BigInteger, primary_key=True),
    Column("baseline_at", DateTime(timezone=True)),  # none: dotsync has not read the book yet
    Column("baseline_contacts", Integer),
    Column("changes_from", DateTime(timezone=True)),  # the next changes read starts here
    Column("owners_decided_at", DateTime(timezone=True)),  # 0.1 members entered in the ledger
)

# Checks of a book against the state (``dotsync verify``): what was found, at what cost, and what
# ``--repair`` did. ``report`` is the VerifyReport as JSON (keys and contact ids, never e-mails).
verifies = Table(
    "verifies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("export", String(200), nullable=False, index=True),
    Column("account_id", String(100)),
    Column("address_book_id", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),  # running | clean | drift | repaired | failed
    Column("repair", Boolean, nullable=False, default=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    # Unsubscribes and suppressions up to started_at are in the ledger: a repair whose feeds were
    # read whole. The next verify reads the feeds from the last such point.
    Column("statuses_recorded", Boolean, nullable=False, default=False),
    Column("report", Text),
    Column("error", Text),
)

# ``dotsync pull``: one row per pull of an export, with its report (counts by status, unknown
# contacts, the feeds read and their cost; profile keys never, e-mails never).
pulls = Table(
    "pulls",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("export", String(200), nullable=False, index=True),
    Column("account_id", String(100)),
    Column("address_book_id", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),  # running | succeeded | failed | skipped
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("report", Text),
    Column("error", Text),
)

# Where each change feed of an export's pull stands (per account, and per book for the book's
# feeds; ``address_book_id`` 0 for the account's): the next pass reads from ``watermark`` (less an
# overlap); a pass cut short by the call budget goes on from ``skip`` (or ``marker``) at
# ``pass_since``. Written
# only after the rows a pass read are in the destination: a crash reads them again.
pull_cursors = Table(
    "pull_cursors",
    metadata,
    Column("export", String(200), primary_key=True),
    Column("account_id", String(100), primary_key=True),
    Column("feed", String(40), primary_key=True),
    Column("address_book_id", BigInteger, primary_key=True),
    Column("watermark", DateTime(timezone=True), nullable=False),
    Column("pass_since", DateTime(timezone=True)),
    Column("pass_started_at", DateTime(timezone=True)),
    Column("skip", Integer, nullable=False),  # feeds paged by offset
    Column("marker", String(500)),  # feeds paged by marker (v3)
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Members DotDigital refused as suppressed when an export sent them: no contact id is known for
# them, so their profile key is kept with the e-mail's hash, for `dotsync pull` to name them.
refused_members = Table(
    "refused_members",
    metadata,
    Column("export", String(200), primary_key=True),
    Column("address_book_id", BigInteger, primary_key=True),
    Column("key", String(500), primary_key=True),
    Column("email_hash", String(64), nullable=False),
    Column("run_id", Integer, nullable=False),
    Column("refused_at", DateTime(timezone=True), nullable=False),
)

# Keys `dotsync pull` wrote a row for, with the contact that row is about: a member the segments
# then leave out (often because of that row) leaves the export's members, and its later reports
# (a resubscription above all) are still named by its key.
pull_keys = Table(
    "pull_keys",
    metadata,
    Column("export", String(200), primary_key=True),
    Column("address_book_id", BigInteger, primary_key=True),
    Column("key", String(500), primary_key=True),
    Column("contact_id", BigInteger),
    Column("email_hash", String(64)),
)

# --- the web console (``dotsync serve``): its users, what they did, what they asked for ----------

# A user of the console. ``session_generation`` is part of every session cookie: raising it (role
# changed, password changed, user removed) ends the user's sessions. Names hold no e-mail address.
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(20), nullable=False),  # admin | contributor | viewer
    Column("password_hash", Text, nullable=False),  # argon2id, with its own salt and parameters
    Column("session_generation", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(64)),  # a user's name, "setup" or "command line"
)

# Changes and runs, by whom: never an e-mail address nor a secret (details are redacted).
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(50), nullable=False),  # e.g. user.add, login.failed, run.request
    Column("target", String(200), nullable=False),
    Column("outcome", String(50), nullable=False),
    Column("detail", Text),  # a JSON object of strings
)
Index("ix_audit_log_target", audit_log.c.target)

# "Run now" and "Cancel" asked in the console: whichever serve process runs exports takes them.
run_requests = Table(
    "run_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("export", String(200), nullable=False),
    Column("kind", String(10), nullable=False),  # run | cancel
    Column("requested_by", String(64), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("taken_by", String(200)),  # host:pid of the serve process that took it
    Column("taken_at", DateTime(timezone=True)),
    Column("run_id", Integer),  # the run it started or cancelled
    Column("outcome", String(40)),  # none while pending; see dotsync.state.run_requests
    Column("finished_at", DateTime(timezone=True)),
)
Index("ix_run_requests_pending", run_requests.c.taken_at, run_requests.c.kind)

# The one-time link that creates the first admin: only its SHA-256 is kept, until it is used or
# expires (a new one replaces it at each start while no admin exists).
setup_tokens = Table(
    "setup_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
