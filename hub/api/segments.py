"""Segments: saved filters over customers (campaigns build their call lists from them).

A filter is a JSON document (see ``crm_core.services.segments``)::

    {"all": [{"field": "custom.loyalty_points", "op": "gte", "value": 100},
             {"field": "tag", "op": "has", "value": "newsletter"}]}

A bad filter is refused with 422 whose ``field`` is the path of the offending node
(``filter.all[1].value``). Every user may read segments and their members; supervisors and
admins create, change and delete them.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, StringConstraints, WithJsonSchema
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from crm_core.models import Customer, Segment
from crm_core.services import segments as svc
from hub.api import bp
from hub.api.common import not_null
from hub.api.customers import customer_out
from hub.api.schemas import CustomerOut, CustomerPage, Limit, Out, PageQuery, Strict
from hub.api.spec import operation
from hub.auth import current
from hub.db import db

TAGS = ["segments"]
SegmentName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Description = Annotated[str, StringConstraints(max_length=500)]
_CONDITION: dict[str, Any] = {
    "type": "object",
    "properties": {
        "field": {
            "anyOf": [
                {"enum": [*svc.COLUMN_FIELDS, "tag", "has_phone", "has_email"]},
                {"type": "string", "pattern": r"^custom\.[a-z][a-z0-9_]{0,59}$"},
            ]
        },
        "op": {"enum": list(svc.OPS)},
        "value": {},
    },
    "required": ["field"],
    "additionalProperties": False,
}
_GROUP = {"type": "array", "items": _CONDITION, "maxItems": 10}
# The document's shape, two levels deep (the service accepts up to eight and checks types,
# custom field keys and values; a bad node answers 422 naming its path).
_FILTER_SCHEMA: dict[str, Any] = {
    "description": "A condition, or conditions combined with all / any / not.",
    "anyOf": [
        _CONDITION,
        {
            "type": "object",
            "properties": {"all": _GROUP},
            "required": ["all"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {"any": _GROUP},
            "required": ["any"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {"not": _CONDITION},
            "required": ["not"],
            "additionalProperties": False,
        },
    ],
}
Filter = Annotated[dict[str, Any], WithJsonSchema(_FILTER_SCHEMA)]


class SegmentIn(Strict):
    name: SegmentName
    description: Description | None = None
    filter: Filter


class SegmentUpdate(Strict):
    """Send only what changes."""

    name: SegmentName = not_null()
    description: Description | None = None
    filter: Filter = not_null()


class SegmentOut(Out):
    id: int
    name: str
    description: str | None
    filter: dict[str, Any]
    owner_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime


class SegmentPage(BaseModel):
    items: list[SegmentOut]
    limit: int
    offset: int
    has_more: bool


class PreviewIn(Strict):
    filter: Filter
    limit: Limit = 20


class PreviewOut(BaseModel):
    count: int
    items: list[CustomerOut]
    has_more: bool


def _members(flt: dict[str, Any], limit: int, offset: int) -> tuple[list[Customer], bool]:
    stmt = (
        svc.segment_stmt(db.session, flt)
        .options(
            selectinload(Customer.contact_points),
            selectinload(Customer.tags),
            selectinload(Customer.custom_values),
        )
        .order_by(Customer.search_name, Customer.id)
        .limit(limit + 1)
        .offset(offset)
    )
    rows = list(db.session.scalars(stmt))
    return rows[:limit], len(rows) > limit


@operation(
    bp,
    "/segments",
    "GET",
    summary="List segments",
    tags=TAGS,
    query=PageQuery,
    response=SegmentPage,
)
def list_segments(query: PageQuery) -> SegmentPage:
    rows = list(
        db.session.scalars(
            select(Segment)
            .order_by(Segment.name, Segment.id)
            .limit(query.limit + 1)
            .offset(query.offset)
        )
    )
    return SegmentPage(
        items=[SegmentOut.model_validate(s) for s in rows[: query.limit]],
        limit=query.limit,
        offset=query.offset,
        has_more=len(rows) > query.limit,
    )


@operation(
    bp,
    "/segments",
    "POST",
    summary="Save a segment",
    tags=TAGS,
    body=SegmentIn,
    response=SegmentOut,
    status=201,
    roles=("supervisor",),
    errors=(409,),
)
def create_segment(body: SegmentIn) -> SegmentOut:
    user = current()
    segment = svc.do_save_segment(
        db.session,
        name=body.name,
        flt=body.filter,
        description=body.description,
        owner_id=user.id,
        user_id=user.id,
    )
    return SegmentOut.model_validate(segment)


@operation(
    bp,
    "/segments/<int:segment_id>",
    "GET",
    summary="Read a segment",
    tags=TAGS,
    response=SegmentOut,
)
def get_segment(segment_id: int) -> SegmentOut:
    return SegmentOut.model_validate(svc.get_segment(db.session, segment_id))


@operation(
    bp,
    "/segments/<int:segment_id>",
    "PATCH",
    summary="Change a segment",
    tags=TAGS,
    body=SegmentUpdate,
    response=SegmentOut,
    roles=("supervisor",),
    errors=(409,),
)
def update_segment(segment_id: int, body: SegmentUpdate) -> SegmentOut:
    session = db.session
    segment = svc.get_segment(session, segment_id)
    sent = body.model_fields_set
    svc.do_save_segment(
        session,
        segment=segment,
        name=body.name if "name" in sent else segment.name,
        flt=body.filter if "filter" in sent else segment.filter,
        description=body.description if "description" in sent else segment.description,
        user_id=current().id,
    )
    return SegmentOut.model_validate(segment)


@operation(
    bp,
    "/segments/<int:segment_id>",
    "DELETE",
    summary="Delete a segment",
    tags=TAGS,
    status=204,
    roles=("supervisor",),
)
def delete_segment(segment_id: int) -> None:
    session = db.session
    svc.do_delete_segment(session, svc.get_segment(session, segment_id), user_id=current().id)


@operation(
    bp,
    "/segments/<int:segment_id>/customers",
    "GET",
    summary="The customers a segment matches now",
    tags=TAGS,
    query=PageQuery,
    response=CustomerPage,
)
def segment_customers(segment_id: int, query: PageQuery) -> CustomerPage:
    """Evaluated at request time, ordered by name; merged-away cards never match."""
    segment = svc.get_segment(db.session, segment_id)
    rows, more = _members(segment.filter, query.limit, query.offset)
    return CustomerPage(
        items=[customer_out(c) for c in rows], limit=query.limit, offset=query.offset, has_more=more
    )


@operation(
    bp,
    "/segments/preview",
    "POST",
    summary="Try a filter without saving it",
    tags=TAGS,
    body=PreviewIn,
    response=PreviewOut,
)
def preview_segment(body: PreviewIn) -> PreviewOut:
    """How many customers the filter matches now, and the first ``limit`` of them."""
    count_stmt = select(func.count()).select_from(
        svc.segment_stmt(db.session, body.filter).subquery()
    )
    count = db.session.scalar(count_stmt) or 0
    rows, more = _members(body.filter, body.limit, 0)
    return PreviewOut(count=count, items=[customer_out(c) for c in rows], has_more=more)
