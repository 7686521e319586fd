"""Segments: saved filters over any customer field, tags and custom fields.

A filter is JSON, nested freely::

    {"all": [
        {"field": "kind", "op": "eq", "value": "person"},
        {"any": [{"field": "tag", "op": "has", "value": "newsletter"},
                 {"field": "custom.loyalty_points", "op": "gte", "value": 100}]},
        {"not": {"field": "no_calls", "op": "eq", "value": true}}
    ]}

Fields: the card's columns (``kind``, ``customer_class``, ``vip``, ``no_calls``, ``no_mail``,
``city``, ``country``, ``language``, ``birthday``, ``created_at``, ``display_name``),
``tag``, ``has_phone``, ``has_email`` and ``custom.<key>``. Errors name the path of the
offending node (``filter.all[1].any[0].value``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, not_, or_, select, true
from sqlalchemy.orm import Session

from crm_core.errors import N_, Conflict, NotFound, ValidationFailed
from crm_core.models import (
    ContactPoint,
    Customer,
    CustomFieldDefinition,
    CustomFieldValue,
    Segment,
    Tag,
    customer_tags,
)
from crm_core.services import audit
from crm_core.services.custom_fields import coerce_value, definitions_by_key

OPS = (
    "eq",
    "ne",
    "lt",
    "lte",
    "gt",
    "gte",
    "contains",
    "in",
    "is_set",
    "not_set",
    "has",
    "has_not",
)
_COLUMNS: dict[str, str] = {
    "kind": "text",
    "customer_class": "text",
    "city": "text",
    "country": "text",
    "language": "text",
    "display_name": "text",
    "vip": "boolean",
    "no_calls": "boolean",
    "no_mail": "boolean",
    "birthday": "date",
    "created_at": "datetime",
}
# The card's columns a filter may name (besides tag, has_phone, has_email, custom.<key>).
COLUMN_FIELDS = tuple(_COLUMNS)
MAX_DEPTH = 8
MAX_NODES = 200


class _Compiler:
    def __init__(self, session: Session) -> None:
        self.defs = definitions_by_key(session)
        self.nodes = 0

    def compile(self, node: Any, path: str, depth: int = 0) -> ColumnElement[bool]:
        self.nodes += 1
        if depth > MAX_DEPTH or self.nodes > MAX_NODES:
            raise ValidationFailed(
                N_("filter is nested too deep or has too many parts"), field=path
            )
        if not isinstance(node, dict):
            raise ValidationFailed(N_("each filter part must be an object"), field=path)
        if "all" in node or "any" in node:
            key = "all" if "all" in node else "any"
            parts = node[key]
            if not isinstance(parts, list):
                raise ValidationFailed(N_("%(op)s takes a list"), field=f"{path}.{key}", op=key)
            compiled = [
                self.compile(p, f"{path}.{key}[{i}]", depth + 1) for i, p in enumerate(parts)
            ]
            if not compiled:
                return true() if key == "all" else false()
            return and_(*compiled) if key == "all" else or_(*compiled)
        if "not" in node:
            return not_(self.compile(node["not"], f"{path}.not", depth + 1))
        return self.condition(node, path)

    def condition(self, node: dict[str, Any], path: str) -> ColumnElement[bool]:
        fld, op, value = node.get("field"), node.get("op", "eq"), node.get("value")
        if not isinstance(fld, str):
            raise ValidationFailed(N_("field is required"), field=f"{path}.field")
        if op not in OPS:
            raise ValidationFailed(
                N_("op must be one of %(ops)s"), field=f"{path}.op", ops=", ".join(OPS)
            )
        if fld == "tag":
            if op not in ("has", "has_not", "eq") or not isinstance(value, str):
                raise ValidationFailed(
                    N_("tag takes op has/has_not and a tag name"), field=f"{path}.value"
                )
            cond = exists(
                select(customer_tags.c.customer_id)
                .join(Tag, Tag.id == customer_tags.c.tag_id)
                .where(customer_tags.c.customer_id == Customer.id, Tag.name == value)
            )
            return not_(cond) if op == "has_not" else cond
        if fld in ("has_phone", "has_email"):
            kind = "phone" if fld == "has_phone" else "email"
            if not isinstance(value, bool):
                raise ValidationFailed(
                    N_("%(name)s takes true or false"), field=f"{path}.value", name=fld
                )
            cond = exists(
                select(ContactPoint.id).where(
                    ContactPoint.customer_id == Customer.id, ContactPoint.kind == kind
                )
            )
            return cond if value else not_(cond)
        if fld.startswith("custom."):
            return self.custom(fld[7:], op, value, path)
        col_kind = _COLUMNS.get(fld)
        if col_kind is None:
            raise ValidationFailed(N_("unknown field '%(key)s'"), field=f"{path}.field", key=fld)
        column = getattr(Customer, fld)
        return self.compare(column, col_kind, op, value, path)

    def custom(self, key: str, op: str, value: Any, path: str) -> ColumnElement[bool]:
        definition = self.defs.get(key)
        if definition is None:
            raise ValidationFailed(
                N_("unknown custom field '%(key)s'"), field=f"{path}.field", key=key
            )
        column = {
            "text": CustomFieldValue.value_text,
            "choice": CustomFieldValue.value_text,
            "number": CustomFieldValue.value_number,
            "date": CustomFieldValue.value_date,
            "boolean": CustomFieldValue.value_bool,
        }[definition.field_type]
        has_value = exists(
            select(CustomFieldValue.id).where(
                CustomFieldValue.customer_id == Customer.id,
                CustomFieldValue.field_id == definition.id,
            )
        )
        if op == "is_set":
            return has_value
        if op == "not_set":
            return not_(has_value)
        if op == "contains":
            if definition.field_type not in ("text", "choice") or not isinstance(value, str):
                raise ValidationFailed(
                    N_("contains works on text with a text value"), field=f"{path}.value"
                )
            inner: ColumnElement[bool] = column.ilike(f"%{value}%")
        elif op == "in":
            if not isinstance(value, list):
                raise ValidationFailed(N_("%(op)s takes a list"), field=f"{path}.value", op="in")
            inner = column.in_([self.typed(definition, v, path) for v in value])
        else:
            typed = self.typed(definition, value, path)
            inner = _cmp(column, op, typed, path)
        sub = exists(
            select(CustomFieldValue.id).where(
                CustomFieldValue.customer_id == Customer.id,
                CustomFieldValue.field_id == definition.id,
                inner,
            )
        )
        return sub

    @staticmethod
    def typed(definition: CustomFieldDefinition, value: Any, path: str) -> Any:
        try:
            return coerce_value(definition, value)
        except ValidationFailed as exc:
            raise ValidationFailed(exc.template, field=f"{path}.value", **exc.params) from None

    def compare(
        self, column: Any, kind: str, op: str, value: Any, path: str
    ) -> ColumnElement[bool]:
        if op == "is_set":
            return column.is_not(None)
        if op == "not_set":
            return column.is_(None)
        if op == "contains":
            if kind != "text" or not isinstance(value, str):
                raise ValidationFailed(N_("contains works on text"), field=f"{path}.value")
            return column.ilike(f"%{value}%")
        if op == "in":
            if not isinstance(value, list):
                raise ValidationFailed(N_("%(op)s takes a list"), field=f"{path}.value", op="in")
            return column.in_([_plain(kind, v, path) for v in value])
        return _cmp(column, op, _plain(kind, value, path), path)


def _plain(kind: str, value: Any, path: str) -> Any:
    ok = True
    if kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "text":
        ok = isinstance(value, str)
    elif kind == "date":
        try:
            value = dt.date.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            value = None
        ok = value is not None
    elif kind == "datetime":
        try:
            value = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            value = None
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        if value is not None:
            try:
                # Compared in UTC: a moment that has no UTC form (9999-12-31T23:00-05:00)
                # would only fail later, inside the query.
                value = value.astimezone(dt.UTC)
            except OverflowError:
                value = None
        ok = value is not None
    if not ok:
        raise ValidationFailed(N_("value must be a %(kind)s"), field=f"{path}.value", kind=kind)
    return value


def _cmp(column: Any, op: str, value: Any, path: str) -> ColumnElement[bool]:
    if op in ("eq", "has"):
        return column.is_(None) if value is None else column == value
    if op in ("ne", "has_not"):
        return or_(column.is_(None), column != value)
    if value is None:
        raise ValidationFailed(N_("value is required"), field=f"{path}.value")
    return {
        "lt": column < value,
        "lte": column <= value,
        "gt": column > value,
        "gte": column >= value,
    }[op]


def compile_filter(session: Session, flt: dict[str, Any]) -> ColumnElement[bool]:
    """Turn a filter document into a WHERE clause on customers; ValidationFailed if it is bad."""
    return _Compiler(session).compile(flt, "filter")


def segment_stmt(session: Session, flt: dict[str, Any]) -> Select[Customer]:
    return select(Customer).where(Customer.merged_into_id.is_(None), compile_filter(session, flt))


def do_save_segment(
    session: Session,
    *,
    name: str,
    flt: dict[str, Any],
    description: str | None = None,
    owner_id: int | None = None,
    segment: Segment | None = None,
    user_id: int | None = None,
) -> Segment:
    """Create a segment, or change ``segment``; a bad filter is refused before saving."""
    name = name.strip()
    if not name or len(name) > 120:
        raise ValidationFailed(N_("a segment name is 1 to 120 characters"), field="name")
    compile_filter(session, flt)  # refuse a bad filter before saving it
    clash = session.scalar(select(Segment).where(Segment.name == name))
    if clash is not None and clash is not segment:
        raise Conflict(N_("a segment named '%(name)s' exists already"), field="name", name=name)
    if segment is None:
        segment = Segment(name=name, filter=flt, description=description, owner_id=owner_id)
        session.add(segment)
    else:
        segment.name, segment.filter, segment.description = name, flt, description
    session.flush()
    audit.record(
        session,
        user_id=user_id if user_id is not None else owner_id,
        action="segment.saved",
        entity_type="segment",
        entity_id=segment.id,
        after={"name": name, "filter": flt, "description": description},
    )
    return segment


def get_segment(session: Session, segment_id: int) -> Segment:
    seg = session.get(Segment, segment_id)
    if seg is None:
        raise NotFound(N_("segment %(id)s not found"), id=segment_id)
    return seg


def do_delete_segment(session: Session, segment: Segment, *, user_id: int | None = None) -> None:
    session.delete(segment)
    session.flush()
    audit.record(
        session,
        user_id=user_id,
        action="segment.deleted",
        entity_type="segment",
        entity_id=segment.id,
        before={"name": segment.name, "filter": segment.filter},
    )
