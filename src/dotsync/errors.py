"""One root error, subclasses grouped by what the caller should do.

Every error carries a message meant for a person (``str(err)``) and, apart from it, technical
detail (``detail``) with secrets removed. The CLI maps each class to an exit code
(``exit_code``) and prints one line; ``--verbose`` adds the traceback.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of ``dotsync`` commands, documented in the README for cron and orchestrators."""

    OK = 0
    UNEXPECTED = 1
    CONFIG = 2  # the configuration or the command line is wrong: fix it, do not retry
    CONNECTION = 3  # DotDigital refused the credentials, region, address book or data fields
    REJECTED_ROWS = 4  # the run succeeded but some rows were rejected (see the rejected-rows file)
    RETRY_LATER = 5  # DotDigital or the network failed; rerun later, nothing is lost
    BUSY = 6  # another run of the same export (or account) is in progress
    LIMIT = 7  # the export is larger than max_profiles; nothing was sent
    SOURCE = 8  # the profile source or a segment query failed
    MASS_REMOVAL = 9  # the run would remove too many members; nothing was removed or sent
    DRIFT = 10  # `verify` found the book differs from the state (without --repair)
    INTERRUPTED = 130  # stopped by a signal; the next run resumes


class DotsyncError(Exception):
    """Root of every error dotsync raises on purpose."""

    exit_code: ExitCode = ExitCode.UNEXPECTED

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class ConfigError(DotsyncError):
    """The configuration is wrong; ``key`` names where (``exports.newsletter.mapping.email``)."""

    exit_code = ExitCode.CONFIG

    def __init__(self, message: str, *, key: str | None = None, detail: str | None = None) -> None:
        super().__init__(f"{key}: {message}" if key else message, detail=detail)
        self.key = key
        # Each problem apart, as (key path, what is wrong), for a form that shows every message
        # beside its field; the loader fills it, other raisers leave the one problem above.
        self.problems: list[tuple[str | None, str]] = [(key, message)]


class BookChangedError(ConfigError):
    """The export's ``address_book_id`` changed since its last run: its members are in the old
    book. Nothing was sent; ``--move-book`` moves them."""


class SourceError(DotsyncError):
    """The profile source or a segment query failed (missing file, SQL error, missing column)."""

    exit_code = ExitCode.SOURCE


class LimitExceededError(DotsyncError):
    """The export holds more profiles than ``max_profiles`` allows; nothing was sent."""

    exit_code = ExitCode.LIMIT


class MassRemovalError(DotsyncError):
    """The run would remove more of the export's members than ``max_removal_fraction`` allows,
    or its segments came back empty: it stopped before removing or sending anything."""

    exit_code = ExitCode.MASS_REMOVAL


class BudgetExceededError(DotsyncError):
    """``verify`` would need more calls than the budget it announced (the book grew during the
    read): it stopped, nothing was recorded; run it again."""

    exit_code = ExitCode.RETRY_LATER


class RunInProgressError(DotsyncError):
    """Another run holds the lock of this export or of its DotDigital account."""

    exit_code = ExitCode.BUSY


class LeaseLostError(RunInProgressError):
    """The run's lease passed (its worker was paused, or cut off from the state) and another
    worker took the run over: this one stops without writing anything more."""


class InterruptedRunError(DotsyncError):
    """The run was asked to stop (SIGTERM/SIGINT) and stopped at a checkpoint."""

    exit_code = ExitCode.INTERRUPTED


class DotDigitalError(DotsyncError):
    """DotDigital answered with an error. ``status`` and ``code`` (``ERROR_...``) say which."""

    exit_code = ExitCode.RETRY_LATER

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message, detail=detail)
        self.status = status
        self.code = code


class ConnectionCheckError(DotDigitalError):
    """Fix the connection settings: credentials, region, address book or data fields."""

    exit_code = ExitCode.CONNECTION


class AuthenticationError(ConnectionCheckError):
    """401: DotDigital refused the API user or password."""


class WrongRegionError(ConnectionCheckError):
    """403: the call went to another region's host than the account's."""


class NotFoundError(ConnectionCheckError):
    """404 ``*_NOT_FOUND``: the address book, contact, import or data field does not exist."""


class NotWritableError(ConnectionCheckError):
    """The address book cannot be written to (``Test``: ``ERROR_ADDRESSBOOK_NOTWRITABLE``)."""


class RejectedDataError(DotDigitalError):
    """400 validation error on data we sent: fail the rows, not the run."""

    exit_code = ExitCode.REJECTED_ROWS


class TransientError(DotDigitalError):
    """5xx, timeouts and dropped connections, after the retries were spent."""

    exit_code = ExitCode.RETRY_LATER


class RateLimitedError(TransientError):
    """429 or ``ERROR_APIUSAGE_EXCEEDED`` lasting longer than we are willing to wait."""


class TooManyImportsError(TransientError):
    """25 imports are already active on the account (``ERROR_IMPORT_TOOMANYACTIVEIMPORTS``)."""


class ImportFailedError(TransientError):
    """An import ended ``Failed``, ``RejectedByWatchdog`` or another non-finished status."""

    def __init__(self, message: str, *, import_id: str, status: str, detail: str | None = None):
        super().__init__(message, detail=detail)
        self.import_id = import_id
        self.import_status = status
