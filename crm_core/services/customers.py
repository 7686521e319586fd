"""Actions on customers: create, update, contact points, tags, relations, merge.

Every action validates, writes, audits and publishes its event on commit; none commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_core.errors import N_, Conflict, NotFound, ValidationFailed
from crm_core.events import DomainEvent, publish_on_commit
from crm_core.models import (
    Attachment,
    ContactPoint,
    Customer,
    CustomerRelation,
    CustomFieldValue,
    Interaction,
    RelationType,
    Tag,
    Ticket,
)
from crm_core.models.customers import CONTACT_KINDS, CUSTOMER_KINDS
from crm_core.services import audit
from crm_core.services.custom_fields import custom_field_dict, set_custom_fields
from crm_core.services.emails import normalize_email
from crm_core.services.phones import normalize_phone

CARD_FIELDS = (
    "kind",
    "first_name",
    "last_name",
    "organisation_name",
    "customer_class",
    "vip",
    "no_calls",
    "no_mail",
    "birthday",
    "language",
    "timezone",
    "city",
    "country",
    "notes",
)


def get_customer(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(N_("customer %(id)s not found"), id=customer_id)
    return customer


def snapshot(customer: Customer) -> dict[str, Any]:
    """The card's values, for audit before/after."""
    data = {f: getattr(customer, f) for f in CARD_FIELDS}
    data["contact_points"] = [f"{c.kind}:{c.value}" for c in customer.contact_points]
    data["tags"] = [t.name for t in customer.tags]
    data["custom_fields"] = custom_field_dict(customer)
    return data


def normalize_contact(kind: str, raw: str, region: str | None) -> str:
    """The stored form of a contact point; raises ValidationFailed naming the field."""
    if kind not in CONTACT_KINDS:
        raise ValidationFailed(
            N_("contact kind must be one of %(kinds)s"),
            field="kind",
            kinds=", ".join(CONTACT_KINDS),
        )
    if kind == "email":
        value = normalize_email(raw)
        if value is None:
            raise ValidationFailed(
                N_("'%(value)s' is not an e-mail address"), field="value", value=raw
            )
        return value
    value = normalize_phone(raw, region)
    if value is None:
        raise ValidationFailed(
            N_(
                "'%(value)s' is not a phone number (give it with a country code, or set the region)"
            ),
            field="value",
            value=raw,
        )
    return value


def _tags(session: Session, names: Iterable[str]) -> list[Tag]:
    wanted = []
    for n in names:
        name = n.strip()
        if not name or len(name) > 80:
            raise ValidationFailed(N_("tags are 1 to 80 characters"), field="tags")
        if name not in wanted:
            wanted.append(name)
    found = {t.name: t for t in session.scalars(select(Tag).where(Tag.name.in_(wanted)))}
    result = []
    for name in wanted:
        tag = found.get(name)
        if tag is None:
            tag = Tag(name=name)
            session.add(tag)
        result.append(tag)
    return result


def _apply_fields(customer: Customer, fields: dict[str, Any]) -> None:
    for key, value in fields.items():
        if key not in CARD_FIELDS:
            raise ValidationFailed(N_("unknown field '%(key)s'"), field=key, key=key)
        setattr(customer, key, value)
    if customer.kind not in CUSTOMER_KINDS:
        raise ValidationFailed(N_("kind must be person or organisation"), field="kind")
    if customer.kind == "organisation" and not (customer.organisation_name or "").strip():
        raise ValidationFailed(N_("an organisation needs a name"), field="organisation_name")
    if customer.kind == "person" and not (
        (customer.first_name or "").strip() or (customer.last_name or "").strip()
    ):
        raise ValidationFailed(N_("a person needs a first or last name"), field="last_name")
    customer.set_names()


def _email_taken(session: Session, value: str, except_customer: int | None) -> bool:
    stmt = select(ContactPoint.id).where(ContactPoint.kind == "email", ContactPoint.value == value)
    if except_customer is not None:
        stmt = stmt.where(ContactPoint.customer_id != except_customer)
    return session.scalar(stmt) is not None


def add_contact_point(
    session: Session,
    customer: Customer,
    kind: str,
    raw: str,
    *,
    label: str | None = None,
    is_primary: bool = False,
    region: str | None = None,
    user_id: int | None = None,
) -> ContactPoint:
    value = normalize_contact(kind, raw, region)
    for existing in customer.contact_points:
        if existing.kind == kind and existing.value == value:
            return existing
    if kind == "email" and _email_taken(session, value, customer.id):
        raise Conflict(N_("%(value)s belongs to another customer"), field="value", value=value)
    point = ContactPoint(kind=kind, value=value, raw=raw, label=label, is_primary=is_primary)
    customer.contact_points.append(point)
    if customer.id is not None:
        audit.record(
            session,
            user_id=user_id,
            action="customer.contact_added",
            entity_type="customer",
            entity_id=customer.id,
            after={"kind": kind, "value": value},
        )
    return point


