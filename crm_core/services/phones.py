"""Phone number normalisation to E.164, and recognising withheld caller IDs."""

from __future__ import annotations

import re

import phonenumbers

# What carriers and Twilio send for withheld, restricted or unknown callers. Twilio's own
# placeholders are real-looking numbers ("+266696687" spells ANONYMOUS on a keypad).
WITHHELD_CALLER_IDS = frozenset(
    {
        "anonymous",
        "restricted",
        "unavailable",
        "unknown",
        "private",
        "blocked",
        "withheld",
        "+266696687",
        "+7378742833",
        "+2562533",
        "+8656696",
        "+86282452253",
    }
)

_JUNK = re.compile(r"[^\d+]")


def is_withheld(raw: str | None) -> bool:
    """True for empty input and for the placeholders of withheld caller IDs."""
    if raw is None:
        return True
    text = raw.strip()
    if not text:
        return True
    if text.casefold() in WITHHELD_CALLER_IDS:
        return True
    compact = _JUNK.sub("", text)
    return compact in WITHHELD_CALLER_IDS


def normalize_phone(raw: str | None, region: str | None = None) -> str | None:
    """Return ``raw`` as E.164 (``+48601234567``), or None when it is no callable number.

    ``region`` (ISO 3166 alpha-2) reads national formats: ``601-234-567`` with ``PL``.
    ``00`` international prefixes are understood everywhere. Withheld caller IDs and
    anything that does not parse as a *possible* number give None, never an exception.
    """
    if raw is None or len(raw) > 64 or is_withheld(raw):
        return None
    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, (region or "").upper() or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if e164 in WITHHELD_CALLER_IDS:
        return None
    return e164


def format_phone(e164: str, home_region: str | None = None) -> str:
    """National format for numbers of ``home_region``, international format otherwise."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    region = phonenumbers.region_code_for_number(number)
    fmt = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if home_region and region == home_region.upper()
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, fmt)
