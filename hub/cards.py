"""The customer card: the screen pop an agent sees when an interaction is offered.

:func:`customer_card` gathers everything the card shows in one dict of JSON types (strings,
numbers, booleans, lists, ISO 8601 timestamps in UTC), so that the offer event can carry it
whole and the name shows without a second round-trip. :func:`unknown_caller_card` is the
card of a number nobody owns yet.

Both are pure reads of ``crm_core`` and need no Flask request: routing builds cards inside
its own transaction, Celery tasks build them in workers. Values are raw text; whoever
renders a card escapes it (the console builds DOM nodes with ``textContent``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.errors import N_, NotFound
from crm_core.models import (
    Customer,
    CustomerRelation,
    CustomFieldDefinition,
    Interaction,
    RelationType,
    Ticket,
)
from crm_core.services.customers import relations_of
from crm_core.services.phones import format_phone, is_withheld, normalize_phone
from crm_core.services.service import customer_coverage

OPEN_TICKET_STATUSES = ("new", "open", "pending")
PHONE_CHANNELS = frozenset({"voice", "sms", "fax"})
RECENT_INTERACTIONS = 5
OPEN_TICKETS = 5
BIRTHDAY_WINDOW_DAYS = 30
# A merge chain longer than this is a data error; stop rather than loop.
_MAX_MERGE_HOPS = 10

# Sections other packages add to the card (hub imports none of them): name -> builder.
CardSection = Callable[[Session, int], Any]
_sections: dict[str, CardSection] = {}


def register_card_section(name: str, builder: CardSection) -> None:
    """Add ``card["sections"][name] = builder(session, customer_id)`` to every customer card.

    The builder must return JSON types and only read (campaigns adds the customer's survey
    answers this way). Registering a name again replaces its builder.
    """
    _sections[name] = builder


# What a channel adds to an interaction's detail in the console (the fax channel: its
# rendered pages). hub imports no channel; each registers its builder: channel -> builder.
InteractionExtra = Callable[[Session, Interaction], dict[str, Any] | None]
_extras: dict[str, InteractionExtra] = {}


def register_interaction_extra(channel: str, builder: InteractionExtra) -> None:
    """Add ``detail["extra"] = builder(session, interaction)`` to the console's detail of
    every ``channel`` interaction (JSON types only; read only; None adds nothing)."""
    _extras[channel] = builder


def interaction_extra(session: Session, interaction: Interaction) -> dict[str, Any] | None:
    """The channel's own additions to an interaction's detail, if it registered any."""
    builder = _extras.get(interaction.channel)
    return builder(session, interaction) if builder is not None else None


def _region(region: str | None) -> str | None:
    if region is not None:
        return region
    if has_app_context():
        settings = current_app.extensions.get("switchboard.settings")
        if settings is not None:
            return str(settings.default_region)
    return None


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    return value.isoformat()


def display_contact(kind: str, value: str, region: str | None) -> str:
    """A contact point as people read it: national format for home numbers."""
    if kind in ("phone", "fax"):
        return format_phone(value, region)
    return value


def next_birthday(birthday: dt.date, today: dt.date) -> dt.date:
    """The next date (today included) on which ``birthday`` is celebrated.

    People born on 29 February celebrate on 28 February in common years.
    """
    for year in (today.year, today.year + 1):
        try:
            candidate = birthday.replace(year=year)
        except ValueError:
            candidate = dt.date(year, 2, 28)
        if candidate >= today:
            return candidate
    raise AssertionError("unreachable: next year's birthday is always ahead")  # pragma: no cover


def upcoming_birthday(
    birthday: dt.date | None, today: dt.date, window_days: int = BIRTHDAY_WINDOW_DAYS
) -> dict[str, Any] | None:
    """``{"date", "in_days", "age"}`` when the birthday falls within ``window_days``."""
    if birthday is None:
        return None
    when = next_birthday(birthday, today)
    days = (when - today).days
    if days > window_days:
        return None
    return {"date": when.isoformat(), "in_days": days, "age": when.year - birthday.year}


def address_display(channel: str, address: str | None, region: str | None) -> str | None:
    """Who an interaction was from (or to), as people read it; None for withheld numbers."""
    if not address:
        return None
    if channel in PHONE_CHANNELS:
        if is_withheld(address):
            return None
        e164 = normalize_phone(address, region)
        return format_phone(e164, region) if e164 else address
    return address


def interaction_line(interaction: Interaction, region: str | None = None) -> dict[str, Any]:
    """One line of history: channel, direction, when, summary (and ids to open it)."""
    summary = interaction.summary or interaction.subject or ""
    if not summary and interaction.body_text:
        summary = " ".join(interaction.body_text.split())[:200]
    return {
        "id": interaction.id,
        "channel": interaction.channel,
        "direction": interaction.direction,
        "status": interaction.status,
        "at": _iso(interaction.created_at),
        "summary": summary,
        "subject": interaction.subject,
        "disposition": interaction.disposition,
        "ticket_id": interaction.ticket_id,
        "agent_id": interaction.agent_id,
        "from_display": address_display(
            interaction.channel, interaction.from_address, _region(region)
        ),
    }


def ticket_line(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "number": ticket.number,
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "updated_at": _iso(ticket.updated_at),
    }


def _live_customer(session: Session, customer_id: int) -> Customer:
    """The customer, following merges to the surviving card."""
    customer = session.get(Customer, customer_id)
    hops = 0
    while customer is not None and customer.merged_into_id is not None and hops < _MAX_MERGE_HOPS:
        customer = session.get(Customer, customer.merged_into_id)
        hops += 1
    if customer is None:
        raise NotFound(N_("customer %(id)s not found"), id=customer_id)
    return customer


def _organisation(session: Session, customer: Customer) -> dict[str, Any] | None:
    """The organisation a person works for (the most recent ``works_for`` relation)."""
    if customer.kind == "organisation":
        return None
    org = session.scalar(
        select(Customer)
        .join(CustomerRelation, CustomerRelation.to_customer_id == Customer.id)
        .join(RelationType, RelationType.id == CustomerRelation.relation_type_id)
        .where(
            CustomerRelation.from_customer_id == customer.id,
            RelationType.key == "works_for",
            Customer.merged_into_id.is_(None),
        )
        .order_by(CustomerRelation.created_at.desc(), CustomerRelation.id.desc())
        .limit(1)
    )
    if org is None:
        return None
    return {"id": org.id, "name": org.display_name, "vip": org.vip}


def _custom_fields(session: Session, customer: Customer) -> list[dict[str, Any]]:
    values = {v.field_id: v for v in customer.custom_values}
    out = []
    definitions = session.scalars(
        select(CustomFieldDefinition).order_by(
            CustomFieldDefinition.position, CustomFieldDefinition.id
        )
    )
    for definition in definitions:
        row = values.get(definition.id)
        value = None if row is None else row.value
        if isinstance(value, dt.date):
            value = value.isoformat()
        out.append(
            {
                "key": definition.key,
                "label": definition.label,
                "type": definition.field_type,
                "choices": list(definition.choices or []),
                "required": definition.required,
                "value": value,
            }
        )
    return out


def customer_card(
    session: Session,
    customer_id: int,
    *,
    region: str | None = None,
    today: dt.date | None = None,
    recent: int = RECENT_INTERACTIONS,
) -> dict[str, Any]:
    """The JSON-ready card of ``customer_id`` (a merged card resolves to its survivor).

    ``region`` decides which phone numbers show in national format (default: the app's
    ``default_region`` when an app context exists). ``today`` is for the birthday window
    (default: today in UTC). Raises :class:`crm_core.errors.NotFound` for an unknown id.
    """
    customer = _live_customer(session, customer_id)
    home = _region(region)
    today = today or dt.datetime.now(dt.UTC).date()
    open_tickets = session.scalars(
        select(Ticket)
        .where(Ticket.customer_id == customer.id, Ticket.status.in_(OPEN_TICKET_STATUSES))
        .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
        .limit(OPEN_TICKETS)
    )
    last = session.scalars(
        select(Interaction)
        .where(Interaction.customer_id == customer.id)
        .order_by(Interaction.created_at.desc(), Interaction.id.desc())
        .limit(recent)
    )
    return {
        "known": True,
        "id": customer.id,
        "name": customer.display_name,
        "kind": customer.kind,
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "organisation_name": customer.organisation_name,
        "organisation": _organisation(session, customer),
        "customer_class": customer.customer_class,
        "tags": [t.name for t in customer.tags],
        "vip": bool(customer.vip),
        "consent": {"no_calls": bool(customer.no_calls), "no_mail": bool(customer.no_mail)},
        "contact_points": [
            {
                "id": cp.id,
                "kind": cp.kind,
                "value": cp.value,
                "display": display_contact(cp.kind, cp.value, home),
                "label": cp.label,
                "is_primary": bool(cp.is_primary),
            }
            for cp in customer.contact_points
        ],
        "custom_fields": _custom_fields(session, customer),
        "relations": relations_of(session, customer.id),
        "open_tickets": [ticket_line(t) for t in open_tickets],
        "recent_interactions": [interaction_line(i, home) for i in last],
        "birthday": _iso(customer.birthday),
        "upcoming_birthday": upcoming_birthday(customer.birthday, today),
        # What they own, with warranties and service contracts in force today.
        "coverage": customer_coverage(session, customer.id, today),
        "language": customer.language,
        "timezone": customer.timezone,
        "city": customer.city,
        "country": customer.country,
        "notes": customer.notes,
        "updated_at": _iso(customer.updated_at),
        "sections": {name: build(session, customer.id) for name, build in _sections.items()},
    }


def unknown_caller_card(number: str | None, *, region: str | None = None) -> dict[str, Any]:
    """The card of a caller (or sender) no customer owns: the number, nicely formatted.

    Withheld caller IDs (``Anonymous``, ``+266696687``…) come back with ``withheld`` set and
    no number, so nobody offers to create a customer for them.
    """
    home = _region(region)
    if is_withheld(number):
        return {"known": False, "withheld": True, "number": None, "display": None, "raw": number}
    e164 = normalize_phone(number, home)
    if e164 is None:
        # An e-mail address or something unparseable: show it as it came.
        return {
            "known": False,
            "withheld": False,
            "number": number,
            "display": number,
            "raw": number,
        }
    return {
        "known": False,
        "withheld": False,
        "number": e164,
        "display": format_phone(e164, home),
        "raw": number,
    }
