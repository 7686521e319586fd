"""Form field definitions and the validation of what a visitor submitted.

A field definition is a small dict an admin writes (stored as JSON on the form)::

    {"name": "email", "label": "Your e-mail", "type": "email", "required": true}

Types: ``text``, ``textarea``, ``email``, ``phone``, ``number``, ``date``, ``choice``
(``choices`` lists the options), ``checkbox`` and ``file`` (``accept`` lists MIME types,
``max_bytes`` caps the size). ``max_length`` caps text (default 200, 5000 for
``textarea``); ``min``/``max`` bound numbers.

Well-known names identify the sender: the first ``email`` field is the From address, the
first ``phone`` field the phone number, a field named ``name`` the sender's name and one
named ``subject`` the subject.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _

from crm_core.errors import N_, ValidationFailed
from crm_core.services.blobs import sniff_content_type
from crm_core.services.emails import normalize_email
from crm_core.services.phones import normalize_phone

FIELD_TYPES = (
    "text",
    "textarea",
    "email",
    "phone",
    "number",
    "date",
    "choice",
    "checkbox",
    "file",
)
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
# Names the page uses itself; a field may not take them.
RESERVED = frozenset({"csrf_token", "submission_id", "website_url", "lang", "captcha"})
DEFAULT_FILE_TYPES = ("application/pdf", "image/png", "image/jpeg", "text/plain")
DEFAULT_FILE_BYTES = 5 * 1024 * 1024
MAX_FIELDS = 40


@dataclass(frozen=True)
class UploadedFile:
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class CleanSubmission:
    """Validated values by field name, the files, and the sender's identity."""

    values: dict[str, Any] = field(default_factory=dict)
    files: list[tuple[str, UploadedFile]] = field(default_factory=list)
    email: str | None = None
    phone: str | None = None
    name: str | None = None
    subject: str | None = None


class SubmissionInvalid(ValidationFailed):
    """One or more fields are wrong; ``errors`` maps field name to a message."""

    def __init__(self, errors: dict[str, str]) -> None:
        names = ", ".join(sorted(errors))
        super().__init__(f"please correct: {names}", field=next(iter(errors)), detail=errors)
        self.errors = errors


def clean_definition(fields: Any) -> list[dict[str, Any]]:
    """Check an admin's field list; returns a normalised copy or raises ValidationFailed."""
    if not isinstance(fields, list) or not fields:
        raise ValidationFailed(N_("a form needs at least one field"), field="fields")
    if len(fields) > MAX_FIELDS:
        raise ValidationFailed(
            N_("a form has at most %(max)s fields"), max=MAX_FIELDS, field="fields"
        )
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for i, raw in enumerate(fields):
        where = f"fields[{i}]"
        if not isinstance(raw, dict):
            raise ValidationFailed(N_("each field is an object"), field=where)
        name = str(raw.get("name") or "")
        if not NAME_RE.match(name) or name in RESERVED:
            raise ValidationFailed(
                N_(
                    "field name '%(name)s' must be lower-case letters, digits and _ "
                    "(and not a reserved name)"
                ),
                field=where,
                name=name,
            )
        if name in seen:
            raise ValidationFailed(
                N_("field name '%(name)s' is used twice"), name=name, field=where
            )
        seen.add(name)
        ftype = str(raw.get("type") or "text")
        if ftype not in FIELD_TYPES:
            raise ValidationFailed(
                N_("field type '%(type)s' is not one of %(types)s"),
                field=where,
                type=ftype,
                types=", ".join(FIELD_TYPES),
            )
        item: dict[str, Any] = {
            "name": name,
            "label": str(raw.get("label") or name.replace("_", " ").capitalize())[:200],
            "type": ftype,
            "required": bool(raw.get("required", False)),
        }
        if raw.get("help"):
            item["help"] = str(raw["help"])[:500]
        if ftype in ("text", "textarea", "email", "phone"):
            default = 5000 if ftype == "textarea" else 200
            item["max_length"] = _positive_int(raw.get("max_length", default), where, 20000)
        if ftype == "choice":
            choices = raw.get("choices")
            if not isinstance(choices, list) or not choices:
                raise ValidationFailed(N_("a choice field needs choices"), field=where)
            item["choices"] = [str(c)[:200] for c in choices]
        if ftype == "number":
            for bound in ("min", "max"):
                if raw.get(bound) is not None:
                    item[bound] = float(raw[bound])
        if ftype == "file":
            accept = raw.get("accept") or list(DEFAULT_FILE_TYPES)
            item["accept"] = [str(a).lower() for a in accept]
            item["max_bytes"] = _positive_int(
                raw.get("max_bytes", DEFAULT_FILE_BYTES), where, 25 * 1024 * 1024
            )
        out.append(item)
    return out


