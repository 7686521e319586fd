"""Reading Twilio's form parameters strictly: anything malformed is :class:`BadParams` (a 400
before the database is touched)."""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from collections.abc import Iterable, Mapping

from crm_core.db import utcnow

_SIDS = {
    prefix: re.compile(rf"^{prefix}[0-9a-fA-F]{{32}}$")
    for prefix in ("CA", "AC", "RE", "CF", "SK", "AP")
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DIGITS = re.compile(r"^[0-9*#w]{0,64}$")

CALL_STATUSES = (
    "queued",
    "initiated",
    "ringing",
    "in-progress",
    "completed",
    "busy",
    "no-answer",
    "failed",
    "canceled",
)
RECORDING_STATUSES = ("in-progress", "completed", "absent", "failed")


class BadParams(ValueError):
    """A parameter is missing or not what Twilio sends."""


def sid(form: Mapping[str, str], name: str, prefix: str, *, required: bool = True) -> str | None:
    value = form.get(name)
    if value is None or value == "":
        if required:
            raise BadParams(f"{name} is missing")
        return None
    if not _SIDS[prefix].match(value):
        raise BadParams(f"{name} is not a {prefix} SID")
    return value


def text(
    form: Mapping[str, str], name: str, *, required: bool = False, max_len: int = 64
) -> str | None:
    value = form.get(name)
    if value is None or value == "":
        if required:
            raise BadParams(f"{name} is missing")
        return None
    if len(value) > max_len or _CONTROL.search(value):
        raise BadParams(f"{name} is not a valid value")
    return value


def choice(
    form: Mapping[str, str], name: str, allowed: Iterable[str], *, required: bool = False
) -> str | None:
    value = text(form, name, required=required)
    if value is not None and value not in allowed:
        raise BadParams(f"{name} {value!r} is not one Twilio sends")
    return value


def integer(form: Mapping[str, str], name: str, *, maximum: int = 10_000_000) -> int | None:
    value = form.get(name)
    if value is None or value == "":
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 9:
        raise BadParams(f"{name} is not a whole number")
    number = int(value)
    if number > maximum:
        raise BadParams(f"{name} is out of range")
    return number


def digits(form: Mapping[str, str], name: str = "Digits") -> str | None:
    value = form.get(name)
    if value is None or value == "":
        return None
    if not _DIGITS.match(value):
        raise BadParams(f"{name} holds more than keypad keys")
    return value


def timestamp(form: Mapping[str, str], name: str = "Timestamp") -> dt.datetime:
    """Twilio's RFC 2822 ``Timestamp`` of the event, or now when it sent none."""
    value = form.get(name)
    if not value:
        return utcnow()
    if len(value) > 64:
        raise BadParams(f"{name} is not a date")
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError) as exc:
        raise BadParams(f"{name} is not a date") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def url(form: Mapping[str, str], name: str, *, required: bool = True) -> str | None:
    value = text(form, name, required=required, max_len=2000)
    if value is not None and not value.startswith(("https://", "http://")):
        raise BadParams(f"{name} is not a URL")
    return value


def query_int(args: Mapping[str, str], name: str) -> int | None:
    value = args.get(name)
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 12:
        raise BadParams(f"query parameter {name} is not an id")
    return int(value)
