"""Tickets: creation, the status state machine, assignment, notes, and who may see them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.orm import Session

from crm_core.db import utcnow
from crm_core.errors import N_, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from crm_core.events import DomainEvent, publish_on_commit
from crm_core.models import Customer, Interaction, Team, Ticket, User, team_members
from crm_core.models.tickets import TICKET_PRIORITIES, TICKET_STATUSES, TICKET_TYPES
from crm_core.services import audit

# The one table of allowed ticket status changes.
TICKET_TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"open", "pending", "solved", "closed"}),
    "open": frozenset({"pending", "solved", "closed"}),
    "pending": frozenset({"open", "solved", "closed"}),
    "solved": frozenset({"open", "closed"}),
    "closed": frozenset({"open"}),
}

TICKET_NUMBER_PREFIX = "SB-"


def check_transition(current: str, target: str) -> None:
    if target not in TICKET_STATUSES:
        raise ValidationFailed(
            N_("status must be one of %(statuses)s"),
            field="status",
            statuses=", ".join(TICKET_STATUSES),
        )
    if target != current and target not in TICKET_TRANSITIONS[current]:
        raise InvalidTransition(
            N_("a %(current)s ticket cannot become %(target)s"),
            current=current,
            target=target,
            field="status",
            detail={"from": current, "to": target, "allowed": sorted(TICKET_TRANSITIONS[current])},
        )


def visible_tickets_clause(user: User) -> ColumnElement[bool]:
    """Record rule: agents see their own tickets and their teams'; supervisors see all."""
    if user.is_supervisor:
        return true()
    if not user.active:
        return false()
    my_teams = select(team_members.c.team_id).where(team_members.c.user_id == user.id)
    return or_(Ticket.assignee_id == user.id, Ticket.team_id.in_(my_teams))


def visible_interactions_clause(user: User) -> ColumnElement[bool]:
    """Record rule on interactions: an agent sees those outside any ticket, those they
    handled, and those on tickets they may see; supervisors see all."""
    if user.is_supervisor:
        return true()
    visible_tickets = select(Ticket.id).where(visible_tickets_clause(user))
    return or_(
        Interaction.ticket_id.is_(None),
        Interaction.agent_id == user.id,
        Interaction.ticket_id.in_(visible_tickets),
    )


def get_visible_ticket(session: Session, user: User, ticket_id: int) -> Ticket:
    ticket = session.scalar(
        select(Ticket).where(Ticket.id == ticket_id, visible_tickets_clause(user))
    )
    if ticket is None:
        # Not 403: whether another team's ticket exists is itself not for this user to know.
        raise NotFound(N_("ticket %(id)s not found"), id=ticket_id)
    return ticket