def _positive_int(value: Any, where: str, ceiling: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationFailed(N_("limits must be whole numbers"), field=where) from None
    if not 0 < number <= ceiling:
        raise ValidationFailed(
            N_("limits must be between 1 and %(ceiling)s"), ceiling=ceiling, field=where
        )
    return number


def clean_submission(
    fields: list[dict[str, Any]],
    data: dict[str, Any],
    files: dict[str, UploadedFile] | None = None,
    *,
    region: str,
) -> CleanSubmission:
    """Validate ``data`` (field name → submitted text) against the form's ``fields``.

    Unknown keys are ignored. Raises :class:`SubmissionInvalid` listing every bad field.
    """
    files = files or {}
    errors: dict[str, str] = {}
    out = CleanSubmission()
    for spec in fields:
        name, ftype = spec["name"], spec["type"]
        if ftype == "file":
            upload = files.get(name)
            if upload is None or not upload.data:
                if spec.get("required"):
                    errors[name] = _("Please attach a file.")
                continue
            problem = _check_file(spec, upload)
            if problem:
                errors[name] = problem
            else:
                out.files.append((name, upload))
            continue
        raw = data.get(name)
        if ftype == "checkbox":
            checked = raw not in (None, "", False, "0", "false", "off")
            if spec.get("required") and not checked:
                errors[name] = _("Please tick this box.")
            out.values[name] = checked
            continue
        text = "" if raw is None else str(raw)
        text = text.replace("\r\n", "\n").strip()
        if "\x00" in text:
            errors[name] = _("This contains characters we cannot store.")
            continue
        if not text:
            if spec.get("required"):
                errors[name] = _("This field is required.")
            continue
        limit = spec.get("max_length")
        if limit and len(text) > limit:
            errors[name] = _("At most %(n)s characters, please.", n=limit)
            continue
        if ftype != "textarea" and "\n" in text:
            text = " ".join(text.split())
        value, problem = _typed(spec, text, region)
        if problem:
            errors[name] = problem
            continue
        out.values[name] = value
        if ftype == "email" and out.email is None:
            out.email = value
        elif ftype == "phone" and out.phone is None:
            out.phone = value
        if name == "name":
            out.name = text
        elif name == "subject":
            out.subject = text
    if errors:
        raise SubmissionInvalid(errors)
    return out


def _typed(spec: dict[str, Any], text: str, region: str) -> tuple[Any, str | None]:
    ftype = spec["type"]
    if ftype == "email":
        addr = normalize_email(text)
        return (addr, None) if addr else (None, _("Please enter a valid e-mail address."))
    if ftype == "phone":
        e164 = normalize_phone(text, region)
        return (e164, None) if e164 else (None, _("Please enter a valid phone number."))
    if ftype == "number":
        try:
            number = Decimal(text.replace(",", "."))
        except InvalidOperation:
            return None, _("Please enter a number.")
        if not number.is_finite():
            return None, _("Please enter a number.")
        if spec.get("min") is not None and number < Decimal(str(spec["min"])):
            return None, _("At least %(n)s, please.", n=f"{spec['min']:g}")
        if spec.get("max") is not None and number > Decimal(str(spec["max"])):
            return None, _("At most %(n)s, please.", n=f"{spec['max']:g}")
        return str(number), None
    if ftype == "date":
        try:
            return dt.date.fromisoformat(text).isoformat(), None
        except ValueError:
            return None, _("Please enter a date (YYYY-MM-DD).")
    if ftype == "choice":
        if text not in spec["choices"]:
            return None, _("Please choose one of the options.")
        return text, None
    return text, None


def _check_file(spec: dict[str, Any], upload: UploadedFile) -> str | None:
    if len(upload.data) > spec["max_bytes"]:
        return _("The file is too large (at most %(n)s KB).", n=spec["max_bytes"] // 1024)
    kind = sniff_content_type(upload.data, upload.content_type)
    if kind not in spec["accept"]:
        return _("This type of file is not accepted.")
    return None
