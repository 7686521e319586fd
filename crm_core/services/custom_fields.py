"""Admin-defined custom fields: definitions, typed validation, and values on customers."""

from __future__ import annotations

import datetime as dt
import decimal
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.errors import N_, Conflict, ValidationFailed
from crm_core.models import Customer, CustomFieldDefinition, CustomFieldValue
from crm_core.models.customers import CUSTOM_FIELD_TYPES

_KEY = re.compile(r"^[a-z][a-z0-9_]{0,59}$")


def define_field(
    session: Session,
    *,
    key: str,
    label: str,
    field_type: str,
    choices: list[str] | None = None,
    required: bool = False,
    position: int = 0,
) -> CustomFieldDefinition:
    """Create a custom field definition; ``key`` is a lower-case identifier used in filters."""
    if not _KEY.match(key):
        raise ValidationFailed(
            N_("key must start with a letter and use a-z, 0-9 and _ only"), field="key"
        )
    if field_type not in CUSTOM_FIELD_TYPES:
        raise ValidationFailed(
            N_("field_type must be one of %(types)s"),
            field="field_type",
            types=", ".join(CUSTOM_FIELD_TYPES),
        )
    if field_type == "choice":
        if not choices or not all(isinstance(c, str) and c for c in choices):
            raise ValidationFailed(N_("a choice field needs a list of choices"), field="choices")
    elif choices:
        raise ValidationFailed(N_("only choice fields take choices"), field="choices")
    if session.scalar(select(CustomFieldDefinition.id).where(CustomFieldDefinition.key == key)):
        raise Conflict(N_("custom field '%(key)s' exists already"), field="key", key=key)
    definition = CustomFieldDefinition(
        key=key,
        label=label,
        field_type=field_type,
        choices=list(choices) if choices else None,
        required=required,
        position=position,
    )
    session.add(definition)
    session.flush()
    return definition


def definitions_by_key(session: Session) -> dict[str, CustomFieldDefinition]:
    return {d.key: d for d in session.scalars(select(CustomFieldDefinition))}


def coerce_value(definition: CustomFieldDefinition, value: Any) -> Any:
    """Check ``value`` against the field's type and return it in its stored Python type.

    Raises :class:`ValidationFailed` naming ``custom_fields.<key>``.
    """
    name = f"custom_fields.{definition.key}"
    kind = definition.field_type
    if value is None:
        if definition.required:
            raise ValidationFailed(N_("%(label)s is required"), field=name, label=definition.label)
        return None
    if kind == "text":
        if not isinstance(value, str):
            raise ValidationFailed(N_("%(label)s must be text"), field=name, label=definition.label)
        if len(value) > 1000:
            raise ValidationFailed(
                N_("%(label)s is longer than 1000 characters"), field=name, label=definition.label
            )
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValidationFailed(
                N_("%(label)s must be a number"), field=name, label=definition.label
            )
        try:
            number = decimal.Decimal(str(value))
        except decimal.InvalidOperation:
            raise ValidationFailed(
                N_("%(label)s must be a number"), field=name, label=definition.label
            ) from None
        if not number.is_finite() or abs(number) >= decimal.Decimal(10) ** 14:
            raise ValidationFailed(
                N_("%(label)s is out of range"), field=name, label=definition.label
            )
        return number.quantize(decimal.Decimal("0.0001"))
    if kind == "date":
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        raise ValidationFailed(
            N_("%(label)s must be a date (YYYY-MM-DD)"), field=name, label=definition.label
        )
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        raise ValidationFailed(
            N_("%(label)s must be true or false"), field=name, label=definition.label
        )
    if kind == "choice":
        if isinstance(value, str) and value in (definition.choices or []):
            return value
        allowed = ", ".join(definition.choices or [])
        raise ValidationFailed(
            N_("%(label)s must be one of: %(allowed)s"),
            field=name,
            label=definition.label,
            allowed=allowed,
        )
    raise ValidationFailed(f"unknown field type {kind}", field=name)  # pragma: no cover


def set_custom_fields(session: Session, customer: Customer, values: dict[str, Any]) -> None:
    """Set (or clear, with None) custom field values; validates every one before writing any."""
    defs = definitions_by_key(session)
    coerced: list[tuple[CustomFieldDefinition, Any]] = []
    for key, raw in values.items():
        definition = defs.get(key)
        if definition is None:
            raise ValidationFailed(
                N_("unknown custom field '%(key)s'"), field=f"custom_fields.{key}", key=key
            )
        coerced.append((definition, coerce_value(definition, raw)))
    existing = {v.field_id: v for v in customer.custom_values}
    for definition, value in coerced:
        row = existing.get(definition.id)
        if value is None:
            if row is not None:
                customer.custom_values.remove(row)
            continue
        if row is None:
            row = CustomFieldValue(field=definition)
            customer.custom_values.append(row)
        row.value_text = value if definition.field_type in ("text", "choice") else None
        row.value_number = value if definition.field_type == "number" else None
        row.value_date = value if definition.field_type == "date" else None
        row.value_bool = value if definition.field_type == "boolean" else None


def custom_field_dict(customer: Customer) -> dict[str, Any]:
    return {v.field.key: v.value for v in customer.custom_values}
