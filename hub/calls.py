"""Click-to-call: an agent calls a customer through the place-call port (``hub.ports``).

The hub checks consent and the number; the voice channel (or the null placer of the
embedded default) records the outbound interaction and dials after the commit.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.errors import N_, Conflict, NotFound, ValidationFailed
from crm_core.models import ContactPoint, Customer, Interaction, User
from crm_core.services import audit
from crm_core.services.identify import match_phone
from crm_core.services.phones import normalize_phone
from hub.ports import OutboundCall, call_placer


def _default_number(session: Session, customer: Customer) -> str | None:
    return session.scalar(
        select(ContactPoint.value)
        .where(ContactPoint.customer_id == customer.id, ContactPoint.kind == "phone")
        .order_by(ContactPoint.is_primary.desc(), ContactPoint.id)
        .limit(1)
    )


def do_click_to_call(
    session: Session,
    agent: User,
    *,
    customer_id: int,
    number: str | None = None,
    ticket_id: int | None = None,
    region: str | None = None,
) -> Interaction:
    """Call ``customer_id`` (at ``number``, or their primary phone) for ``agent``.

    NotFound for an unknown customer; Conflict when the customer (or whoever owns the
    number) asked not to be called; ValidationFailed when there is no callable number.
    """
    customer = session.get(Customer, customer_id)
    if customer is None or customer.merged_into_id is not None:
        raise NotFound(N_("customer %(id)s not found"), id=customer_id)
    if customer.no_calls:
        raise Conflict(
            N_("%(name)s asked not to be called (the 'no calls' consent flag is set on the card)"),
            name=customer.display_name,
            field="customer_id",
        )
    raw = number if number is not None else _default_number(session, customer)
    if raw is None:
        raise ValidationFailed(
            N_("%(display_name)s has no phone number"),
            display_name=customer.display_name,
            field="number",
        )
    e164 = normalize_phone(raw, region)
    if e164 is None:
        raise ValidationFailed(
            N_("'%(raw)s' is not a phone number we can call"), raw=raw, field="number"
        )
    for owner in match_phone(session, e164, region):
        if owner.no_calls:
            raise Conflict(
                N_("%(number)s belongs to %(name)s, who asked not to be called"),
                number=e164,
                name=owner.display_name,
                field="number",
            )
    interaction = call_placer().place_call(
        session,
        OutboundCall(to=e164, agent_id=agent.id, customer_id=customer.id, ticket_id=ticket_id),
    )
    audit.record(
        session,
        user_id=agent.id,
        action="call.placed",
        entity_type="interaction",
        entity_id=interaction.id,
        after={"to": e164, "customer_id": customer.id},
    )
    return interaction
