"""The response table: every kind of reply maps to the action to take and the error to raise."""

from __future__ import annotations

import pytest

from dotsync.dotdigital.responses import Action, classify, parse_error_body
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


@pytest.mark.parametrize(
    ("status", "code", "action", "error"),
    [
        pytest.param(None, None, Action.RETRY, TransientError, id="no-reply"),
        pytest.param(500, None, Action.RETRY, TransientError, id="500"),
        pytest.param(502, None, Action.RETRY, TransientError, id="502"),
        pytest.param(503, None, Action.RETRY, TransientError, id="503"),
        pytest.param(408, None, Action.RETRY, TransientError, id="408"),
        pytest.param(429, None, Action.WAIT_RATE_LIMIT, RateLimitedError, id="429"),
        pytest.param(
            400, "ERROR_APIUSAGE_EXCEEDED", Action.WAIT_RATE_LIMIT, RateLimitedError, id="flat"
        ),
        pytest.param(
            429,
            "contacts:tooManyActiveImports",
            Action.WAIT_IMPORT_SLOT,
            TooManyImportsError,
            id="v3-busy-429",
        ),
        pytest.param(401, None, Action.FAIL, AuthenticationError, id="401"),
        pytest.param(403, None, Action.FAIL, WrongRegionError, id="403"),
        pytest.param(404, "ERROR_ADDRESSBOOK_NOT_FOUND", Action.FAIL, NotFoundError, id="404"),
        pytest.param(400, "ERROR_CONTACT_NOT_FOUND", Action.FAIL, NotFoundError, id="nf-as-400"),
        pytest.param(400, "ERROR_DATAFIELD_NOTFOUND", Action.FAIL, NotFoundError, id="nf-nounder"),
        pytest.param(404, "contacts:importNotFound", Action.FAIL, NotFoundError, id="v3-nf"),
        pytest.param(
            400, "ERROR_ADDRESSBOOK_NOTWRITABLE", Action.FAIL, NotWritableError, id="test-book"
        ),
        pytest.param(
            403, "ERROR_ADDRESSBOOK_NOTWRITABLE", Action.FAIL, NotWritableError, id="nw-as-403"
        ),
        pytest.param(400, "ERROR_PARAMETER_INVALID", Action.FAIL, RejectedDataError, id="400"),
        pytest.param(400, "contacts:badJson", Action.FAIL, RejectedDataError, id="v3-400"),
        pytest.param(409, None, Action.FAIL, RejectedDataError, id="409"),
        pytest.param(302, None, Action.FAIL, DotDigitalError, id="redirect"),
    ],
)
def test_classify(
    status: int | None, code: str | None, action: Action, error: type[DotDigitalError]
) -> None:
    rule = classify(status, code)
    assert rule.action is action
    assert rule.error is error


@pytest.mark.parametrize(
    ("payload", "code", "sentence"),
    [
        pytest.param(
            {"message": "Contact is suppressed. ERROR_CONTACT_SUPPRESSED"},
            "ERROR_CONTACT_SUPPRESSED",
            "Contact is suppressed.",
            id="v2-sentence",
        ),
        pytest.param(
            {"message": "Error: ERROR_ADDRESSBOOK_NOT_FOUND"},
            "ERROR_ADDRESSBOOK_NOT_FOUND",
            "",
            id="v2-error-prefix",
        ),
        pytest.param(
            {"message": "Authorization has been denied for this request."},
            None,
            "Authorization has been denied for this request.",
            id="v2-no-code",
        ),
        pytest.param(
            {"errorCode": "contacts:tooManyActiveImports", "description": "Wait."},
            "contacts:tooManyActiveImports",
            "Wait.",
            id="v3",
        ),
    ],
)
def test_parse_error_body(payload: object, code: str | None, sentence: str) -> None:
    body = parse_error_body(payload)
    assert (body.code, body.sentence) == (code, sentence)


def test_parse_error_body_of_a_proxy_page_keeps_its_start() -> None:
    body = parse_error_body(None, "<html>\n  <h1>502 Bad Gateway</h1>" + "x" * 500)
    assert body.code is None
    assert body.sentence.startswith("<html> <h1>502 Bad Gateway</h1>")
    assert len(body.sentence) == 200


def test_v3_details_are_kept() -> None:
    body = parse_error_body(
        {
            "errorCode": "contacts:invalidContacts",
            "description": "Invalid contact data",
            "details": [{"item": "firstName", "description": "Cannot exceed 256 characters"}],
        }
    )
    assert body.details == ("firstName: Cannot exceed 256 characters",)
