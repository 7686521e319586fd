"""Translations check (``make lint``), and the translators' update step.

    python tools/check_i18n.py            # extract, then check; exit 1 on any problem
    python tools/check_i18n.py --update   # extract, write messages.pot, merge it into each .po

The check fails when

* a template has a literal user-visible text (a text node, or a ``title``, ``placeholder``,
  ``alt``, ``label`` or ``aria-*`` attribute) outside ``{{ _() }}``, unless it is a symbol or
  on the allowlist below;
* a catalogue (``pl``, ``uk``) lacks a message that the code uses, has an empty
  translation or plural form, a fuzzy entry, or placeholders that differ from the
  English (Babel's own catalogue checks);
* the console's JS asks for a text (``t("key")``, ``tn("key", n)``, ``label("group", k)``)
  that the server does not send (``agent_console.views.js_strings``), so it would show a
  bare key, or the wallboard's JS uses a key its page does not define.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TRANSLATIONS = ROOT / "hub" / "translations"
POT = TRANSLATIONS / "messages.pot"
PACKAGES = ["hub", "agent_console", "channels", "campaigns", "crm_core"]
LANGUAGES = ["en", "pl", "uk"]
MUST_TRANSLATE = ["pl", "uk"]
KEYWORDS = ["_l", "lazy_gettext", "ngettext:1,2", "lazy_ngettext:1,2", "_n:1,2", "N_"]
KEYWORDS += ["plural_forms:1,2"]  # hub.i18n: a plural message for the browser

# Text that is the same in every language: brand and product names, file and format names.
ALLOWLIST = {
    "Switchboard",
    "openapi.json",
    "JSON",
    "PDF",
    "TIFF",
    "SLA",
    "VIP",
    "English",
    "Polski",
    "Українська",
}
CHECKED_ATTRIBUTES = {"title", "placeholder", "alt", "label", "aria-label", "aria-description"}
# Blocks whose content is not page text: attribute values (``body_class``) and ``{% set %}``
# blocks of attributes; they are dropped before the rest is read.
NOT_TEXT = re.compile(
    r"\{%-?\s*block\s+body_class\s*-?%\}.*?\{%-?\s*endblock.*?%\}"
    r"|\{%-?\s*set\s+\w+\s*-?%\}.*?\{%-?\s*endset\s*-?%\}",
    re.S,
)
STATEMENT = re.compile(r"\{#.*?#\}|\{%.*?%\}", re.S)
EXPRESSION = re.compile(r"\{\{.*?\}\}", re.S)
LETTER = re.compile(r"[^\W\d_]")


class _Literals(HTMLParser):
    """Collects (line, text) of literal text nodes and checked attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "textarea"):
            self._skip += 1
        for name, value in attrs:
            if name in CHECKED_ATTRIBUTES and value:
                self._note(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "textarea") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._note(data)

    def _note(self, text: str) -> None:
        for piece in re.split(r"\x00+", text):
            piece = " ".join(piece.split())
            rest = piece
            for word in ALLOWLIST:
                rest = re.sub(rf"(?<!\w){re.escape(word)}(?!\w)", "", rest)
            if LETTER.search(rest):
                self.found.append((self.getpos()[0], piece))


def template_literals(path: Path) -> list[tuple[int, str]]:
    source = path.read_text(encoding="utf-8")
    # Statements vanish (so ``<option{% if x %} selected{% endif %}>`` stays a tag) and
    # expressions become separators; both keep the line count.
    lines = lambda m: "\n" * m.group(0).count("\n")  # noqa: E731
    blanked = NOT_TEXT.sub(lines, source)
    blanked = STATEMENT.sub(lines, blanked)
    blanked = EXPRESSION.sub(lambda m: "\x00" + lines(m), blanked)
    parser = _Literals()
    parser.feed(blanked)
    parser.close()
    return parser.found


def templates() -> list[Path]:
    found: list[Path] = []
    for package in PACKAGES:
        found.extend(sorted((ROOT / package).glob("**/templates/**/*.html")))
    return found


