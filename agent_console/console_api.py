"""The console's JSON endpoints (``/console/api/...``): what the page's JS reads and writes.

They return display-ready data (phone numbers formatted for the deployment's region,
the customer card of :mod:`hub.cards`); times are ISO 8601 in UTC and the page shows them
in the agent's time zone. Writes go through actions; the request commits (``hub.db``).
Every text is returned raw: the page puts it into the DOM with ``textContent``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import abort, current_app, jsonify, request
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import or_, select

from agent_console import bp
from crm_core.errors import ValidationFailed
from crm_core.models import Attachment, Customer, Interaction, RelationType, Ticket, User
from crm_core.models.tickets import TICKET_PRIORITIES, TICKET_STATUSES
from crm_core.services import customers as customers_svc
from crm_core.services import tickets as tickets_svc
from crm_core.services.history import customer_history
from crm_core.services.interactions import do_link_customer, do_set_disposition, get_interaction
from crm_core.services.phones import format_phone
from crm_core.services.search import search_customers
from hub.auth import current
from hub.cards import (
    customer_card,
    interaction_extra,
    interaction_line,
    ticket_line,
    unknown_caller_card,
)
from hub.db import db
from hub.replies import do_send_reply, reply_recipient
from hub.sanitize import safe_email_html

API = "/console/api"
SEARCH_LIMIT = 10
HISTORY_PAGE = 20
TICKET_PAGE = 50


def _region() -> str:
    return str(current_app.extensions["switchboard.settings"].default_region)


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationFailed(_("Send a JSON object."), field="body")
    return data


def _text(data: dict[str, Any], key: str, *, max_len: int = 100_000) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise ValidationFailed(_("%(field)s must be text.", field=key), field=key)
    if len(value) > max_len:
        raise ValidationFailed(_("%(field)s is too long.", field=key), field=key)
    return value


def _int(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(_("%(field)s must be a number.", field=key), field=key)
    return value


def _search_hit(customer: Customer) -> dict[str, Any]:
    region = _region()
    contacts = [
        format_phone(c.value, region) if c.kind in ("phone", "fax") else c.value
        for c in customer.contact_points[:3]
    ]
    return {
        "id": customer.id,
        "name": customer.display_name,
        "kind": customer.kind,
        "vip": bool(customer.vip),
        "city": customer.city,
        "contacts": contacts,
    }


@bp.get(f"{API}/search")
@login_required
def api_search() -> Any:
    """Customers by name, number in any format, e-mail, ticket number; and tickets."""
    q = request.args.get("q", "").strip()[:200]
    if len(q) < 2:
        return jsonify(customers=[], tickets=[])
    found = search_customers(db.session, q, region=_region(), limit=SEARCH_LIMIT)
    user = current()
    ticket_stmt = (
        select(Ticket)
        .where(
            tickets_svc.visible_tickets_clause(user),
            or_(
                Ticket.number == q.lstrip("#").upper(),
                Ticket.subject.ilike(f"%{_like(q)}%", escape="\\"),
            ),
        )
        .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
        .limit(5)
    )
    tickets = [ticket_line(t) for t in db.session.scalars(ticket_stmt)]
    return jsonify(customers=[_search_hit(c) for c in found], tickets=tickets)


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@bp.get(f"{API}/customers/<int:customer_id>/card")
@login_required
def api_card(customer_id: int) -> Any:
    return jsonify(customer_card(db.session, customer_id, region=_region()))


@bp.get(f"{API}/unknown-caller")
@login_required
def api_unknown_caller() -> Any:
    return jsonify(unknown_caller_card(request.args.get("number", "")[:64], region=_region()))


@bp.get(f"{API}/customers/<int:customer_id>/history")
@login_required
def api_history(customer_id: int) -> Any:
    customers_svc.get_customer(db.session, customer_id)
    cursor = request.args.get("cursor") or None
    channels = [c for c in request.args.getlist("channel") if c] or None
    page = customer_history(
        db.session, customer_id, cursor=cursor, limit=HISTORY_PAGE, channels=channels
    )
    items = []
    for interaction in page.items:
        line = interaction_line(interaction, _region())
        line["body_text"] = (interaction.body_text or "")[:2000]
        line["from"] = interaction.from_address
        line["to"] = interaction.to_address
        items.append(line)
    return jsonify(items=items, next_cursor=page.next_cursor)


# Editable card fields; text fields with the longest value their column takes.
CARD_TEXT_LIMITS = {
    "kind": 16,
    "first_name": 120,
    "last_name": 120,
    "organisation_name": 200,
    "customer_class": 40,
    "language": 10,
    "city": 120,
    "country": 2,
    "notes": 100_000,
}
CARD_EDITABLE = (*CARD_TEXT_LIMITS, "vip", "no_calls", "no_mail", "birthday")


def _card_fields(data: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key in CARD_EDITABLE:
        if key not in data:
            continue
        value = data[key]
        if key in ("vip", "no_calls", "no_mail"):
            if not isinstance(value, bool):
                raise ValidationFailed(_("%(field)s must be true or false.", field=key), field=key)
        elif key == "birthday":
            if value in (None, ""):
                value = None
            else:
                try:
                    value = dt.date.fromisoformat(str(value))
                except ValueError:
                    raise ValidationFailed(
                        _("Birthday must be a date (YYYY-MM-DD)."), field=key
                    ) from None
        else:
            if value is not None and not isinstance(value, str):
                raise ValidationFailed(_("%(field)s must be text.", field=key), field=key)
            value = (value or "").strip() or None
            if key == "kind" and value is None:
                continue
            if value is not None and len(value) > CARD_TEXT_LIMITS[key]:
                raise ValidationFailed(_("%(field)s is too long.", field=key), field=key)
        fields[key] = value
    return fields


@bp.post(f"{API}/customers")
@login_required
def api_create_customer() -> Any:
    """Create a customer (from the unknown-caller card: with the caller's number), and
    optionally link the interaction that brought them."""
    data = _body()
    contacts = []
    for kind in ("phone", "email"):
        raw = data.get(kind)
        if isinstance(raw, str) and raw.strip():
            contacts.append({"kind": kind, "value": raw.strip(), "is_primary": True})
    user = current()
    customer = customers_svc.do_create_customer(
        db.session,
        fields=_card_fields(data) or {"kind": "person"},
        contact_points=contacts,
        region=_region(),
        user_id=user.id,
    )
    link = data.get("link_interaction_id")
    if link is not None:
        interaction = get_interaction(db.session, _int(data, "link_interaction_id"))
        do_link_customer(db.session, interaction, customer, user_id=user.id)
    return jsonify(customer_card(db.session, customer.id, region=_region())), 201


@bp.patch(f"{API}/customers/<int:customer_id>")
@login_required
def api_update_customer(customer_id: int) -> Any:
    data = _body()
    customer = customers_svc.get_customer(db.session, customer_id)
    tags = data.get("tags")
    if tags is not None and (
        not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)
    ):
        raise ValidationFailed(_("Tags must be a list of words."), field="tags")
    custom = data.get("custom_fields")
    if custom is not None and not isinstance(custom, dict):
        raise ValidationFailed(_("Custom fields must be an object."), field="custom_fields")
    customers_svc.do_update_customer(
        db.session,
        customer,
        fields=_card_fields(data),
        tags=tags,
        custom_fields=custom,
        user_id=current().id,
    )
    return jsonify(customer_card(db.session, customer.id, region=_region()))


@bp.post(f"{API}/customers/<int:customer_id>/contact-points")
@login_required
def api_add_contact(customer_id: int) -> Any:
    data = _body()
    customer = customers_svc.get_customer(db.session, customer_id)
    customers_svc.add_contact_point(
        db.session,
        customer,
        _text(data, "kind", max_len=8),
        _text(data, "value", max_len=320),
        label=_text(data, "label", max_len=40).strip() or None,
        region=_region(),
        user_id=current().id,
    )
    customers_svc._flush_unique(db.session)
    return jsonify(customer_card(db.session, customer.id, region=_region())), 201


@bp.delete(f"{API}/customers/<int:customer_id>/contact-points/<int:point_id>")
@login_required
def api_remove_contact(customer_id: int, point_id: int) -> Any:
    customer = customers_svc.get_customer(db.session, customer_id)
    customers_svc.remove_contact_point(db.session, customer, point_id, user_id=current().id)
    return jsonify(customer_card(db.session, customer.id, region=_region()))


@bp.get(f"{API}/relation-types")
@login_required
def api_relation_types() -> Any:
    rows = db.session.scalars(select(RelationType).order_by(RelationType.label))
    return jsonify(items=[{"key": r.key, "label": r.label} for r in rows])


@bp.post(f"{API}/customers/<int:customer_id>/relations")
@login_required
def api_add_relation(customer_id: int) -> Any:
    data = _body()
    src = customers_svc.get_customer(db.session, customer_id)
    dst = customers_svc.get_customer(db.session, _int(data, "to_customer_id"))
    customers_svc.do_add_relation(
        db.session, src, _text(data, "relation", max_len=40), dst, user_id=current().id
    )
    return jsonify(customer_card(db.session, src.id, region=_region())), 201


def _interaction_detail(interaction: Interaction) -> dict[str, Any]:
    notes = db.session.scalars(
        select(Interaction)
        .where(Interaction.parent_id == interaction.id, Interaction.channel == "note")
        .order_by(Interaction.created_at, Interaction.id)
    )
    detail = interaction_line(interaction, _region())
    detail.update(
        {
            "from": interaction.from_address,
            "to": interaction.to_address,
            "from_display": _address_display(interaction.channel, interaction.from_address),
            "body_text": interaction.body_text,
            "body_html": safe_email_html(interaction.body_html),
            "customer_id": interaction.customer_id,
            "queue_id": interaction.queue_id,
            "started_at": interaction.started_at.isoformat() if interaction.started_at else None,
            "ended_at": interaction.ended_at.isoformat() if interaction.ended_at else None,
            "notes": [
                {**interaction_line(n, _region()), "body_text": n.body_text, "author": _author(n)}
                for n in notes
            ],
            "extra": interaction_extra(db.session, interaction),
        }
    )
    return detail


def _author(interaction: Interaction) -> str | None:
    return interaction.agent.name if interaction.agent is not None else None


def _address_display(channel: str, address: str | None) -> str | None:
    if address and channel in ("voice", "sms", "fax"):
        card = unknown_caller_card(address, region=_region())
        return str(card["display"] or _("Withheld number"))
    return address


@bp.get(f"{API}/interactions/<int:interaction_id>")
@login_required
def api_interaction(interaction_id: int) -> Any:
    interaction = get_interaction(db.session, interaction_id)
    _check_interaction_visible(interaction)
    return jsonify(_interaction_detail(interaction))


def _check_interaction_visible(interaction: Interaction) -> None:
    """The API's record rule: a ticket's interactions follow the ticket's visibility."""
    user = current()
    if user.is_supervisor or interaction.ticket_id is None or interaction.agent_id == user.id:
        return
    tickets_svc.get_visible_ticket(db.session, user, interaction.ticket_id)


@bp.post(f"{API}/interactions/<int:interaction_id>/notes")
@login_required
def api_add_note(interaction_id: int) -> Any:
    data = _body()
    interaction = get_interaction(db.session, interaction_id)
    _check_interaction_visible(interaction)
    tickets_svc.do_add_note(
        db.session,
        body=_text(data, "body"),
        author=current(),
        ticket=interaction.ticket,
        customer_id=interaction.customer_id,
        parent=interaction,
    )
    return jsonify(_interaction_detail(interaction)), 201


@bp.post(f"{API}/interactions/<int:interaction_id>/disposition")
@login_required
def api_set_disposition(interaction_id: int) -> Any:
    data = _body()
    interaction = get_interaction(db.session, interaction_id)
    _check_interaction_visible(interaction)
    value = data.get("disposition")
    if value is not None and not isinstance(value, str):
        raise ValidationFailed(_("disposition must be text."), field="disposition")
    do_set_disposition(db.session, interaction, value, user_id=current().id)
    return jsonify(_interaction_detail(interaction))


@bp.post(f"{API}/interactions/<int:interaction_id>/link")
@login_required
def api_link_customer(interaction_id: int) -> Any:
    data = _body()
    interaction = get_interaction(db.session, interaction_id)
    _check_interaction_visible(interaction)
    customer = customers_svc.get_customer(db.session, _int(data, "customer_id"))
    do_link_customer(db.session, interaction, customer, user_id=current().id)
    return jsonify(
        interaction=_interaction_detail(interaction),
        card=customer_card(db.session, customer.id, region=_region()),
    )


def _ticket_summary(ticket: Ticket) -> dict[str, Any]:
    line = ticket_line(ticket)
    line.update(
        {
            "customer_id": ticket.customer_id,
            "customer_name": ticket.customer.display_name if ticket.customer else None,
            "assignee_id": ticket.assignee_id,
            "assignee_name": ticket.assignee.name if ticket.assignee else None,
            "created_at": ticket.created_at.isoformat(),
        }
    )
    return line


@bp.get(f"{API}/tickets")
@login_required
def api_tickets() -> Any:
    """Tickets the agent may see, filtered by status, priority and assignee."""
    user = current()
    stmt = select(Ticket).where(tickets_svc.visible_tickets_clause(user))
    statuses = [s for s in request.args.getlist("status") if s in TICKET_STATUSES]
    if statuses:
        stmt = stmt.where(Ticket.status.in_(statuses))
    elif request.args.get("open", "1") == "1":
        stmt = stmt.where(Ticket.status.in_(("new", "open", "pending")))
    priorities = [p for p in request.args.getlist("priority") if p in TICKET_PRIORITIES]
    if priorities:
        stmt = stmt.where(Ticket.priority.in_(priorities))
    assignee = request.args.get("assignee", "")
    if assignee == "me":
        stmt = stmt.where(Ticket.assignee_id == user.id)
    elif assignee == "none":
        stmt = stmt.where(Ticket.assignee_id.is_(None))
    customer_id = request.args.get("customer_id", type=int)
    if customer_id is not None:
        stmt = stmt.where(Ticket.customer_id == customer_id)
    q = request.args.get("q", "").strip()[:200]
    if q:
        stmt = stmt.where(
            or_(
                Ticket.number == q.lstrip("#").upper(),
                Ticket.subject.ilike(f"%{_like(q)}%", escape="\\"),
            )
        )
    stmt = stmt.order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(TICKET_PAGE)
    return jsonify(items=[_ticket_summary(t) for t in db.session.scalars(stmt)])


def _attachments_of(interaction_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Files of each interaction, with the REST API's download address."""
    out: dict[int, list[dict[str, Any]]] = {}
    if not interaction_ids:
        return out
    rows = db.session.scalars(
        select(Attachment)
        .where(Attachment.interaction_id.in_(interaction_ids), Attachment.kind == "file")
        .order_by(Attachment.id)
    )
    for att in rows:
        assert att.interaction_id is not None
        out.setdefault(att.interaction_id, []).append(
            {
                "id": att.id,
                "filename": att.filename or _("attachment"),
                "content_type": att.content_type,
                "size": att.size,
                "url": f"/api/v1/attachments/{att.id}/content",
            }
        )
    return out


def _ticket_detail(ticket: Ticket) -> dict[str, Any]:
    detail = _ticket_summary(ticket)
    thread = []
    files = _attachments_of([i.id for i in ticket.interactions])
    for item in ticket.interactions:
        line = interaction_line(item, _region())
        line.update(
            {
                "from": item.from_address,
                "from_display": _address_display(item.channel, item.from_address),
                "to": item.to_address,
                "body_text": item.body_text,
                "body_html": safe_email_html(item.body_html),
                "author": _author(item),
                "attachments": files.get(item.id, []),
                "extra": interaction_extra(db.session, item),
            }
        )
        thread.append(line)
    detail.update(
        {
            "ticket_type": ticket.ticket_type,
            "thread": thread,
            "reply_to": reply_recipient(db.session, ticket),
            "allowed_statuses": [
                ticket.status,
                *sorted(tickets_svc.TICKET_TRANSITIONS[ticket.status]),
            ],
        }
    )
    return detail


@bp.get(f"{API}/tickets/<int:ticket_id>")
@login_required
def api_ticket(ticket_id: int) -> Any:
    ticket = tickets_svc.get_visible_ticket(db.session, current(), ticket_id)
    return jsonify(_ticket_detail(ticket))


@bp.patch(f"{API}/tickets/<int:ticket_id>")
@login_required
def api_update_ticket(ticket_id: int) -> Any:
    data = _body()
    user = current()
    ticket = tickets_svc.get_visible_ticket(db.session, user, ticket_id)
    tickets_svc.ensure_can_write(user, ticket)
    changes: dict[str, Any] = {}
    for key in ("status", "priority"):
        if key in data:
            changes[key] = _text(data, key, max_len=20)
    if "assignee_id" in data:
        changes["assignee_id"] = None if data["assignee_id"] is None else _int(data, "assignee_id")
    if not changes:
        abort(400, description=_("Nothing to change."))
    tickets_svc.do_update_ticket(db.session, ticket, changes, user_id=user.id)
    return jsonify(_ticket_detail(ticket))


@bp.post(f"{API}/tickets/<int:ticket_id>/reply")
@login_required
def api_reply(ticket_id: int) -> Any:
    data = _body()
    user = current()
    ticket = tickets_svc.get_visible_ticket(db.session, user, ticket_id)
    to = data.get("to")
    do_send_reply(
        db.session,
        ticket,
        author=user,
        body=_text(data, "body"),
        to=to if isinstance(to, str) and to.strip() else None,
    )
    status = data.get("status")
    if isinstance(status, str) and status and status != ticket.status:
        tickets_svc.do_update_ticket(db.session, ticket, {"status": status}, user_id=user.id)
    return jsonify(_ticket_detail(ticket)), 201


@bp.post(f"{API}/tickets/<int:ticket_id>/notes")
@login_required
def api_ticket_note(ticket_id: int) -> Any:
    data = _body()
    user = current()
    ticket = tickets_svc.get_visible_ticket(db.session, user, ticket_id)
    tickets_svc.do_add_note(db.session, body=_text(data, "body"), author=user, ticket=ticket)
    return jsonify(_ticket_detail(ticket)), 201


@bp.get(f"{API}/users")
@login_required
def api_users() -> Any:
    rows = db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.name))
    return jsonify(items=[{"id": u.id, "name": u.name, "role": u.role} for u in rows])
