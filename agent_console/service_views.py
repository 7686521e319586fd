"""The console's service desk: coverage on a ticket, complaint fields and moves, the
knowledge base panel (search, suggestions, insert into the reply) and the complaint report
page (``/console/complaints/report``).

JSON endpoints answer raw text (the page's JS puts it into the DOM with ``textContent``);
writes go through the actions of ``crm_core.services``; the request commits.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from flask import jsonify, render_template, request
from flask_babel import format_currency, format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from agent_console import bp
from crm_core.errors import ValidationFailed
from crm_core.models.service import Complaint
from crm_core.services import complaints as complaints_svc
from crm_core.services import kb as kb_svc
from crm_core.services import service as service_svc
from crm_core.services import tickets as tickets_svc
from crm_core.services.customers import get_customer
from hub.auth import current
from hub.db import db

API = "/console/api"

COMPLAINT_STATUS_LABELS = {
    "registered": _l("Registered"),
    "under_review": _l("Under review"),
    "accepted": _l("Accepted"),
    "rejected": _l("Rejected"),
    "resolved": _l("Resolved"),
}


def service_js_strings() -> dict[str, Any]:
    """The texts of ``static/service.js`` (sent in the page config with the others)."""
    return {
        "complaint_statuses": {k: str(v) for k, v in COMPLAINT_STATUS_LABELS.items()},
        "coverage": _("Products and coverage"),
        "no_products": _("No registered products."),
        "in_warranty": _("In warranty until %(date)s"),
        "warranty_expired": _("Warranty expired on %(date)s"),
        "no_warranty": _("No warranty"),
        "covered_by": _("Covered by contract %(number)s until %(date)s"),
        "response_within": _("response within %(hours)s h"),
        "contracts": _("Service contracts"),
        "serial": _("S/N %(serial)s"),
        "bought": _("bought %(date)s"),
        "document": _("document %(number)s"),
        "concerns": _("Concerns"),
        "complaint": _("Complaint"),
        "complaint_status": _("Complaint status"),
        "reason": _("Reason"),
        "decision_reason": _("Reason for the decision"),
        "decision_needed": _("Say why before accepting or rejecting."),
        "cost": _("Cost of handling"),
        "currency": _("Currency"),
        "save_cost": _("Save cost"),
        "move_to": _("Move to"),
        "kb": _("Knowledge base"),
        "kb_search": _("Search the knowledge base"),
        "kb_suggested": _("Suggested articles"),
        "kb_none": _("No matching articles."),
        "kb_insert": _("Insert into reply"),
        "kb_inserted": _("Article inserted into the reply."),
        "kb_internal": _("internal"),
        "kb_public": _("public"),
        "search": _("Search"),
        "set_product": _("Product concerned"),
        "no_product": _("None"),
    }


def _ticket_for(ticket_id: int) -> Any:
    return tickets_svc.get_visible_ticket(db.session, current(), ticket_id)


def _owned_choices(customer_id: int | None) -> list[dict[str, Any]]:
    if customer_id is None:
        return []
    return [
        {"id": o.id, "label": o.product.name, "serial_number": o.serial_number}
        for o in service_svc.find_owned_products(db.session, customer_id=customer_id)
    ]


def _service_view(ticket: Any) -> dict[str, Any]:
    session = db.session
    complaint = None
    if session.get(Complaint, ticket.id) is not None:
        complaint = complaints_svc.complaint_view(session, ticket)
    words = kb_svc.query_words(
        kb_svc.ticket_text(session, ticket), drop_common=True, limit=kb_svc.SUGGESTION_WORDS
    )
    found = kb_svc.search(session, words, match_all=False, prefix=False, limit=5)
    return {
        "ticket_id": ticket.id,
        "coverage": service_svc.ticket_coverage(session, ticket),
        "complaint": complaint,
        "owned_products": _owned_choices(ticket.customer_id),
        "suggestions": [kb_svc.article_summary(a, s) for a, s in found],
    }


@bp.get(f"{API}/tickets/<int:ticket_id>/service")
@login_required
def api_ticket_service(ticket_id: int) -> Any:
    """What the ticket concerns with its coverage, the complaint, suggested articles."""
    return jsonify(_service_view(_ticket_for(ticket_id)))


@bp.put(f"{API}/tickets/<int:ticket_id>/subject")
@login_required
def api_ticket_subject(ticket_id: int) -> Any:
    user = current()
    ticket = _ticket_for(ticket_id)
    tickets_svc.ensure_can_write(user, ticket)
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationFailed(_("Send a JSON object."), field="body")
    owned_id = data.get("owned_product_id")
    if owned_id is not None and (isinstance(owned_id, bool) or not isinstance(owned_id, int)):
        raise ValidationFailed(_("Choose a product from the list."), field="owned_product_id")
    service_svc.do_set_ticket_subject(
        db.session, ticket, owned_product_id=owned_id, user_id=user.id
    )
    return jsonify(_service_view(ticket))


@bp.patch(f"{API}/tickets/<int:ticket_id>/complaint")
@login_required
def api_update_complaint(ticket_id: int) -> Any:
    """Move the complaint (``status`` with ``decision_reason``) or set its cost."""
    user = current()
    ticket = _ticket_for(ticket_id)
    tickets_svc.ensure_can_write(user, ticket)
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationFailed(_("Send a JSON object."), field="body")
    changes: dict[str, Any] = {}
    for key in ("status", "decision_reason", "cost_currency"):
        if key in data:
            if data[key] is not None and not isinstance(data[key], str):
                raise ValidationFailed(_("%(field)s must be text.", field=key), field=key)
            changes[key] = data[key]
    if "cost_amount" in data:
        raw = data["cost_amount"]
        try:
            changes["cost_amount"] = (
                None if raw in (None, "") else decimal.Decimal(str(raw).replace(",", "."))
            )
        except decimal.InvalidOperation:
            raise ValidationFailed(
                _("The cost must be a number such as 120.50."), field="cost_amount"
            ) from None
    complaints_svc.do_update_complaint(db.session, ticket, changes, user_id=user.id)
    return jsonify(_service_view(ticket))


@bp.get(f"{API}/customers/<int:customer_id>/coverage")
@login_required
def api_customer_coverage(customer_id: int) -> Any:
    customer = get_customer(db.session, customer_id)
    return jsonify(service_svc.customer_coverage(db.session, customer.id))


@bp.get(f"{API}/kb/search")
@login_required
def api_kb_search() -> Any:
    q = request.args.get("q", "")[:200]
    found = kb_svc.search(db.session, kb_svc.query_words(q), match_all=True, limit=10)
    return jsonify(items=[kb_svc.article_summary(a, s) for a, s in found])


@bp.get(f"{API}/kb/articles/<int:article_id>")
@login_required
def api_kb_article(article_id: int) -> Any:
    article = kb_svc.get_article(db.session, article_id)
    kb_svc.do_count_use(db.session, article, "view")
    return jsonify({**kb_svc.article_summary(article), "body": article.body})


@bp.post(f"{API}/kb/articles/<int:article_id>/insert")
@login_required
def api_kb_insert(article_id: int) -> Any:
    """The text to put into a reply; counts the insertion."""
    article = kb_svc.get_article(db.session, article_id)
    kb_svc.do_count_use(db.session, article, "insert")
    return jsonify({**kb_svc.article_summary(article), "body": article.body})


def _money(cost: str, currency: str | None) -> str:
    amount = decimal.Decimal(cost)
    if currency:
        return str(format_currency(amount, currency))
    return str(format_decimal(amount))


def _day(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(_("Dates look like 2026-01-31."), field="date_from") from None
    if not 1900 <= day.year <= 2999:
        raise ValidationFailed(_("Dates look like 2026-01-31."), field="date_from")
    return day


@bp.get("/console/complaints/report")
@login_required
def complaints_report_page() -> Any:
    """Complaints by product and by reason with the sum of costs (per currency)."""
    date_from = _day(request.args.get("date_from"))
    date_to = _day(request.args.get("date_to"))
    report = complaints_svc.complaint_report(
        db.session,
        visible=tickets_svc.visible_tickets_clause(current()),
        date_from=date_from,
        date_to=date_to,
    )
    for group in ("by_product", "by_reason", "totals"):
        for row in report[group]:
            row["cost_display"] = _money(row["cost"], row["currency"])
    return render_template(
        "console/complaints_report.html",
        report=report,
        date_from=date_from.isoformat() if date_from else "",
        date_to=date_to.isoformat() if date_to else "",
        status_labels=COMPLAINT_STATUS_LABELS,
    )