def _check_choice(field: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValidationFailed(
            N_("%(name)s must be one of %(allowed)s"),
            field=field,
            name=field,
            allowed=", ".join(allowed),
        )


def _check_references(session: Session, changes: dict[str, Any]) -> None:
    """Refuse ids of customers, teams and users that do not exist (422 naming the field)."""
    customer_id = changes.get("customer_id")
    if customer_id is not None:
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise ValidationFailed(
                N_("customer %(id)s does not exist"), field="customer_id", id=customer_id
            )
        if customer.merged_into_id is not None:
            raise ValidationFailed(
                N_("customer %(id)s was merged into customer %(into)s"),
                field="customer_id",
                id=customer_id,
                into=customer.merged_into_id,
            )
    team_id = changes.get("team_id")
    if team_id is not None and session.get(Team, team_id) is None:
        raise ValidationFailed(N_("team %(ids)s does not exist"), field="team_id", ids=team_id)
    assignee_id = changes.get("assignee_id")
    if assignee_id is not None and session.get(User, assignee_id) is None:
        raise ValidationFailed(
            N_("user %(id)s does not exist"), field="assignee_id", id=assignee_id
        )
    due_at = changes.get("due_at")
    if due_at is not None and getattr(due_at, "tzinfo", None) is None:
        raise ValidationFailed(N_("due_at needs a time zone"), field="due_at")


def do_create_ticket(
    session: Session,
    *,
    subject: str,
    customer_id: int | None = None,
    priority: str = "normal",
    ticket_type: str = "question",
    team_id: int | None = None,
    assignee_id: int | None = None,
    queue_id: int | None = None,
    user_id: int | None = None,
) -> Ticket:
    subject = subject.strip()
    if not subject:
        raise ValidationFailed(N_("subject is required"), field="subject")
    _check_choice("priority", priority, TICKET_PRIORITIES)
    _check_choice("ticket_type", ticket_type, TICKET_TYPES)
    _check_references(
        session, {"customer_id": customer_id, "team_id": team_id, "assignee_id": assignee_id}
    )
    ticket = Ticket(
        subject=subject[:998],
        customer_id=customer_id,
        priority=priority,
        ticket_type=ticket_type,
        team_id=team_id,
        assignee_id=assignee_id,
        queue_id=queue_id,
        status="new",
    )
    session.add(ticket)
    session.flush()
    ticket.number = f"{TICKET_NUMBER_PREFIX}{ticket.id:06d}"
    audit.record(
        session,
        user_id=user_id,
        action="ticket.created",
        entity_type="ticket",
        entity_id=ticket.id,
        after={"number": ticket.number, "subject": ticket.subject, "customer_id": customer_id},
    )
    publish_on_commit(session, DomainEvent("ticket.created", {"ticket_id": ticket.id}))
    return ticket


def do_update_ticket(
    session: Session, ticket: Ticket, changes: dict[str, Any], *, user_id: int | None = None
) -> Ticket:
    """Change status (through the transition table), priority, type, team, assignee, due date."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    _check_references(session, changes)
    for key, value in changes.items():
        if key == "status":
            check_transition(ticket.status, value)
            now = utcnow()
            if value == "solved":
                ticket.solved_at = now
            if value == "closed":
                ticket.closed_at = now
            if value == "open":
                ticket.solved_at = ticket.closed_at = None
        elif key == "priority":
            _check_choice("priority", value, TICKET_PRIORITIES)
        elif key == "ticket_type":
            _check_choice("ticket_type", value, TICKET_TYPES)
        elif key == "subject":
            if not isinstance(value, str) or not value.strip():
                raise ValidationFailed(N_("subject is required"), field="subject")
            if len(value) > 998:
                raise ValidationFailed(N_("subject is at most 998 characters"), field="subject")
        elif key not in ("assignee_id", "team_id", "due_at", "customer_id", "queue_id"):
            raise ValidationFailed(N_("unknown field '%(key)s'"), field=key, key=key)
        old = getattr(ticket, key)
        if old != value:
            before[key], after[key] = old, value
            setattr(ticket, key, value)
    if after:
        session.flush()
        audit.record(
            session,
            user_id=user_id,
            action="ticket.updated",
            entity_type="ticket",
            entity_id=ticket.id,
            before=before,
            after=after,
        )
        publish_on_commit(
            session,
            DomainEvent("ticket.updated", {"ticket_id": ticket.id, "changed": sorted(after)}),
        )
    return ticket


def do_add_note(
    session: Session,
    *,
    body: str,
    author: User,
    ticket: Ticket | None = None,
    customer_id: int | None = None,
    parent: Interaction | None = None,
) -> Interaction:
    """A note is an internal interaction, so it appears in the customer's one history."""
    body = body.strip()
    if not body:
        raise ValidationFailed(N_("a note needs some text"), field="body")
    if len(body) > 100_000:
        raise ValidationFailed(N_("a note is at most 100,000 characters"), field="body")
    if ticket is not None:
        customer_id = customer_id or ticket.customer_id
    if parent is not None:
        customer_id = customer_id or parent.customer_id
    if customer_id is None and ticket is None:
        raise ValidationFailed(
            N_("a note belongs to a customer, a ticket or an interaction"), field="customer_id"
        )
    note = Interaction(
        channel="note",
        direction="internal",
        status="closed",
        customer_id=customer_id,
        ticket_id=ticket.id if ticket is not None else None,
        parent_id=parent.id if parent is not None else None,
        agent_id=author.id,
        body_text=body,
        summary=body[:200],
    )
    session.add(note)
    session.flush()
    audit.record(
        session,
        user_id=author.id,
        action="note.added",
        entity_type="interaction",
        entity_id=note.id,
        after={"ticket_id": note.ticket_id, "customer_id": customer_id},
    )
    publish_on_commit(
        session,
        DomainEvent(
            "interaction.created",
            {"interaction_id": note.id, "channel": "note", "customer_id": customer_id},
        ),
    )
    return note


def ensure_can_write(user: User, ticket: Ticket) -> None:
    if user.is_supervisor or ticket.assignee_id == user.id:
        return
    if ticket.team_id is not None and any(t.id == ticket.team_id for t in user.teams):
        return
    raise PermissionDenied(N_("you may not change this ticket"))


def get_ticket(session: Session, ticket_id: int) -> Ticket:
    t = session.get(Ticket, ticket_id)
    if t is None:
        raise NotFound(N_("ticket %(id)s not found"), id=ticket_id)
    return t
