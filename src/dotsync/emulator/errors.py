"""DotDigital's error replies, raised by the store and turned into responses by the app.

v2 answers ``{"message": "<One sentence>. ERROR_CODE"}``; v3 answers
``{"errorCode": "contacts:...", "description": "..."}`` (see
https://marketing.developer.dotdigital.com/docs/error-response-types and
https://marketing.developer.dotdigital.com/docs/error-handling). DotDigital does not document which
status goes with which code; we assume 404 for ``*_NOT_FOUND`` and 400 for validation errors.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A v2 error reply. ``sentence`` is one sentence without its final full stop."""

    def __init__(self, status: int, code: str, sentence: str) -> None:
        super().__init__(f"{sentence}. {code}")
        self.status = status
        self.code = code
        self.sentence = sentence

    def body(self) -> dict[str, Any]:
        return {"message": f"{self.sentence}. {self.code}"}


class V3Error(Exception):
    """A v3 error reply in the ``errorResponse`` shape of v3-contacts.openapi.json."""

    def __init__(self, status: int, error_code: str, description: str) -> None:
        super().__init__(f"{error_code}: {description}")
        self.status = status
        self.error_code = error_code
        self.description = description

    def body(self) -> dict[str, Any]:
        return {"errorCode": self.error_code, "description": self.description}


def not_found(what: str, code: str) -> ApiError:
    return ApiError(404, code, f"{what} not found")


def invalid(sentence: str, code: str = "ERROR_PARAMETER_INVALID") -> ApiError:
    return ApiError(400, code, sentence)


BOOK_NOT_FOUND = "ERROR_ADDRESSBOOK_NOT_FOUND"
CONTACT_NOT_FOUND = "ERROR_CONTACT_NOT_FOUND"
