"""The single door every channel walks through.

A channel adapter checks what it received, builds an :class:`InboundEvent` and calls
:func:`receive`. In one transaction ``receive`` dedupes on (channel, external id),
identifies the customer, creates the interaction, lets the channel thread it into a ticket,
enqueues it and commits; only then is ``interaction.created`` published, and only then may
the adapter acknowledge (SMTP 250, HTTP 200). Any exception leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_core.db import utcnow
from crm_core.errors import Conflict
from crm_core.events import DomainEvent, publish_on_commit
from crm_core.models import Customer, Interaction
from crm_core.models.interactions import CHANNELS, DIRECTIONS
from crm_core.services.blobs import BlobStore, do_attach_file
from crm_core.services.customers import do_create_customer
from crm_core.services.emails import normalize_email
from crm_core.services.identify import identify_by_email, identify_by_phone
from crm_core.services.phones import normalize_phone
from hub.events import INTERACTION_CREATED

log = logging.getLogger(__name__)

PHONE_CHANNELS = frozenset({"voice", "sms", "fax"})


@dataclass(frozen=True)
class InboundAttachment:
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(frozen=True)
class InboundEvent:
    """What a channel received, in channel-neutral terms."""

    channel: str
    external_id: str | None
    from_address: str | None = None
    to_address: str | None = None
    direction: str = "inbound"
    subject: str | None = None
    body_text: str | None = None
    body_html: str | None = None
    from_name: str | None = None
    attachments: tuple[InboundAttachment, ...] = ()
    payload: dict[str, Any] | None = None
    raw: bytes | None = None
    received_at: dt.datetime = field(default_factory=utcnow)
    # Channel-specific facts threading needs (Message-ID, In-Reply-To, References...).
    headers: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"unknown channel {self.channel!r}")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"unknown direction {self.direction!r}")
        if self.external_id is not None and not (0 < len(self.external_id) <= 255):
            raise ValueError("external_id must be 1 to 255 characters")


# A threader puts a new interaction into its ticket (e-mail replies, form follow-ups).
Threader = Callable[[Session, InboundEvent, Interaction], None]
_threaders: dict[str, Threader] = {}
# Enqueuers decide where a new interaction waits (the hub's router registers one).
Enqueuer = Callable[[Session, InboundEvent, Interaction], None]
_enqueuers: list[Enqueuer] = []


def register_threader(channel: str, threader: Threader) -> None:
    """Let ``channel`` attach its new interactions to tickets inside the intake transaction."""
    _threaders[channel] = threader


def register_enqueuer(enqueuer: Enqueuer) -> None:
    if enqueuer not in _enqueuers:
        _enqueuers.append(enqueuer)


class IntakeError(RuntimeError):
    """Intake could not commit: the channel must answer "try again" (SMTP 451, HTTP 503)."""


def receive(event: InboundEvent, *, session: Session | None = None) -> Interaction:
    """Store ``event`` as an interaction, exactly once. Returns it (new or the earlier one).

    ``interaction.was_duplicate`` tells whether this delivery was a repeat. Raises
    :class:`IntakeError` when the transaction could not commit.
    """
    own_session = session is None
    if session is None:
        from hub.db import db

        session = db.sessionmaker_for(current_app._get_current_object())()  # type: ignore[attr-defined]
    try:
        interaction = _receive(session, event)
    except IntegrityError:
        session.rollback()
        existing = _existing(session, event)
        if existing is None:  # pragma: no cover - a clash on something other than the key
            raise
        existing.was_duplicate = True
        return existing
    except Exception as exc:
        session.rollback()
        raise IntakeError(f"intake failed for {event.channel} {event.external_id}") from exc
    finally:
        if own_session:
            session.close()
    return interaction


def _existing(session: Session, event: InboundEvent) -> Interaction | None:
    if event.external_id is None:
        return None
    return session.scalar(
        select(Interaction).where(
            Interaction.channel == event.channel, Interaction.external_id == event.external_id
        )
    )


def _receive(session: Session, event: InboundEvent) -> Interaction:
    if event.external_id is not None:
        existing = _existing(session, event)
        if existing is not None:
            existing.was_duplicate = True
            return existing
    settings = current_app.extensions["switchboard.settings"]
    interaction = Interaction(
        channel=event.channel,
        direction=event.direction,
        status="new",
        external_id=event.external_id,
        from_address=_clip(event.from_address, 320),
        to_address=_clip(event.to_address, 320),
        subject=_clip(event.subject, 998),
        body_text=event.body_text,
        body_html=event.body_html,
        summary=_summary(event),
        payload=event.payload,
        received_at=event.received_at,
    )
    session.add(interaction)
    # The unique (channel, external_id) constraint is the real dedupe: a concurrent twin
    # blocks here until the first commits, then fails and is answered with the first's row.
    session.flush()
    customer = _identify(session, event, settings.default_region)
    if customer is not None:
        interaction.customer_id = customer.id
    store = BlobStore(settings.effective_blob_dir)
    if event.raw is not None:
        interaction.raw_sha256 = store.put(event.raw)
    for att in event.attachments:
        do_attach_file(
            session,
            store,
            data=att.data,
            filename=att.filename,
            declared_type=att.content_type,
            max_size=settings.max_upload_bytes,
            customer_id=interaction.customer_id,
            interaction_id=interaction.id,
        )
    threader = _threaders.get(event.channel)
    if threader is not None:
        threader(session, event, interaction)
    interaction.status = "queued"
    for enqueue in _enqueuers:
        enqueue(session, event, interaction)
    publish_on_commit(
        session,
        DomainEvent(
            INTERACTION_CREATED,
            {
                "interaction_id": interaction.id,
                "channel": interaction.channel,
                "customer_id": interaction.customer_id,
                "ticket_id": interaction.ticket_id,
            },
        ),
    )
    session.commit()
    interaction.was_duplicate = False
    return interaction


def _identify(session: Session, event: InboundEvent, region: str) -> Customer | None:
    if event.channel in PHONE_CHANNELS:
        # Unknown callers stay unidentified; the number is kept on the interaction.
        return identify_by_phone(session, event.from_address, region)
    customer = identify_by_email(session, event.from_address)
    if customer is not None or event.channel not in ("email", "webform"):
        return customer
    addr = normalize_email(event.from_address)
    if addr is None:
        if event.channel == "webform" and event.payload:
            return identify_by_phone(session, str(event.payload.get("phone") or ""), region)
        return None
    return _new_customer_for(session, addr, event)


def _new_customer_for(session: Session, addr: str, event: InboundEvent) -> Customer:
    """An unknown e-mail sender becomes a customer (a savepoint absorbs a concurrent twin)."""
    name = (event.from_name or "").strip() or addr.split("@", 1)[0]
    first, _, last = name.partition(" ")
    try:
        with session.begin_nested():
            return do_create_customer(
                session,
                fields={
                    "kind": "person",
                    "first_name": first[:120] or None,
                    "last_name": last[:120] or None,
                },
                contact_points=[{"kind": "email", "value": addr, "is_primary": True}],
            )
    except (IntegrityError, Conflict):
        found = identify_by_email(session, addr)
        if found is None:
            raise
        return found


def _clip(value: str | None, size: int) -> str | None:
    if value is None:
        return None
    return value[:size]


def _summary(event: InboundEvent) -> str | None:
    text = event.subject or event.body_text
    if not text:
        if event.channel in PHONE_CHANNELS:
            number = normalize_phone(event.from_address) or event.from_address
            return f"{event.channel} from {number}" if number else None
        return None
    return " ".join(text.split())[:500]