def remove_contact_point(
    session: Session, customer: Customer, point_id: int, *, user_id: int | None = None
) -> None:
    for point in customer.contact_points:
        if point.id == point_id:
            customer.contact_points.remove(point)
            audit.record(
                session,
                user_id=user_id,
                action="customer.contact_removed",
                entity_type="customer",
                entity_id=customer.id,
                before={"kind": point.kind, "value": point.value},
            )
            return
    raise NotFound(
        N_("contact point %(id)s not found on customer %(customer)s"),
        id=point_id,
        customer=customer.id,
    )


def do_create_customer(
    session: Session,
    *,
    fields: dict[str, Any],
    contact_points: Iterable[dict[str, Any]] = (),
    tags: Iterable[str] = (),
    custom_fields: dict[str, Any] | None = None,
    region: str | None = None,
    user_id: int | None = None,
) -> Customer:
    """Create a customer card with its contact points, tags and custom fields."""
    customer = Customer(
        kind=fields.get("kind") or "person", vip=False, no_calls=False, no_mail=False
    )
    _apply_fields(customer, fields)
    session.add(customer)
    for cp in contact_points:
        add_contact_point(
            session,
            customer,
            cp.get("kind", ""),
            cp.get("value", ""),
            label=cp.get("label"),
            is_primary=bool(cp.get("is_primary", False)),
            region=region,
        )
    customer.tags = _tags(session, tags)
    if custom_fields:
        set_custom_fields(session, customer, custom_fields)
    _flush_unique(session)
    audit.record(
        session,
        user_id=user_id,
        action="customer.created",
        entity_type="customer",
        entity_id=customer.id,
        after=snapshot(customer),
    )
    publish_on_commit(session, DomainEvent("customer.created", {"customer_id": customer.id}))
    return customer


def do_update_customer(
    session: Session,
    customer: Customer,
    *,
    fields: dict[str, Any] | None = None,
    tags: Iterable[str] | None = None,
    custom_fields: dict[str, Any] | None = None,
    user_id: int | None = None,
) -> Customer:
    before = snapshot(customer)
    if fields:
        _apply_fields(customer, fields)
    if tags is not None:
        customer.tags = _tags(session, tags)
    if custom_fields:
        set_custom_fields(session, customer, custom_fields)
    _flush_unique(session)
    after = snapshot(customer)
    old, new = audit.changed(before, after)
    if new:
        audit.record(
            session,
            user_id=user_id,
            action="customer.updated",
            entity_type="customer",
            entity_id=customer.id,
            before=old,
            after=new,
        )
        publish_on_commit(session, DomainEvent("customer.updated", {"customer_id": customer.id}))
    return customer


def _flush_unique(session: Session) -> None:
    """Flush inside a savepoint so a unique clash becomes a 409, not a broken session."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(
            N_("that would duplicate an existing record"), detail=str(exc.orig)
        ) from None


def relation_type(session: Session, key: str) -> RelationType:
    rt = session.scalar(select(RelationType).where(RelationType.key == key))
    if rt is None:
        keys = ", ".join(session.scalars(select(RelationType.key).order_by(RelationType.key)))
        raise ValidationFailed(
            N_("unknown relation '%(key)s'; known: %(known)s"),
            field="relation",
            key=key,
            known=keys,
        )
    return rt


def do_add_relation(
    session: Session,
    from_customer: Customer,
    relation_key: str,
    to_customer: Customer,
    *,
    note: str | None = None,
    user_id: int | None = None,
) -> CustomerRelation:
    if from_customer.id == to_customer.id:
        raise ValidationFailed(N_("a customer cannot be related to itself"), field="to_customer_id")
    rt = relation_type(session, relation_key)
    existing = session.scalar(
        select(CustomerRelation).where(
            CustomerRelation.from_customer_id == from_customer.id,
            CustomerRelation.to_customer_id == to_customer.id,
            CustomerRelation.relation_type_id == rt.id,
        )
    )
    if existing is not None:
        return existing
    rel = CustomerRelation(
        from_customer_id=from_customer.id,
        to_customer_id=to_customer.id,
        relation_type=rt,
        note=note,
    )
    session.add(rel)
    session.flush()
    audit.record(
        session,
        user_id=user_id,
        action="customer.relation_added",
        entity_type="customer",
        entity_id=from_customer.id,
        after={"relation": rt.key, "to_customer_id": to_customer.id},
    )
    return rel


def relations_of(session: Session, customer_id: int) -> list[dict[str, Any]]:
    """Both directions, each read from ``customer_id``'s side ("works for" / "employs")."""
    rels = session.scalars(
        select(CustomerRelation).where(
            or_(
                CustomerRelation.from_customer_id == customer_id,
                CustomerRelation.to_customer_id == customer_id,
            )
        )
    )
    out = []
    for rel in rels:
        outgoing = rel.from_customer_id == customer_id
        other = rel.to_customer if outgoing else rel.from_customer
        out.append(
            {
                "id": rel.id,
                "relation": rel.relation_type.key,
                "label": rel.relation_type.label if outgoing else rel.relation_type.inverse_label,
                "direction": "outgoing" if outgoing else "incoming",
                "customer_id": other.id,
                "customer_name": other.display_name,
                "note": rel.note,
            }
        )
    return out


