"""Complaints: tickets of type ``complaint`` with their own process and report.

A complaint is a ticket (``ticket_type = "complaint"``: the same thread, replies, SLA,
visibility and attachments) plus one ``complaint_cases`` row that carries the complaint's
own state machine, the reason, the decision and the cost of handling. The product or sales
document it concerns is the ticket's subject (``service_ticket_subjects``).

The process has one table of allowed moves, :data:`COMPLAINT_TRANSITIONS`::

    registered -> under_review -> accepted | rejected -> resolved
                                  rejected -> under_review (appeal)

A decision (accepted or rejected) needs a reason. Each complaint state also moves the
ticket's status where the ticket's own transition table allows it (under review: open,
resolved: solved).
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from sqlalchemy import BigInteger, cast, func, select
from sqlalchemy.orm import Session

from crm_core.db import utcnow
from crm_core.errors import N_, InvalidTransition, NotFound, ValidationFailed
from crm_core.events import DomainEvent, publish_on_commit
from crm_core.models import Ticket
from crm_core.models.service import (
    COMPLAINT_STATUSES,
    Complaint,
    OwnedProduct,
    Product,
    SalesDocument,
    TicketSubject,
)
from crm_core.services import audit
from crm_core.services import service as service_svc
from crm_core.services import tickets as tickets_svc

COMPLAINT_TRANSITIONS: dict[str, frozenset[str]] = {
    "registered": frozenset({"under_review"}),
    "under_review": frozenset({"accepted", "rejected"}),
    "accepted": frozenset({"resolved"}),
    "rejected": frozenset({"resolved", "under_review"}),
    "resolved": frozenset(),
}
DECISIONS = frozenset({"accepted", "rejected"})
# The ticket status each complaint state asks for (when the ticket's table allows the move).
TICKET_STATUS_FOR = {"under_review": "open", "resolved": "solved"}


def check_complaint_transition(current: str, target: str) -> None:
    if target not in COMPLAINT_STATUSES:
        raise ValidationFailed(
            N_("%(name)s must be one of %(allowed)s"),
            field="status",
            name="status",
            allowed=", ".join(COMPLAINT_STATUSES),
        )
    if target not in COMPLAINT_TRANSITIONS[current]:
        raise InvalidTransition(
            N_("a complaint that is %(current)s cannot become %(target)s"),
            current=current,
            target=target,
            field="status",
            detail={
                "from": current,
                "to": target,
                "allowed": sorted(COMPLAINT_TRANSITIONS[current]),
            },
        )


def _reason(value: str | None) -> str:
    reason = (value or "").strip()
    if not reason:
        raise ValidationFailed(N_("a complaint needs a reason (what is wrong)"), field="reason")
    if len(reason) > 80:
        raise ValidationFailed(N_("reason is at most 80 characters"), field="reason")
    return reason


def _cost(
    amount: decimal.Decimal | None, currency: str | None
) -> tuple[decimal.Decimal | None, str | None]:
    if amount is None:
        if currency:
            service_svc.check_currency(currency, "cost_currency")
        return None, None
    service_svc.check_money(amount, "cost_amount")
    return amount, service_svc.check_currency(currency, "cost_currency")


def do_register_complaint(
    session: Session,
    *,
    subject: str,
    customer_id: int,
    reason: str,
    description: str | None = None,
    owned_product_id: int | None = None,
    sales_document_id: int | None = None,
    cost_amount: decimal.Decimal | None = None,
    cost_currency: str | None = None,
    team_id: int | None = None,
    assignee_id: int | None = None,
    priority: str = "normal",
    user_id: int | None = None,
) -> Ticket:
    """Open a complaint ticket about an owned product or a sales document (at least one)."""
    reason_ = _reason(reason)
    if owned_product_id is None and sales_document_id is None:
        raise ValidationFailed(
            N_("a complaint concerns an owned product or a sales document: give one"),
            field="owned_product_id",
        )
    amount, currency = _cost(cost_amount, cost_currency)
    if description is not None and len(description) > 100_000:
        raise ValidationFailed(N_("description is at most 100,000 characters"), field="description")
    ticket = tickets_svc.do_create_ticket(
        session,
        subject=subject,
        customer_id=customer_id,
        priority=priority,
        ticket_type="complaint",
        team_id=team_id,
        assignee_id=assignee_id,
        user_id=user_id,
    )
    service_svc.do_set_ticket_subject(
        session,
        ticket,
        owned_product_id=owned_product_id,
        sales_document_id=sales_document_id,
        user_id=user_id,
    )
    complaint = Complaint(
        ticket_id=ticket.id,
        status="registered",
        reason=reason_,
        description=(description or "").strip() or None,
        cost_amount=amount,
        cost_currency=currency,
    )
    session.add(complaint)
    session.flush()
    audit.record(
        session,
        user_id=user_id,
        action="complaint.registered",
        entity_type="ticket",
        entity_id=ticket.id,
        after={"reason": reason_, "owned_product_id": owned_product_id},
    )
    return ticket


def get_complaint(session: Session, ticket: Ticket) -> Complaint:
    complaint = session.get(Complaint, ticket.id)
    if complaint is None:
        raise NotFound(N_("ticket %(id)s is not a complaint"), id=ticket.number or ticket.id)
    return complaint


def do_update_complaint(
    session: Session,
    ticket: Ticket,
    changes: dict[str, Any],
    *,
    user_id: int | None = None,
) -> Complaint:
    """Move the process (``status`` with ``decision_reason`` for a decision), or change the
    reason, description or cost (``cost_amount`` with ``cost_currency``)."""
    complaint = get_complaint(session, ticket)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        old = getattr(complaint, key)
        if old != value:
            before[key] = str(old) if isinstance(old, decimal.Decimal) else old
            after[key] = str(value) if isinstance(value, decimal.Decimal) else value
            setattr(complaint, key, value)

    unknown = set(changes) - {
        "status",
        "decision_reason",
        "reason",
        "description",
        "cost_amount",
        "cost_currency",
    }
    if unknown:
        key = sorted(unknown)[0]
        raise ValidationFailed(N_("unknown field '%(key)s'"), field=key, key=key)
    if "reason" in changes:
        put("reason", _reason(changes["reason"]))
    if "description" in changes:
        put("description", (changes["description"] or "").strip() or None)
    if "cost_amount" in changes or "cost_currency" in changes:
        amount, currency = _cost(
            changes.get("cost_amount", complaint.cost_amount),
            changes.get("cost_currency", complaint.cost_currency),
        )
        put("cost_amount", amount)
        put("cost_currency", currency)
    target = changes.get("status")
    if target is not None and target != complaint.status:
        check_complaint_transition(complaint.status, target)
        if target in DECISIONS:
            why = (changes.get("decision_reason") or "").strip()
            if not why:
                raise ValidationFailed(
                    N_("say why the complaint is %(target)s: decision_reason is required"),
                    target=target,
                    field="decision_reason",
                )
            if len(why) > 10_000:
                raise ValidationFailed(
                    N_("decision_reason is at most 10,000 characters"), field="decision_reason"
                )
            put("decision_reason", why)
            put("decided_at", utcnow())
        elif "decision_reason" in changes:
            raise ValidationFailed(
                N_("decision_reason goes with accepting or rejecting"), field="decision_reason"
            )
        if target == "resolved":
            put("resolved_at", utcnow())
        if target == "under_review":
            put("resolved_at", None)
        put("status", target)
        wanted = TICKET_STATUS_FOR.get(target)
        if (
            wanted is not None
            and wanted != ticket.status
            and wanted in tickets_svc.TICKET_TRANSITIONS[ticket.status]
        ):
            tickets_svc.do_update_ticket(session, ticket, {"status": wanted}, user_id=user_id)
    elif "decision_reason" in changes and target is None:
        raise ValidationFailed(
            N_("decision_reason goes with accepting or rejecting"), field="decision_reason"
        )
    if after:
        session.flush()
        audit.record(
            session,
            user_id=user_id,
            action="complaint.updated",
            entity_type="ticket",
            entity_id=ticket.id,
            before={
                k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in before.items()
            },
            after={k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in after.items()},
        )
        publish_on_commit(
            session,
            DomainEvent("ticket.updated", {"ticket_id": ticket.id, "changed": ["complaint"]}),
        )
    return complaint


def complaint_view(
    session: Session, ticket: Ticket, today: dt.date | None = None
) -> dict[str, Any]:
    """The complaint's fields, the allowed moves and what it concerns with its coverage."""
    complaint = get_complaint(session, ticket)
    return {
        "ticket_id": ticket.id,
        "number": ticket.number,
        "status": complaint.status,
        "allowed_transitions": sorted(COMPLAINT_TRANSITIONS[complaint.status]),
        "reason": complaint.reason,
        "description": complaint.description,
        "decision_reason": complaint.decision_reason,
        "cost_amount": None if complaint.cost_amount is None else str(complaint.cost_amount),
        "cost_currency": complaint.cost_currency,
        "decided_at": complaint.decided_at.isoformat() if complaint.decided_at else None,
        "resolved_at": complaint.resolved_at.isoformat() if complaint.resolved_at else None,
        "created_at": complaint.created_at.isoformat(),
        "concerns": service_svc.ticket_coverage(session, ticket, today),
    }


