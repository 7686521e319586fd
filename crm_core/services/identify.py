"""Who is this? Identify a customer from a caller ID or an e-mail address."""

from __future__ import annotations

import functools

from sqlalchemy import Select, bindparam, literal_column, select
from sqlalchemy.orm import Session

from crm_core.models import ContactPoint, Customer
from crm_core.services.emails import normalize_email
from crm_core.services.phones import normalize_phone


def match_phone(session: Session, raw: str | None, region: str | None = None) -> list[Customer]:
    """Every live customer with ``raw`` among their phone or fax numbers, best first.

    Best first means most recently updated: the card an agent last touched wins a tie
    (a household line, a person's direct line shared with their company).
    """
    e164 = normalize_phone(raw, region)
    if e164 is None:
        return []
    stmt = (
        select(Customer)
        .join(ContactPoint, ContactPoint.customer_id == Customer.id)
        .where(
            ContactPoint.kind.in_(("phone", "fax")),
            ContactPoint.value == e164,
            Customer.merged_into_id.is_(None),
        )
        .order_by(Customer.updated_at.desc(), Customer.id.desc())
        .distinct()
    )
    return list(session.scalars(stmt))


def identify_by_phone(
    session: Session, raw: str | None, region: str | None = None
) -> Customer | None:
    """The customer behind a caller ID, or None.

    Never matches withheld caller IDs (``Anonymous``, ``+266696687``…) or input that is not
    a possible phone number, and never raises for bad input.
    """
    e164 = normalize_phone(raw, region)
    if e164 is None:
        return None
    return session.scalars(_identify_by_phone_stmt(), {"e164": e164}).first()


@functools.cache
def _identify_by_phone_stmt() -> Select[Customer]:
    # Built once: every caller ID runs this, and building a select() and its cache key on
    # each call cost more CPU than the indexed lookup itself (see bench/lookup.py). The two
    # kinds are inlined as literals, which saves expanding an IN parameter on every call.
    return (
        select(Customer)
        .join(ContactPoint, ContactPoint.customer_id == Customer.id)
        .where(
            ContactPoint.kind.in_((literal_column("'phone'"), literal_column("'fax'"))),
            ContactPoint.value == bindparam("e164"),
            Customer.merged_into_id.is_(None),
        )
        .order_by(Customer.updated_at.desc(), Customer.id.desc())
        .limit(1)
    )


def identify_by_email(session: Session, raw: str | None) -> Customer | None:
    """The customer who owns the address in ``raw`` (any case, with or without a name)."""
    addr = normalize_email(raw)
    if addr is None:
        return None
    stmt = (
        select(Customer)
        .join(ContactPoint, ContactPoint.customer_id == Customer.id)
        .where(
            ContactPoint.kind == "email",
            ContactPoint.value == addr,
            Customer.merged_into_id.is_(None),
        )
        .limit(1)
    )
    return session.scalars(stmt).first()
