"""The search box: customers by name, number in any format, e-mail, ticket number, custom field."""

from __future__ import annotations

import re

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from crm_core.models import ContactPoint, Customer, CustomFieldValue, Ticket
from crm_core.services.emails import normalize_email
from crm_core.services.phones import normalize_phone

_TICKET = re.compile(r"^#?\s*([A-Za-z]*-?\d+)$")


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_customers_stmt(query: str, region: str | None = None) -> Select[Customer]:
    """A SELECT of live customers matching ``query`` (the caller orders and pages it)."""
    q = query.strip()
    conds = []
    if q:
        folded = q.casefold()
        conds.append(Customer.search_name.like(_like(folded), escape="\\"))
        phone = normalize_phone(q, region)
        if phone is not None:
            conds.append(
                Customer.id.in_(
                    select(ContactPoint.customer_id).where(
                        ContactPoint.kind.in_(("phone", "fax")), ContactPoint.value == phone
                    )
                )
            )
        email = normalize_email(q) if "@" in q else None
        if email is not None:
            conds.append(
                Customer.id.in_(
                    select(ContactPoint.customer_id).where(
                        ContactPoint.kind == "email", ContactPoint.value == email
                    )
                )
            )
        elif "@" in q:
            conds.append(
                Customer.id.in_(
                    select(ContactPoint.customer_id).where(
                        ContactPoint.kind == "email",
                        ContactPoint.value.like(_like(folded), escape="\\"),
                    )
                )
            )
        m = _TICKET.match(q)
        if m:
            conds.append(
                Customer.id.in_(
                    select(Ticket.customer_id).where(Ticket.number == m.group(1).upper())
                )
            )
        conds.append(
            Customer.id.in_(
                select(CustomFieldValue.customer_id).where(
                    CustomFieldValue.value_text.like(_like(q), escape="\\")
                )
            )
        )
    stmt = select(Customer).where(Customer.merged_into_id.is_(None))
    if conds:
        stmt = stmt.where(or_(*conds))
    return stmt


def search_customers(
    session: Session, query: str, *, region: str | None = None, limit: int = 20, offset: int = 0
) -> list[Customer]:
    stmt = (
        search_customers_stmt(query, region)
        .order_by(Customer.search_name, Customer.id)
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(stmt))
