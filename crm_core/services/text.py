"""Free text from people, checked once: trimmed, required or not, bounded, no NUL bytes.

Every refusal names the field and speaks the reader's language (``N_`` templates)."""

from __future__ import annotations

from crm_core.errors import N_, ValidationFailed


def optional_text(value: str | None, field: str, max_length: int) -> str | None:
    """``value`` trimmed; None when empty. Refused when longer than ``max_length`` or when
    it holds a NUL character (PostgreSQL cannot store one in text)."""
    value = (value or "").strip()
    if not value:
        return None
    if len(value) > max_length:
        raise ValidationFailed(
            N_("%(name)s is at most %(max_length)s characters"),
            field=field,
            name=field,
            max_length=max_length,
        )
    if "\x00" in value:
        raise ValidationFailed(
            N_("%(name)s must not contain NUL characters"), field=field, name=field
        )
    return value


def required_text(value: str | None, field: str, max_length: int) -> str:
    """Like :func:`optional_text`, and refused when empty."""
    text = optional_text(value, field, max_length)
    if text is None:
        raise ValidationFailed(N_("%(name)s is required"), field=field, name=field)
    return text
