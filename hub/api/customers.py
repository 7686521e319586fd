"""Customers: CRUD, search, contact points, relations, custom fields, history, merge."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from crm_core.models import Customer, CustomFieldDefinition, Tag
from crm_core.services import customers as svc
from crm_core.services.custom_fields import custom_field_dict, define_field
from crm_core.services.history import customer_history
from crm_core.services.search import search_customers_stmt
from crm_core.services.segments import compile_filter, get_segment
from crm_core.services.tickets import visible_interactions_clause
from hub.api import bp
from hub.api.schemas import (
    ContactPointIn,
    ContactPointOut,
    CustomerCreate,
    CustomerOut,
    CustomerPage,
    CustomerQuery,
    CustomerUpdate,
    CustomFieldIn,
    CustomFieldList,
    CustomFieldOut,
    HistoryPage,
    HistoryQuery,
    InteractionOut,
    MergeIn,
    RelationIn,
    RelationList,
    RelationOut,
)
from hub.api.spec import operation
from hub.auth import current
from hub.db import db
from hub.settings import Settings

TAGS = ["customers"]
CARD_KEYS = set(svc.CARD_FIELDS)


def _settings() -> Settings:
    from flask import current_app

    settings: Settings = current_app.extensions["switchboard.settings"]
    return settings


def customer_out(customer: Customer) -> CustomerOut:
    return CustomerOut.model_validate(
        {
            **{
                k: getattr(customer, k)
                for k in CustomerOut.model_fields
                if hasattr(customer, k) and k not in ("tags", "contact_points", "custom_fields")
            },
            "tags": [t.name for t in customer.tags],
            "contact_points": [ContactPointOut.model_validate(c) for c in customer.contact_points],
            "custom_fields": custom_field_dict(customer),
        }
    )


def _fields(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k in CARD_KEYS}


@operation(
    bp,
    "/customers",
    "GET",
    summary="List or search customers",
    tags=TAGS,
    query=CustomerQuery,
    response=CustomerPage,
)
def list_customers(query: CustomerQuery) -> CustomerPage:
    """Search by name, phone number in any format, e-mail, ticket number or custom field
    text (``q``); filter by segment, kind or tag. Ordered by name."""
    session = db.session
    stmt = search_customers_stmt(query.q or "", _settings().default_region)
    if query.segment_id is not None:
        stmt = stmt.where(compile_filter(session, get_segment(session, query.segment_id).filter))
    if query.kind is not None:
        stmt = stmt.where(Customer.kind == query.kind)
    if query.tag is not None:
        stmt = stmt.where(Customer.tags.any(Tag.name == query.tag))
    stmt = (
        stmt.options(
            selectinload(Customer.contact_points),
            selectinload(Customer.tags),
            selectinload(Customer.custom_values),
        )
        .order_by(Customer.search_name, Customer.id)
        .limit(query.limit + 1)
        .offset(query.offset)
    )
    rows = list(session.scalars(stmt))
    return CustomerPage(
        items=[customer_out(c) for c in rows[: query.limit]],
        limit=query.limit,
        offset=query.offset,
        has_more=len(rows) > query.limit,
    )


@operation(
    bp,
    "/customers",
    "POST",
    summary="Create a customer",
    tags=TAGS,
    body=CustomerCreate,
    response=CustomerOut,
    status=201,
    errors=(409,),
)
def create_customer(body: CustomerCreate) -> CustomerOut:
    data = body.model_dump(exclude_unset=True)
    customer = svc.do_create_customer(
        db.session,
        fields=_fields({**data, "kind": body.kind}),
        contact_points=[cp.model_dump() for cp in body.contact_points],
        tags=body.tags or [],
        custom_fields=body.custom_fields,
        region=_settings().default_region,
        user_id=current().id,
    )
    return customer_out(customer)


@operation(
    bp,
    "/customers/<int:customer_id>",
    "GET",
    summary="Read a customer card",
    tags=TAGS,
    response=CustomerOut,
)
def get_customer(customer_id: int) -> CustomerOut:
    return customer_out(svc.get_customer(db.session, customer_id))


@operation(
    bp,
    "/customers/<int:customer_id>",
    "PATCH",
    summary="Change a customer card",
    tags=TAGS,
    body=CustomerUpdate,
    response=CustomerOut,
    errors=(409,),
)
def update_customer(customer_id: int, body: CustomerUpdate) -> CustomerOut:
    """Send only what changes; ``custom_fields`` values set to null are cleared."""
    customer = svc.get_customer(db.session, customer_id)
    data = body.model_dump(exclude_unset=True)
    fields = _fields(data)
    for flag in ("vip", "no_calls", "no_mail", "kind"):
        if flag in fields and fields[flag] is None:
            fields.pop(flag)
    svc.do_update_customer(
        db.session,
        customer,
        fields=fields,
        tags=data.get("tags"),
        custom_fields=data.get("custom_fields"),
        user_id=current().id,
    )
    return customer_out(customer)


@operation(
    bp,
    "/customers/<int:customer_id>/contact-points",
    "POST",
    summary="Add a phone, e-mail or fax number",
    tags=TAGS,
    body=ContactPointIn,
    response=ContactPointOut,
    status=201,
    errors=(409,),
)
def add_contact_point(customer_id: int, body: ContactPointIn) -> ContactPointOut:
    customer = svc.get_customer(db.session, customer_id)
    point = svc.add_contact_point(
        db.session,
        customer,
        body.kind,
        body.value,
        label=body.label,
        is_primary=body.is_primary,
        region=_settings().default_region,
        user_id=current().id,
    )
    svc._flush_unique(db.session)
    return ContactPointOut.model_validate(point)


@operation(
    bp,
    "/customers/<int:customer_id>/contact-points/<int:point_id>",
    "DELETE",
    summary="Remove a contact point",
    tags=TAGS,
    status=204,
)
def remove_contact_point(customer_id: int, point_id: int) -> None:
    customer = svc.get_customer(db.session, customer_id)
    svc.remove_contact_point(db.session, customer, point_id, user_id=current().id)


@operation(
    bp,
    "/customers/<int:customer_id>/relations",
    "GET",
    summary="Related customers",
    tags=TAGS,
    response=RelationList,
)
def list_relations(customer_id: int) -> RelationList:
    svc.get_customer(db.session, customer_id)
    return RelationList(items=[RelationOut(**r) for r in svc.relations_of(db.session, customer_id)])


@operation(
    bp,
    "/customers/<int:customer_id>/relations",
    "POST",
    summary="Relate two customers",
    tags=TAGS,
    body=RelationIn,
    response=RelationList,
    status=201,
)
def add_relation(customer_id: int, body: RelationIn) -> RelationList:
    """``relation`` is a relation type key, e.g. ``works_for``, ``spouse_of``,
    ``parent_company_of`` (``GET /relation-types`` lists them)."""
    session = db.session
    src = svc.get_customer(session, customer_id)
    dst = svc.get_customer(session, body.to_customer_id)
    svc.do_add_relation(session, src, body.relation, dst, note=body.note, user_id=current().id)
    return RelationList(items=[RelationOut(**r) for r in svc.relations_of(session, customer_id)])


@operation(
    bp,
    "/customers/<int:customer_id>/history",
    "GET",
    summary="The customer's history across every channel",
    tags=TAGS,
    query=HistoryQuery,
    response=HistoryPage,
)
def history(customer_id: int, query: HistoryQuery) -> HistoryPage:
    """Newest first; pass ``next_cursor`` back as ``cursor`` for the next page."""
    svc.get_customer(db.session, customer_id)
    page = customer_history(
        db.session,
        customer_id,
        cursor=query.cursor,
        limit=query.limit,
        channels=list(query.channel) if query.channel else None,
        visible=visible_interactions_clause(current()),
    )
    return HistoryPage(
        items=[InteractionOut.model_validate(i) for i in page.items], next_cursor=page.next_cursor
    )


@operation(
    bp,
    "/customers/<int:customer_id>/merge",
    "POST",
    summary="Merge another customer into this one",
    tags=TAGS,
    body=MergeIn,
    response=CustomerOut,
    roles=("supervisor",),
    errors=(409,),
)
def merge(customer_id: int, body: MergeIn) -> CustomerOut:
    """Every interaction, ticket, contact point, tag and relation of ``merged_id`` moves to
    this customer; the merged card remains as a pointer (``merged_into_id``)."""
    session = db.session
    survivor = svc.get_customer(session, customer_id)
    merged = svc.get_customer(session, body.merged_id)
    svc.do_merge_customers(session, survivor, merged, user_id=current().id)
    return customer_out(survivor)


@operation(
    bp,
    "/custom-fields",
    "GET",
    summary="Custom field definitions",
    tags=["custom fields"],
    response=CustomFieldList,
)
def list_custom_fields() -> CustomFieldList:
    rows = db.session.scalars(
        select(CustomFieldDefinition).order_by(
            CustomFieldDefinition.position, CustomFieldDefinition.id
        )
    )
    return CustomFieldList(items=[CustomFieldOut.model_validate(r) for r in rows])


@operation(
    bp,
    "/custom-fields",
    "POST",
    summary="Define a custom field",
    tags=["custom fields"],
    body=CustomFieldIn,
    response=CustomFieldOut,
    status=201,
    roles=("admin",),
    errors=(409,),
)
def create_custom_field(body: CustomFieldIn) -> CustomFieldOut:
    definition = define_field(db.session, **body.model_dump())
    return CustomFieldOut.model_validate(definition)