def do_merge_customers(
    session: Session, survivor: Customer, merged: Customer, *, user_id: int | None = None
) -> Customer:
    """Fold ``merged`` into ``survivor``: history, tickets, contact points, relations, tags.

    The merged card stays as a tombstone (``merged_into_id``) so old links still resolve.
    Values the survivor lacks are taken from the merged card.
    """
    if survivor.id == merged.id:
        raise ValidationFailed(N_("cannot merge a customer into itself"), field="merged_id")
    if merged.merged_into_id is not None or survivor.merged_into_id is not None:
        raise Conflict(N_("one of these customers was merged already"))
    before = {"survivor": snapshot(survivor), "merged": snapshot(merged)}
    sid, mid = survivor.id, merged.id
    session.execute(
        update(Interaction).where(Interaction.customer_id == mid).values(customer_id=sid)
    )
    session.execute(update(Ticket).where(Ticket.customer_id == mid).values(customer_id=sid))
    session.execute(update(Attachment).where(Attachment.customer_id == mid).values(customer_id=sid))
    have = {(c.kind, c.value) for c in survivor.contact_points}
    for point in list(merged.contact_points):
        merged.contact_points.remove(point)
        if (point.kind, point.value) not in have:
            # E-mail addresses are unique: free the old row before adding the survivor's.
            session.flush()
            survivor.contact_points.append(
                ContactPoint(kind=point.kind, value=point.value, raw=point.raw, label=point.label)
            )
            have.add((point.kind, point.value))
    for tag in merged.tags:
        if tag not in survivor.tags:
            survivor.tags.append(tag)
    merged.tags = []
    survivor_fields = {v.field_id for v in survivor.custom_values}
    for value in list(merged.custom_values):
        if value.field_id not in survivor_fields:
            merged.custom_values.remove(value)
            session.flush()
            survivor.custom_values.append(
                CustomFieldValue(
                    field_id=value.field_id,
                    value_text=value.value_text,
                    value_number=value.value_number,
                    value_date=value.value_date,
                    value_bool=value.value_bool,
                )
            )
    for f in CARD_FIELDS:
        if getattr(survivor, f) in (None, "") and getattr(merged, f) not in (None, ""):
            setattr(survivor, f, getattr(merged, f))
    survivor.vip = survivor.vip or merged.vip
    survivor.no_calls = survivor.no_calls or merged.no_calls
    survivor.no_mail = survivor.no_mail or merged.no_mail
    _move_relations(session, mid, sid)
    merged.merged_into_id = sid
    survivor.updated_at = dt.datetime.now(dt.UTC)
    session.flush()
    audit.record(
        session,
        user_id=user_id,
        action="customer.merged",
        entity_type="customer",
        entity_id=sid,
        before=before,
        after={"survivor": snapshot(survivor), "merged_id": mid},
    )
    publish_on_commit(
        session, DomainEvent("customer.merged", {"customer_id": sid, "merged_id": mid})
    )
    return survivor


def _move_relations(session: Session, mid: int, sid: int) -> None:
    rels = list(
        session.scalars(
            select(CustomerRelation).where(
                or_(
                    CustomerRelation.from_customer_id == mid,
                    CustomerRelation.to_customer_id == mid,
                )
            )
        )
    )
    seen = {
        (r.from_customer_id, r.relation_type_id, r.to_customer_id)
        for r in session.scalars(
            select(CustomerRelation).where(
                or_(
                    CustomerRelation.from_customer_id == sid,
                    CustomerRelation.to_customer_id == sid,
                )
            )
        )
    }
    for rel in rels:
        src = sid if rel.from_customer_id == mid else rel.from_customer_id
        dst = sid if rel.to_customer_id == mid else rel.to_customer_id
        key = (src, rel.relation_type_id, dst)
        if src == dst or key in seen:
            session.execute(delete(CustomerRelation).where(CustomerRelation.id == rel.id))
            continue
        rel.from_customer_id, rel.to_customer_id = src, dst
        seen.add(key)
