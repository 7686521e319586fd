"""Answering a ticket: the console's reply composer hands its text to the e-mail port."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.db import utcnow
from crm_core.errors import N_, ValidationFailed
from crm_core.models import ContactPoint, Interaction, Ticket, User
from crm_core.services import audit
from crm_core.services.emails import normalize_email
from crm_core.services.tickets import ensure_can_write
from hub.ports import OutboundEmail, email_sender

REPLY_MAX = 100_000


def reply_recipient(session: Session, ticket: Ticket) -> str | None:
    """Who a reply goes to: the last inbound e-mail's sender, else the customer's address."""
    last_in = session.scalar(
        select(Interaction)
        .where(
            Interaction.ticket_id == ticket.id,
            Interaction.channel == "email",
            Interaction.direction == "inbound",
        )
        .order_by(Interaction.created_at.desc(), Interaction.id.desc())
        .limit(1)
    )
    if last_in is not None and normalize_email(last_in.from_address):
        return normalize_email(last_in.from_address)
    if ticket.customer_id is None:
        return None
    return session.scalar(
        select(ContactPoint.value)
        .where(ContactPoint.customer_id == ticket.customer_id, ContactPoint.kind == "email")
        .order_by(ContactPoint.is_primary.desc(), ContactPoint.id)
        .limit(1)
    )


def reply_subject(ticket: Ticket) -> str:
    subject = ticket.subject
    if not subject.lower().startswith("re:"):
        subject = f"Re: {subject}"
    if ticket.number and f"[{ticket.number}]" not in subject:
        subject = f"{subject} [{ticket.number}]"
    return subject


def do_send_reply(
    session: Session, ticket: Ticket, *, author: User, body: str, to: str | None = None
) -> Interaction:
    """Reply to ``ticket`` by e-mail through the send-e-mail port; returns the recorded
    outbound interaction. Raises ValidationFailed without a body or a recipient, and
    PermissionDenied when ``author`` may not write to the ticket."""
    ensure_can_write(author, ticket)
    text = body.strip()
    if not text:
        raise ValidationFailed(N_("a reply needs some text"), field="body")
    if len(text) > REPLY_MAX:
        raise ValidationFailed(N_("a reply is at most 100,000 characters"), field="body")
    recipient = normalize_email(to) if to else reply_recipient(session, ticket)
    if recipient is None:
        raise ValidationFailed(
            N_("no e-mail address to reply to: add one to the customer"), field="to"
        )
    last_in = session.scalar(
        select(Interaction.id)
        .where(Interaction.ticket_id == ticket.id, Interaction.direction == "inbound")
        .order_by(Interaction.created_at.desc(), Interaction.id.desc())
        .limit(1)
    )
    interaction = email_sender().send_email(
        session,
        OutboundEmail(
            to=recipient,
            subject=reply_subject(ticket),
            body_text=text,
            author_id=author.id,
            customer_id=ticket.customer_id,
            ticket_id=ticket.id,
            in_reply_to_id=last_in,
        ),
    )
    if ticket.first_responded_at is None:
        ticket.first_responded_at = utcnow()
    audit.record(
        session,
        user_id=author.id,
        action="ticket.replied",
        entity_type="ticket",
        entity_id=ticket.id,
        after={"interaction_id": interaction.id, "to": recipient},
    )
    return interaction
