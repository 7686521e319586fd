"""Languages and time zones: Flask-Babel with per-user choice, then ``?lang``, then
Accept-Language; the message catalogues in ``hub/translations`` (one ``messages`` domain for
every package) and their compilation.

The ``.po`` files are the source and live in git; the ``.mo`` files are build output (git
ignores them). They are compiled by ``make venv`` (``python -m hub.i18n compile``) and, so
that a plain ``pip install -e .`` or a fresh checkout needs no manual step, again by
:func:`init_app` whenever a ``.mo`` is missing or older than its ``.po``.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from babel import Locale
from flask import Flask, has_request_context, request, session
from flask_babel import Babel, force_locale, get_locale, get_translations
from flask_login import current_user

from crm_core.services.phones import format_phone
from crm_core.services.preferences import LANGUAGES, time_zones

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger(__name__)

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
DOMAIN = "messages"
# Each language in its own name: a switch must be readable by someone who cannot read the
# current page's language.
LANGUAGE_NAMES = {"en": "English", "pl": "Polski", "uk": "Українська"}
SESSION_KEY = "lang"
babel = Babel()

__all__ = [
    "LANGUAGES",
    "LANGUAGE_NAMES",
    "babel",
    "compile_catalogues",
    "init_app",
    "language_links",
    "plural_forms",
    "select_locale",
    "select_timezone",
    "time_zones",
]


def _user_value(name: str) -> str | None:
    if not has_request_context():
        return None
    if current_user and current_user.is_authenticated:
        value = getattr(current_user, name, None)
        return str(value) if value else None
    return None


def select_locale() -> str | None:
    """The signed-in user's language; for visitors ``?lang`` (remembered in the session),
    then Accept-Language. Outside a request (tasks, the SMTP listener): the default, unless
    the caller forces one (``flask_babel.force_locale``)."""
    if not has_request_context():
        return None
    language = _user_value("language")
    if language in LANGUAGES:
        return language
    chosen = request.args.get("lang")
    if chosen in LANGUAGES:
        if session.get(SESSION_KEY) != chosen:
            session[SESSION_KEY] = chosen
        return chosen
    remembered = session.get(SESSION_KEY)
    if remembered in LANGUAGES:
        return str(remembered)
    return request.accept_languages.best_match(LANGUAGES) or "en"


def cli_language() -> str | None:
    """The language of the command line: ``SWITCHBOARD_LANGUAGE``, else the POSIX locale
    (``LC_ALL``, ``LC_MESSAGES``, ``LANG``: ``pl_PL.UTF-8`` is Polish); None (English) for
    anything we do not speak."""
    for name in ("SWITCHBOARD_LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        if not value:
            continue
        code = value.split(".")[0].split("@")[0].split("_")[0].split("-")[0].lower()
        return code if code in LANGUAGES else None
    return None


def in_cli_language(command: F) -> F:
    """Decorate a CLI command (below ``with_appcontext``) so that what it prints comes in
    :func:`cli_language`. Servers started from the CLI are not decorated: what they send
    to customers and agents follows each reader's own language."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        language = cli_language()
        if language is None:
            return command(*args, **kwargs)
        with force_locale(language):
            return command(*args, **kwargs)

    return cast(F, wrapper)


def select_timezone() -> str | None:
    zone = _user_value("timezone")
    if zone is None:
        return None
    return zone if zone in time_zones() else "UTC"


def language_links(endpoint: str, **values: Any) -> list[dict[str, Any]]:
    """Links to ``endpoint`` in every language, for a language switch in a template."""
    from flask import url_for

    current = str(get_locale() or "en")
    return [
        {
            "code": code,
            "name": LANGUAGE_NAMES[code],
            "url": url_for(endpoint, **{**values, "lang": code}),
            "current": code == current,
        }
        for code in LANGUAGES
    ]


# One integer of each plural category in English, Polish and Ukrainian (CLDR: one, few,
# many, other).
_PLURAL_SAMPLES = (1, 2, 5, 0, 11, 21, 22, 25, 101, 111)


def plural_forms(singular: str, plural: str) -> dict[str, str]:
    """A plural message for the browser: its translation for each CLDR plural category of
    the current language (``{"one": ..., "few": ..., "many": ...}``), placeholders left in.

    The JS picks one with ``Intl.PluralRules(locale).select(n)``, so Polish and Ukrainian
    get their three forms without a plural formula in JS.
    """
    locale = get_locale() or Locale.parse("en")
    translations = get_translations()
    forms: dict[str, str] = {}
    for n in _PLURAL_SAMPLES:
        forms.setdefault(locale.plural_form(n), translations.ungettext(singular, plural, n))
    forms.setdefault("other", forms.get("many") or translations.ungettext(singular, plural, 2))
    return forms


def compile_catalogues(
    directory: Path = TRANSLATIONS, *, out: Path | None = None, force: bool = False
) -> list[Path]:
    """Compile each ``<lang>/LC_MESSAGES/messages.po`` whose ``.mo`` is missing or older,
    next to it or (``out``) into the same layout under another directory.

    Returns the ``.mo`` files written. Fuzzy entries are left out (they fall back to
    English), as ``pybabel compile`` does. The file is written under a temporary name and
    renamed, so a process starting alongside never reads half a catalogue.
    """
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written: list[Path] = []
    for po in sorted(directory.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo = po.with_suffix(".mo")
        if out is not None:
            mo = out / po.relative_to(directory).with_suffix(".mo")
            mo.parent.mkdir(parents=True, exist_ok=True)
        if not force and mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=po.parent.parent.name, domain=DOMAIN)
        fd, tmp = tempfile.mkstemp(prefix=".messages-", suffix=".mo", dir=mo.parent)
        try:
            with os.fdopen(fd, "wb") as stream:
                write_mo(stream, catalog, use_fuzzy=False)
            os.replace(tmp, mo)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(mo)
    return written


def init_app(app: Flask) -> None:
    directory = TRANSLATIONS
    try:
        compile_catalogues()
    except OSError:
        # A read-only install: compile into the instance's var/ directory instead.
        directory = Path(app.extensions["switchboard.settings"].var_dir) / "translations"
        log.info("%s is read-only: catalogues compiled into %s", TRANSLATIONS, directory)
        compile_catalogues(TRANSLATIONS, out=directory)
    babel.init_app(
        app,
        locale_selector=select_locale,
        timezone_selector=select_timezone,
        default_translation_directories=str(directory),
        default_domain=DOMAIN,
    )
    # Flask-Babel 4 no longer puts get_locale into templates; base.html needs it for <html lang>.
    app.jinja_env.globals.setdefault("get_locale", get_locale)
    app.jinja_env.globals.setdefault("language_links", language_links)
    region = app.extensions["switchboard.settings"].default_region
    app.jinja_env.filters["phone"] = lambda value: format_phone(value, region) if value else ""


def main(argv: list[str] | None = None) -> int:
    """``python -m hub.i18n compile [--force]``: what ``make venv`` runs."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "compile":
        print("usage: python -m hub.i18n compile [--force]", file=sys.stderr)  # noqa: T201
        return 2
    for mo in compile_catalogues(force="--force" in args):
        print(f"compiled {mo}")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
