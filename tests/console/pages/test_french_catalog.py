"""The pages' French catalog: each translation keeps its message's placeholders (a missing or
misspelt one would fail the page in French only), and nothing is left untranslated."""

from __future__ import annotations

import re

from babel.messages.pofile import read_po

from dotsync.console import i18n

PAGES_PO = i18n.LOCALE_DIR / "fr" / "LC_MESSAGES" / "pages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def test_every_translation_keeps_its_placeholders() -> None:
    with PAGES_PO.open("rb") as fh:
        catalog = read_po(fh, locale="fr")
    wrong = []
    count = 0
    for message in catalog:
        if not message.id:
            continue
        count += 1
        ids = [str(i) for i in (message.id if isinstance(message.id, tuple) else [message.id])]
        found = message.string if isinstance(message.string, tuple) else [message.string]
        strings = [str(text or "") for text in found]
        assert all(strings), f"untranslated: {ids[0]!r}"
        expected = set(PLACEHOLDER.findall(ids[-1]))
        for text in strings:
            if set(PLACEHOLDER.findall(text)) - expected or (
                len(ids) == 1 and set(PLACEHOLDER.findall(text)) != expected
            ):
                wrong.append(ids[0])
    assert count > 200
    assert wrong == []
