"""Complaints: tickets of type ``complaint`` with their own process, and the report.

A complaint *is* a ticket (same number, thread, replies, attachments under
``/tickets/<id>/...``, same record rule: 404 for one the caller may not see); these
operations add the complaint's own fields and its process
(``crm_core.services.complaints.COMPLAINT_TRANSITIONS``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, StringConstraints
from sqlalchemy import select

from crm_core.models import Ticket
from crm_core.models.service import Complaint
from crm_core.services import complaints as svc
from crm_core.services.tickets import get_visible_ticket, visible_tickets_clause
from hub.api import bp
from hub.api.common import not_null
from hub.api.products import Currency, Day, Money, TicketCoverage
from hub.api.schemas import Id, PageQuery, Strict
from hub.api.spec import operation
from hub.auth import current
from hub.db import db

TAGS = ["complaints"]
ComplaintStatus = Literal["registered", "under_review", "accepted", "rejected", "resolved"]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100_000)]


class ComplaintIn(Strict):
    subject: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=998)]
    customer_id: Id
    reason: Reason
    description: LongText | None = None
    owned_product_id: Id | None = None
    sales_document_id: Id | None = None
    cost_amount: Money | None = None
    cost_currency: Currency | None = None
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    team_id: Id | None = None
    assignee_id: Id | None = None


class ComplaintUpdate(Strict):
    """Send only what changes. Accepting or rejecting needs ``decision_reason``."""

    status: ComplaintStatus = not_null()
    decision_reason: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    reason: Reason = not_null()
    description: LongText | None = None
    cost_amount: Money | None = None
    cost_currency: Currency | None = None


class ComplaintOut(BaseModel):
    ticket_id: int
    number: str | None
    subject: str
    ticket_status: str
    customer_id: int | None
    status: str
    allowed_transitions: list[str]
    reason: str
    description: str | None
    decision_reason: str | None
    cost_amount: str | None
    cost_currency: str | None
    decided_at: str | None
    resolved_at: str | None
    created_at: str
    concerns: TicketCoverage | None


class ComplaintPage(BaseModel):
    items: list[ComplaintOut]
    limit: int
    offset: int
    has_more: bool


class ComplaintQuery(PageQuery):
    status: list[ComplaintStatus] | None = None
    reason: Reason | None = None
    customer_id: Id | None = None


class ReportQuery(Strict):
    date_from: Day | None = None
    date_to: Day | None = None


class ByProduct(BaseModel):
    product_id: int | None
    product_name: str | None
    sku: str | None
    currency: str | None
    count: int
    cost: str


class ByReason(BaseModel):
    reason: str
    currency: str | None
    count: int
    cost: str


class Total(BaseModel):
    currency: str | None
    count: int
    cost: str


class ComplaintReport(BaseModel):
    by_product: list[ByProduct]
    by_reason: list[ByReason]
    by_status: dict[str, int]
    totals: list[Total]


def complaint_out(ticket: Ticket) -> ComplaintOut:
    view = svc.complaint_view(db.session, ticket)
    return ComplaintOut.model_validate(
        {
            **view,
            "subject": ticket.subject,
            "ticket_status": ticket.status,
            "customer_id": ticket.customer_id,
        }
    )


@operation(
    bp,
    "/complaints",
    "POST",
    summary="Register a complaint",
    tags=TAGS,
    body=ComplaintIn,
    response=ComplaintOut,
    status=201,
)
def register_complaint(body: ComplaintIn) -> ComplaintOut:
    """Opens a ticket of type ``complaint`` in state ``registered``. It concerns an owned
    product or a sales document (at least one, 422 otherwise); a cost needs a currency."""
    data: dict[str, Any] = body.model_dump()
    if data["cost_amount"] is not None and data["cost_currency"] is None:
        data["cost_currency"] = ""  # refused by the action with a clear message
    ticket = svc.do_register_complaint(db.session, **data, user_id=current().id)
    return complaint_out(ticket)


@operation(
    bp,
    "/complaints",
    "GET",
    summary="List complaints",
    tags=TAGS,
    query=ComplaintQuery,
    response=ComplaintPage,
)
def list_complaints(query: ComplaintQuery) -> ComplaintPage:
    """Only complaints on tickets the caller may see; newest first."""
    stmt = (
        select(Ticket)
        .join(Complaint, Complaint.ticket_id == Ticket.id)
        .where(visible_tickets_clause(current()))
    )
    if query.status:
        stmt = stmt.where(Complaint.status.in_(query.status))
    if query.reason:
        stmt = stmt.where(Complaint.reason == query.reason)
    if query.customer_id is not None:
        stmt = stmt.where(Ticket.customer_id == query.customer_id)
    stmt = stmt.order_by(Complaint.created_at.desc(), Ticket.id.desc())
    rows = list(db.session.scalars(stmt.limit(query.limit + 1).offset(query.offset)))
    return ComplaintPage(
        items=[complaint_out(t) for t in rows[: query.limit]],
        limit=query.limit,
        offset=query.offset,
        has_more=len(rows) > query.limit,
    )


@operation(
    bp,
    "/complaints/report",
    "GET",
    summary="Complaints by product, reason and cost",
    tags=TAGS,
    query=ReportQuery,
    response=ComplaintReport,
)
def complaints_report(query: ReportQuery) -> ComplaintReport:
    """Counts and the sum of handling costs per product and per reason, per currency, over
    the complaints the caller may see registered between ``date_from`` and ``date_to``."""
    report = svc.complaint_report(
        db.session,
        visible=visible_tickets_clause(current()),
        date_from=query.date_from,
        date_to=query.date_to,
    )
    return ComplaintReport.model_validate(report)


@operation(
    bp,
    "/complaints/<int:ticket_id>",
    "GET",
    summary="Read a complaint",
    tags=TAGS,
    response=ComplaintOut,
)
def get_complaint(ticket_id: int) -> ComplaintOut:
    """With what it concerns: the product, its warranty and contracts in force today."""
    return complaint_out(get_visible_ticket(db.session, current(), ticket_id))


@operation(
    bp,
    "/complaints/<int:ticket_id>",
    "PATCH",
    summary="Move a complaint through its process, or change its reason or cost",
    tags=TAGS,
    body=ComplaintUpdate,
    response=ComplaintOut,
    errors=(409,),
)
def update_complaint(ticket_id: int, body: ComplaintUpdate) -> ComplaintOut:
    """Moves follow ``allowed_transitions`` (409 otherwise); accepting or rejecting without
    ``decision_reason`` answers 422."""
    user = current()
    ticket = get_visible_ticket(db.session, user, ticket_id)
    changes = body.model_dump(exclude_unset=True)
    svc.do_update_complaint(db.session, ticket, changes, user_id=user.id)
    return complaint_out(ticket)