def extract(pot: Path) -> Catalog:
    args = ["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), "--no-location"]
    args += ["--sort-output", "--project", "Switchboard", "--copyright-holder", "Switchboard"]
    args += ["--msgid-bugs-address", "switchboard-i18n@example.org"]
    for keyword in KEYWORDS:
        args += ["-k", keyword]
    args += ["-o", str(pot), *PACKAGES]
    CommandLineInterface().run(args)
    with pot.open("rb") as fh:
        return read_po(fh)


def po_path(language: str) -> Path:
    return TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"


def load(language: str) -> Catalog | None:
    path = po_path(language)
    if not path.exists():
        return None
    with path.open("rb") as fh:
        return read_po(fh, locale=language)


def update(template: Catalog) -> None:
    """Write messages.pot and merge it into each catalogue (new entries untranslated)."""
    buf = io.BytesIO()
    write_po(buf, template, omit_header=False, sort_output=True, width=100)
    POT.write_bytes(buf.getvalue())
    for language in LANGUAGES:
        catalog = load(language)
        if catalog is None:
            catalog = Catalog(locale=language, domain="messages", project="Switchboard")
        catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
        catalog.obsolete.clear()
        catalog.fuzzy = False
        catalog.project, catalog.version = "Switchboard", "0.1"
        catalog.last_translator = "Switchboard founding engineers"
        catalog.language_team = f"{language} <switchboard-i18n@example.org>"
        catalog.msgid_bugs_address = "switchboard-i18n@example.org"
        path = po_path(language)
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        write_po(buf, catalog, sort_output=True, width=100, include_previous=False)
        path.write_bytes(buf.getvalue())
        print(f"updated {path.relative_to(ROOT)}")


def catalogue_problems(template: Catalog) -> list[str]:
    problems: list[str] = []
    for language in MUST_TRANSLATE:
        catalog = load(language)
        name = f"{language}/messages.po"
        if catalog is None:
            problems.append(f"{name}: missing (run tools/check_i18n.py --update)")
            continue
        for message in template:
            if not message.id:
                continue
            entry = catalog.get(message.id, message.context)
            shown = message.id if isinstance(message.id, str) else message.id[0]
            if entry is None:
                problems.append(f"{name}: no entry for {shown!r} (run --update, translate)")
                continue
            strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
            if entry.fuzzy:
                problems.append(f"{name}: fuzzy translation of {shown!r}")
            if not all(strings) or (
                isinstance(message.id, tuple) and len(strings) != catalog.num_plurals
            ):
                problems.append(f"{name}: no translation for {shown!r}")
        for message, errors in catalog.check():
            for error in errors:
                problems.append(f"{name}: {message.id!r}: {error}")
    return problems


def js_problems() -> list[str]:
    """Keys the console's JS asks for that the server does not send."""
    from hub.app import create_app

    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "database_url": f"sqlite:///{tmp}/x.sqlite3",
                "var_dir": tmp,
                "secret_key": "x" * 64,
                "log_level": "WARNING",
            }
        )
        from agent_console.views import js_strings

        with app.test_request_context():
            strings = js_strings()
    static = ROOT / "agent_console" / "static"
    for name in ("common.js", "console.js"):
        source = (static / name).read_text(encoding="utf-8")
        for key in sorted(set(re.findall(r"\bt\(\s*[\"'](\w+)[\"']", source))):
            if key not in strings.get("t", {}):
                problems.append(f"agent_console/static/{name}: t({key!r}) is not in js_strings")
        for key in sorted(set(re.findall(r"\btn\(\s*[\"'](\w+)[\"']", source))):
            if key not in strings.get("plurals", {}):
                problems.append(f"agent_console/static/{name}: tn({key!r}) is not in js_strings")
        for group in sorted(set(re.findall(r"\blabel\(\s*[\"'](\w+)[\"']", source))):
            if group not in strings:
                problems.append(f"agent_console/static/{name}: label group {group!r} unknown")
    wall = (static / "wallboard.js").read_text(encoding="utf-8")
    page = (ROOT / "agent_console" / "templates" / "console" / "wallboard.html").read_text(
        encoding="utf-8"
    )
    block = page.split('id="wallboard-strings"', 1)[-1]
    defined = set(re.findall(r"\"(\w+)\"\s*:", block))
    for key in sorted(set(re.findall(r"\bW\.(\w+)", wall))):
        if key not in defined:
            problems.append(f"agent_console/static/wallboard.js: W.{key} is not on the page")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true", help="write messages.pot, merge .po")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        template = extract(Path(tmp) / "messages.pot")
    if options.update:
        update(template)
        return 0
    problems: list[str] = []
    for path in templates():
        for line, text in template_literals(path):
            problems.append(
                f"{path.relative_to(ROOT)}:{line}: untranslated text {text!r} (wrap it in _())"
            )
    problems += catalogue_problems(template)
    problems += js_problems()
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"check_i18n: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"check_i18n: {len(template)} messages, every one translated into pl and uk")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
