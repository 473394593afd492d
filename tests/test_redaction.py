"""E-mail redaction: one pattern for logs, DotDigital's error sentences and alerts."""

from __future__ import annotations

import pytest

from dotsync.redaction import redact_emails


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a@b.co", "<email>"),
        ("to: Jane <jane.doe@mail.example.org>, ok", "to: Jane <<email>>, ok"),
        ("ünï@bücher.de and x@y.fr", "<email> and <email>"),
        ("ann.o'neil+x@mail.example.com and Bob@EXAMPLE.org", "<email> and <email>"),
        ("contact 'ann@example.com' refused", "contact '<email>' refused"),
        ('{"email": "ann@example.com"}', '{"email": "<email>"}'),
        ("no address @ here, nor user@localhost", "no address @ here, nor user@localhost"),
    ],
    ids=["plain", "in-brackets", "unicode-two", "quote-inside", "quoted", "json", "not-addresses"],
)
def test_redact_emails(text: str, expected: str) -> None:
    assert redact_emails(text) == expected
