"""Tickets: list with filters, create, read with interactions, change, add notes.

Record rule (``crm_core.services.tickets.visible_tickets_clause``): agents see the tickets
assigned to them and those of their teams; supervisors and admins see all. A ticket an
agent cannot see answers 404, for reads and writes alike, so that its existence does not
leak. An agent may hand a ticket to another team (and so lose sight of it).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from crm_core.errors import N_, NotFound
from crm_core.models import Ticket
from crm_core.services import tickets as svc
from hub.api import bp
from hub.api.common import Moment, SearchText, like_pattern, not_null
from hub.api.schemas import Id, InteractionOut, Out, PageQuery, Strict
from hub.api.spec import operation
from hub.auth import current
from hub.db import db

TAGS = ["tickets"]

Status = Literal["new", "open", "pending", "solved", "closed"]
Priority = Literal["low", "normal", "high", "urgent"]
TicketType = Literal["question", "complaint", "incident", "request"]
Subject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=998)]


class TicketQuery(PageQuery):
    status: list[Status] | None = None
    priority: list[Priority] | None = None
    ticket_type: list[TicketType] | None = None
    assignee_id: Id | None = None
    team_id: Id | None = None
    customer_id: Id | None = None
    q: SearchText | None = Field(None, description="part of the subject, or the ticket number")


class TicketCreate(Strict):
    subject: Subject
    customer_id: Id | None = None
    priority: Priority = "normal"
    ticket_type: TicketType = "question"
    team_id: Id | None = None
    assignee_id: Id | None = None
    due_at: Moment | None = None


class TicketUpdate(Strict):
    """Send only what changes. ``assignee_id``, ``team_id``, ``customer_id`` and ``due_at``
    may be null (unassign, clear); the others may not."""

    subject: Subject = not_null()
    status: Status = not_null()
    priority: Priority = not_null()
    ticket_type: TicketType = not_null()
    assignee_id: Id | None = None
    team_id: Id | None = None
    customer_id: Id | None = None
    due_at: Moment | None = None


class TicketOut(Out):
    id: int
    number: str | None
    subject: str
    status: str
    priority: str
    ticket_type: str
    queue_id: int | None
    team_id: int | None
    assignee_id: int | None
    customer_id: int | None
    due_at: dt.datetime | None
    first_response_due_at: dt.datetime | None
    first_responded_at: dt.datetime | None
    solved_at: dt.datetime | None
    closed_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class TicketDetail(TicketOut):
    allowed_transitions: list[str]
    interactions: list[InteractionOut]


class TicketPage(BaseModel):
    items: list[TicketOut]
    limit: int
    offset: int
    has_more: bool


class NoteIn(Strict):
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100_000)]


def ticket_detail(ticket: Ticket) -> TicketDetail:
    base = TicketOut.model_validate(ticket).model_dump()
    return TicketDetail(
        **base,
        allowed_transitions=sorted(svc.TICKET_TRANSITIONS[ticket.status]),
        interactions=[InteractionOut.model_validate(i) for i in ticket.interactions],
    )


@operation(
    bp, "/tickets", "GET", summary="List tickets", tags=TAGS, query=TicketQuery, response=TicketPage
)
def list_tickets(query: TicketQuery) -> TicketPage:
    """Only the tickets the caller may see (agents: those assigned to them and their
    teams'; supervisors and admins: all); most recently updated first. Several values of
    ``status``, ``priority`` or ``ticket_type`` match any of them (``status=new,open``)."""
    stmt = select(Ticket).where(svc.visible_tickets_clause(current()))
    if query.status:
        stmt = stmt.where(Ticket.status.in_(query.status))
    if query.priority:
        stmt = stmt.where(Ticket.priority.in_(query.priority))
    if query.ticket_type:
        stmt = stmt.where(Ticket.ticket_type.in_(query.ticket_type))
    if query.assignee_id is not None:
        stmt = stmt.where(Ticket.assignee_id == query.assignee_id)
    if query.team_id is not None:
        stmt = stmt.where(Ticket.team_id == query.team_id)
    if query.customer_id is not None:
        stmt = stmt.where(Ticket.customer_id == query.customer_id)
    if query.q:
        pattern = like_pattern(query.q)
        stmt = stmt.where(
            or_(
                Ticket.subject.ilike(pattern, escape="\\"),
                Ticket.number.ilike(pattern, escape="\\"),
            )
        )
    stmt = stmt.order_by(Ticket.updated_at.desc(), Ticket.id.desc())
    rows = list(db.session.scalars(stmt.limit(query.limit + 1).offset(query.offset)))
    return TicketPage(
        items=[TicketOut.model_validate(t) for t in rows[: query.limit]],
        limit=query.limit,
        offset=query.offset,
        has_more=len(rows) > query.limit,
    )


@operation(
    bp,
    "/tickets",
    "POST",
    summary="Open a ticket",
    tags=TAGS,
    body=TicketCreate,
    response=TicketDetail,
    status=201,
)
def create_ticket(body: TicketCreate) -> TicketDetail:
    session = db.session
    user = current()
    ticket = svc.do_create_ticket(
        session,
        subject=body.subject,
        customer_id=body.customer_id,
        priority=body.priority,
        ticket_type=body.ticket_type,
        team_id=body.team_id,
        assignee_id=body.assignee_id,
        user_id=user.id,
    )
    if body.due_at is not None:
        svc.do_update_ticket(session, ticket, {"due_at": body.due_at}, user_id=user.id)
    return ticket_detail(ticket)


@operation(
    bp,
    "/tickets/<int:ticket_id>",
    "GET",
    summary="Read a ticket and its interactions",
    tags=TAGS,
    response=TicketDetail,
)
def get_ticket(ticket_id: int) -> TicketDetail:
    session = db.session
    ticket = session.scalar(
        select(Ticket)
        .where(Ticket.id == ticket_id, svc.visible_tickets_clause(current()))
        .options(selectinload(Ticket.interactions))
    )
    if ticket is None:
        # Not 403: whether another team's ticket exists is not for this caller to know.
        raise NotFound(N_("ticket %(id)s not found"), id=ticket_id)
    return ticket_detail(ticket)


@operation(
    bp,
    "/tickets/<int:ticket_id>",
    "PATCH",
    summary="Change a ticket",
    tags=TAGS,
    body=TicketUpdate,
    response=TicketDetail,
    errors=(409,),
)
def update_ticket(ticket_id: int, body: TicketUpdate) -> TicketDetail:
    """Status changes follow the transition table (``allowed_transitions`` on the ticket);
    an illegal one answers 409 ``invalid_transition`` naming what is allowed."""
    session = db.session
    user = current()
    ticket = svc.get_visible_ticket(session, user, ticket_id)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    svc.do_update_ticket(session, ticket, changes, user_id=user.id)
    return ticket_detail(ticket)


@operation(
    bp,
    "/tickets/<int:ticket_id>/notes",
    "POST",
    summary="Add an internal note",
    tags=TAGS,
    body=NoteIn,
    response=InteractionOut,
    status=201,
)
def add_note(ticket_id: int, body: NoteIn) -> InteractionOut:
    """The note becomes an internal interaction of the ticket (and its customer's history)."""
    session = db.session
    user = current()
    ticket = svc.get_visible_ticket(session, user, ticket_id)
    note = svc.do_add_note(session, body=body.body, author=user, ticket=ticket)
    return InteractionOut.model_validate(note)