def complaint_report(
    session: Session,
    *,
    visible: Any,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> dict[str, Any]:
    """Complaints by product and by reason: count and the sum of handling costs, per
    currency (amounts in different currencies are never added). ``visible`` is the
    caller's record rule on tickets; ``date_from``/``date_to`` bound the registration date
    (UTC days, inclusive)."""
    base = select(Complaint).join(Ticket, Ticket.id == Complaint.ticket_id).where(visible)
    if date_from is not None:
        base = base.where(Complaint.created_at >= dt.datetime.combine(date_from, dt.time(), dt.UTC))
    if date_to is not None:
        base = base.where(
            Complaint.created_at
            < dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(), dt.UTC)
        )
    ids = base.with_only_columns(Complaint.ticket_id).subquery()
    currency = func.coalesce(Complaint.cost_currency, "")
    # Summed as whole cents (integers): exact on SQLite too, which has no decimal type.
    cost = func.coalesce(func.sum(cast(func.round(Complaint.cost_amount * 100), BigInteger)), 0)
    by_product_rows = session.execute(
        select(
            Product.id,
            Product.name,
            Product.sku,
            currency,
            func.count(Complaint.ticket_id),
            cost,
        )
        .select_from(Complaint)
        .join(ids, ids.c.ticket_id == Complaint.ticket_id)
        .join(TicketSubject, TicketSubject.ticket_id == Complaint.ticket_id, isouter=True)
        .join(OwnedProduct, OwnedProduct.id == TicketSubject.owned_product_id, isouter=True)
        .join(Product, Product.id == OwnedProduct.product_id, isouter=True)
        .group_by(Product.id, Product.name, Product.sku, currency)
        .order_by(Product.name, currency)
    ).all()
    by_reason_rows = session.execute(
        select(Complaint.reason, currency, func.count(Complaint.ticket_id), cost)
        .join(ids, ids.c.ticket_id == Complaint.ticket_id)
        .group_by(Complaint.reason, currency)
        .order_by(Complaint.reason, currency)
    ).all()
    by_status_rows = session.execute(
        select(Complaint.status, func.count(Complaint.ticket_id))
        .join(ids, ids.c.ticket_id == Complaint.ticket_id)
        .group_by(Complaint.status)
    ).all()
    totals_rows = session.execute(
        select(currency, func.count(Complaint.ticket_id), cost)
        .join(ids, ids.c.ticket_id == Complaint.ticket_id)
        .group_by(currency)
        .order_by(currency)
    ).all()

    def money(cents: Any) -> str:
        return str((decimal.Decimal(int(cents or 0)) / 100).quantize(decimal.Decimal("0.01")))

    return {
        "by_product": [
            {
                "product_id": pid,
                "product_name": name,
                "sku": sku,
                "currency": cur or None,
                "count": count,
                "cost": money(total),
            }
            for pid, name, sku, cur, count, total in by_product_rows
        ],
        "by_reason": [
            {"reason": reason, "currency": cur or None, "count": count, "cost": money(total)}
            for reason, cur, count, total in by_reason_rows
        ],
        "by_status": {str(status): int(count) for status, count in by_status_rows},
        "totals": [
            {"currency": cur or None, "count": count, "cost": money(total)}
            for cur, count, total in totals_rows
        ],
    }


def sales_document_for_input(session: Session, number: str) -> SalesDocument:
    doc = session.scalar(select(SalesDocument).where(SalesDocument.number == number.strip()))
    if doc is None:
        raise ValidationFailed(
            N_("sales document %(id)s does not exist"), field="sales_document", id=number
        )
    return doc
