"""Numbers in plural messages are grouped as the page's language writes them."""

from __future__ import annotations

import pytest

from dotsync.console.templating import Templates

MESSAGE = '{{ ngettext("%(name)s: %(num)s member", "%(name)s: %(num)s members", n, name=x) }}'


@pytest.mark.parametrize(
    ("code", "n", "shown"),
    [
        ("en", 1576, "a&amp;b: 1,576 members"),
        ("en", 1, "a&amp;b: 1 member"),
        ("fr", 1576, "a&amp;b: 1\u202f576 members"),  # no French catalog entry: English words
    ],
)
def test_counts_are_grouped_and_values_escaped_once(code: str, n: int, shown: str) -> None:
    page = Templates().environment(code).from_string(MESSAGE).render(n=n, x="a&b")
    assert page == shown
