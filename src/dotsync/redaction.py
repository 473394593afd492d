"""E-mail addresses are personal data: they never appear in logs, error messages or alerts.

One pattern for every place that shows text to a person. It is deliberately broad (any run of
address characters around an @ with a dotted domain): a false positive only hides a harmless
token, a false negative leaks personal data.
"""

from __future__ import annotations

import re

REDACTED_EMAIL = "<email>"

# Characters that end an address in running text: spaces, brackets, separators and quotes. A
# quote inside the local part (o'neil@...) is part of the address; a leading one is not.
_STOP = r"\s@<>()\[\]{},;:\"'"
_EMAIL = re.compile(rf"[^{_STOP}]+(?:'[^{_STOP}]+)*@[^{_STOP}/]+\.[^{_STOP}/]+")


def redact_emails(text: str) -> str:
    """``text`` with every e-mail address replaced by ``<email>``."""
    return _EMAIL.sub(REDACTED_EMAIL, text)
