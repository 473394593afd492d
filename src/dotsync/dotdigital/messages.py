"""Messages for people, one per kind of failure, with the technical detail kept apart.

Never a password or an Authorization header (the session never hands either to this module);
e-mail addresses in DotDigital's own sentences are redacted, and the API user (an e-mail address)
is named by its setting, never by its value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dotsync.dotdigital.responses import ErrorBody, Rule
from dotsync.errors import (
    AuthenticationError,
    DotDigitalError,
    NotFoundError,
    NotWritableError,
    RateLimitedError,
    RejectedDataError,
    TooManyImportsError,
    TransientError,
    WrongRegionError,
)
from dotsync.redaction import redact_emails

if TYPE_CHECKING:
    from dotsync.dotdigital.session import Call


def error_for(
    rule: Rule,
    *,
    status: int | None,
    body: ErrorBody,
    call: Call,
    api_user_setting: str,
    password_source: str,
    api_url_setting: str,
    url: str,
    attempts: int,
    waited: float,
) -> DotDigitalError:
    said = redact_emails(body.sentence)
    code = body.code
    what = call.subject or call.endpoint
    tag = f"{status} {code}" if status is not None and code else str(status or code or "no reply")
    detail = redact_emails(
        f"{call.endpoint} -> {tag}: {body.sentence}"
        + ("; " + "; ".join(body.details) if body.details else "")
    )
    error = rule.error
    if error is AuthenticationError:
        message = (
            f"DotDigital refused the API user ({status}): check {api_user_setting} and the "
            f"password in {password_source}"
        )
    elif error is WrongRegionError:
        message = (
            f"DotDigital denied access to {what} ({status}): the account of the API user in "
            f"{api_user_setting} lives in another region than the host called; let discovery "
            f"through account-info choose the host (check {api_url_setting} and the "
            "connection's region)"
        )
    elif error is NotFoundError:
        message = f"DotDigital has no {what} ({code or status})"
    elif error is NotWritableError:
        message = (
            f"DotDigital does not allow writing to {what} ({code}): choose another address book "
            "(the reserved Test book is read-only)"
        )
    elif error is RejectedDataError:
        message = f"DotDigital rejected the data sent to {what} ({tag}): {said}"
    elif error is RateLimitedError:
        message = (
            f"DotDigital's rate limit held {what} for over {waited:.0f} s ({tag}); "
            "run again later, nothing is lost"
        )
    elif error is TooManyImportsError:
        message = (
            f"DotDigital kept refusing a new import: 25 imports were active on the account for "
            f"over {waited:.0f} s; run again later, nothing is lost"
        )
    elif issubclass(error, TransientError) and status is None:
        message = (
            f"nothing answered {what} at {url} after {attempts} attempts "
            f"({redact_emails(body.sentence)}): check {api_url_setting}, then run again; "
            "nothing is lost"
        )
    elif issubclass(error, TransientError):
        message = (
            f"DotDigital did not answer {what} after {attempts} attempts ({tag}); "
            "run again later, nothing is lost"
        )
    else:
        message = f"DotDigital answered {what} with {tag}: {said}"
    return error(message, status=status, code=code, detail=detail)
