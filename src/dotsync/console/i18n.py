"""Languages of the console: English and French, from gettext catalogs.

Every ``.po`` file under ``locale/<language>/LC_MESSAGES/`` is read at start-up with Babel and
merged into one catalog per language, so each part of the console ships its own file
(``console.po`` for the core, ``pages.po`` for the pages) without a build step and without
conflicts. Message ids are the English text; English needs no translation.

A request's language: the user's choice (the ``dotsync_lang`` cookie set by the switcher), else the
browser's ``Accept-Language``, else English.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES: Mapping[str, str] = {"en": "English", "fr": "Français"}  # code -> its own name
DEFAULT_LANGUAGE = "en"
LANGUAGE_COOKIE = "dotsync_lang"


@dataclass(frozen=True)
class Language:
    code: str
    translations: NullTranslations

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.translations.ngettext(singular, plural, n)


def load_catalogs(code: str, locale_dir: Path = LOCALE_DIR) -> NullTranslations:
    """Every ``.po`` of ``code``'s folder, in name order, merged (a later file wins a clash)."""
    merged: Translations | None = None
    folder = locale_dir / code / "LC_MESSAGES"
    for po in sorted(folder.glob("*.po")):
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=code)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        loaded = Translations(buffer)
        if merged is None:
            merged = loaded
        else:
            merged.merge(loaded)
    return merged if merged is not None else NullTranslations()


@cache
def language(code: str) -> Language:
    """The language ``code`` (one of LANGUAGES), its catalogs read once per process."""
    return Language(code, load_catalogs(code))


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The language to answer in: the user's choice, else the browser's first supported one."""
    if cookie in LANGUAGES:
        return str(cookie)
    for code in _accepted(accept_language or ""):
        primary = code.split("-")[0].lower()
        if primary in LANGUAGES:
            return primary
    return DEFAULT_LANGUAGE


def _accepted(header: str) -> list[str]:
    """The codes of an Accept-Language header, by preference (q), the header's order first."""
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        code, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if code and quality > 0:
            weighted.append((-quality, index, code))
    return [code for _, _, code in sorted(weighted)]
