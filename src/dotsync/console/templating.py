"""Jinja2 environments: one per language, each with the i18n extension and its catalogs, so a
request renders in its language without shared mutable state between threads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from markupsafe import Markup

from dotsync.console.i18n import LANGUAGES, language
from dotsync.console.sessions import csrf_token

TEMPLATES_DIR = Path(__file__).parent / "templates"
CSRF_FIELD = "csrf_token"


@pass_context
def _csrf_token(ctx: Any) -> str:
    return csrf_token(ctx["request"])


@pass_context
def _csrf_input(ctx: Any) -> Markup:
    return Markup('<input type="hidden" name="{}" value="{}">').format(
        CSRF_FIELD, csrf_token(ctx["request"])
    )


def _static(path: str) -> str:
    return "/static/" + path.lstrip("/")


def _grouped_plurals(ngettext: Any, code: str) -> Any:
    """Jinja's ``ngettext`` with ``%(num)s`` written as the language groups digits (1,618 in
    English, 1 618 in French) instead of 1618; the plural is still chosen by the number."""

    @pass_context
    def grouped(ctx: Any, singular: str, plural: str, num: int, **variables: Any) -> Any:
        if isinstance(num, int):
            variables.setdefault("num", format_decimal(num, locale=code))
        return ngettext(ctx, singular, plural, num, **variables)  # Markup: escaped once, as before

    return grouped


class Templates:
    def __init__(self, folder: Path = TEMPLATES_DIR) -> None:
        self._environments = {code: self._environment(folder, code) for code in LANGUAGES}

    def environment(self, code: str) -> Environment:
        return self._environments[code]

    @staticmethod
    def _environment(folder: Path, code: str) -> Environment:
        env = Environment(
            loader=FileSystemLoader(folder),
            autoescape=True,
            undefined=StrictUndefined,  # a misspelt variable fails the test, not the user
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.install_gettext_translations(language(code).translations, newstyle=True)  # type: ignore[attr-defined]
        env.globals["ngettext"] = _grouped_plurals(env.globals["ngettext"], code)
        env.globals.update(csrf_input=_csrf_input, csrf_token=_csrf_token, static=_static)
        return env
