"""Actions on single interactions an agent works: who the customer is, how it ended."""

from __future__ import annotations

from sqlalchemy.orm import Session

from crm_core.errors import N_, NotFound, ValidationFailed
from crm_core.events import DomainEvent, publish_on_commit
from crm_core.models import Customer, Interaction
from crm_core.services import audit

INTERACTION_UPDATED = "interaction.updated"
DISPOSITION_MAX = 60


def get_interaction(session: Session, interaction_id: int) -> Interaction:
    interaction = session.get(Interaction, interaction_id)
    if interaction is None:
        raise NotFound(N_("interaction %(id)s not found"), id=interaction_id)
    return interaction


def do_link_customer(
    session: Session, interaction: Interaction, customer: Customer, *, user_id: int | None = None
) -> Interaction:
    """Say who an unidentified caller or sender was (the card an agent chose or created).

    A merged card is refused: link the survivor instead.
    """
    if customer.merged_into_id is not None:
        raise ValidationFailed(
            N_("customer %(id)s was merged into customer %(into)s"),
            field="customer_id",
            id=customer.id,
            into=customer.merged_into_id,
        )
    before = interaction.customer_id
    if before == customer.id:
        return interaction
    interaction.customer_id = customer.id
    session.flush()
    audit.record(
        session,
        user_id=user_id,
        action="interaction.customer_linked",
        entity_type="interaction",
        entity_id=interaction.id,
        before={"customer_id": before},
        after={"customer_id": customer.id},
    )
    publish_on_commit(
        session,
        DomainEvent(
            INTERACTION_UPDATED,
            {
                "interaction_id": interaction.id,
                "customer_id": customer.id,
                "changed": ["customer_id"],
            },
        ),
    )
    return interaction


def do_set_disposition(
    session: Session,
    interaction: Interaction,
    disposition: str | None,
    *,
    user_id: int | None = None,
) -> Interaction:
    """Record how the interaction ended ("resolved", "callback"…); None clears it."""
    value = (disposition or "").strip() or None
    if value is not None and len(value) > DISPOSITION_MAX:
        raise ValidationFailed(
            N_("a disposition is at most %(max)s characters"),
            field="disposition",
            max=DISPOSITION_MAX,
        )
    before = interaction.disposition
    if before == value:
        return interaction
    interaction.disposition = value
    session.flush()
    audit.record(
        session,
        user_id=user_id,
        action="interaction.disposition_set",
        entity_type="interaction",
        entity_id=interaction.id,
        before={"disposition": before},
        after={"disposition": value},
    )
    publish_on_commit(
        session,
        DomainEvent(
            INTERACTION_UPDATED,
            {
                "interaction_id": interaction.id,
                "customer_id": interaction.customer_id,
                "changed": ["disposition"],
            },
        ),
    )
    return interaction
