"""One inbound e-mail, from raw bytes to a committed ticket — or a committed quarantine entry.

Both the SMTP listener and the IMAP poller call :func:`ingest`; it returns only after
something durable exists for the message (the interaction through ``hub.intake.receive``, or
a :class:`QuarantinedEmail` row with the raw bytes in the blob store). When neither could be
committed it raises :class:`TemporaryFailure`: the listener answers 451, the poller leaves
the message unseen and tries again later.

Which failures are whose: a database error (down, locked, full) is ours and temporary; a
message we cannot parse, or whose content trips our code, is the message's and goes to the
quarantine, from where an admin can re-process it once the cause is fixed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app
from sqlalchemy import func, select
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from channels.email.models import EmailMessage, QuarantinedEmail
from channels.email.parse import (
    ParsedMail,
    Unparseable,
    clean_text,
    dedupe_key,
    parse,
    raw_message_id,
    summary_payload,
)
from crm_core.db import utcnow
from crm_core.models import Interaction, Ticket
from crm_core.services.blobs import BlobStore
from crm_core.services.emails import normalize_email
from crm_core.services.tickets import TICKET_NUMBER_PREFIX, do_create_ticket, do_update_ticket
from hub.db import db
from hub.intake import InboundAttachment, InboundEvent, IntakeError, receive
from hub.models import Queue
from hub.settings import Settings

log = logging.getLogger(__name__)

OUTCOMES = ("ticket", "reply", "quarantined", "duplicate", "gateway")
_TAG = re.compile(rf"\[(?:{re.escape(TICKET_NUMBER_PREFIX)}|#)(\d{{1,12}})\]", re.IGNORECASE)


class TemporaryFailure(RuntimeError):
    """Nothing about this message could be committed: ask the sender to retry (SMTP 451)."""


@dataclass(frozen=True)
class Envelope:
    """How the message reached us."""

    source: str
    mail_from: str | None = None
    rcpt_tos: tuple[str, ...] = ()
    queue: str | None = None


@dataclass(frozen=True)
class IngestResult:
    outcome: str
    interaction_id: int | None = None
    ticket_id: int | None = None
    quarantine_id: int | None = None
    acknowledged: bool = False
    details: dict[str, Any] = field(default_factory=dict)


def settings() -> Settings:
    value: Settings = current_app.extensions["switchboard.settings"]
    return value


def route_recipient(conf: Settings, address: str) -> tuple[bool, str | None]:
    """Do we accept mail for ``address``, and for which queue (by name)?"""
    addr = address.strip().strip("<>").lower()
    mapping = {k.strip().lower(): v for k, v in conf.email_addresses.items()}
    if addr in mapping:
        return True, mapping[addr] or None
    domain = "@" + addr.rsplit("@", 1)[-1]
    if "@" in addr and domain in mapping:
        return True, mapping[domain] or None
    return False, None


def own_addresses(conf: Settings) -> set[str]:
    addrs = {k.strip().lower() for k in conf.email_addresses if not k.startswith("@")}
    addrs.add(conf.email_from_address.lower())
    return addrs


# --- the pipeline --------------------------------------------------------------------------


def ingest(raw: bytes, envelope: Envelope) -> IngestResult:
    """Store ``raw`` as a ticket, a reply on one, or in the quarantine; exactly once.

    Runs inside an app context. Raises :class:`TemporaryFailure` when nothing was committed.
    """
    try:
        parsed = parse(raw, envelope_from=envelope.mail_from)
    except Unparseable as exc:
        return _quarantine(raw, envelope, str(exc))
    except Exception as exc:  # a parser bug on strange input: keep the bytes, say why
        log.exception("parser failed on a message from %s", envelope.source)
        return _quarantine(raw, envelope, f"parser error: {type(exc).__name__}: {exc}")
    return _ingest_parsed(raw, parsed, envelope)


# A gateway turns mail for some of our addresses into another channel's interaction (the
# fax channel's e-mail-to-fax gateway). It returns None for mail that is not its own.
Gateway = Callable[..., Interaction | None]
GATEWAYS = "switchboard.email_gateways"


def register_gateway(app: Flask, gateway: Gateway) -> None:
    """Let ``gateway(to_address=, from_address=, message_id=, subject=, attachments=)`` take
    mail before it becomes a ticket (wired by the ``channels`` package root)."""
    gateways = app.extensions.setdefault(GATEWAYS, [])
    if gateway not in gateways:
        gateways.append(gateway)


def _through_gateway(parsed: ParsedMail, envelope: Envelope) -> Interaction | None:
    gateways: list[Gateway] = current_app.extensions.get(GATEWAYS, [])
    recipients = envelope.rcpt_tos or tuple(parsed.to)
    for gateway in gateways:
        for rcpt in recipients:
            taken = gateway(
                to_address=rcpt,
                from_address=parsed.from_address,
                message_id=parsed.dedupe_key,
                subject=parsed.subject,
                attachments=[(p.filename, p.content_type, p.data) for p in parsed.attachments],
            )
            if taken is not None:
                return taken
    return None


def _ingest_parsed(raw: bytes, parsed: ParsedMail, envelope: Envelope) -> IngestResult:
    event = build_event(raw, parsed, envelope)
    try:
        gated = _through_gateway(parsed, envelope)
        if gated is not None:
            outcome = "duplicate" if gated.was_duplicate else "gateway"
            return IngestResult(outcome, interaction_id=gated.id, ticket_id=gated.ticket_id)
        interaction = receive(event)
    except (IntakeError, SQLAlchemyError) as exc:
        cause = exc.__cause__ if isinstance(exc, IntakeError) else exc
        if isinstance(cause, SQLAlchemyError) and not isinstance(cause, DataError):
            log.warning("database failure on %s: %s", envelope.source, cause)
            raise TemporaryFailure(f"database unavailable: {type(cause).__name__}") from exc
        log.exception("intake failed on %s", parsed.dedupe_key)
        return _quarantine(raw, envelope, f"intake failed: {type(cause).__name__}: {cause}")
    if interaction.was_duplicate:
        return IngestResult(
            "duplicate", interaction_id=interaction.id, ticket_id=interaction.ticket_id
        )
    outcome = _outcome(interaction)
    acknowledged = False
    if outcome == "ticket" and parsed.auto_reason is None:
        from celery.result import EagerResult

        from channels.email.outbound import autoack_task

        try:
            # A task: with a broker the ack leaves the SMTP path; eager, it runs right here.
            queued = autoack_task.delay(interaction.id)
            acknowledged = isinstance(queued, EagerResult) and bool(queued.result)
        except Exception:  # the message is safe; a failed ack must not make the sender retry
            log.exception("auto-acknowledgement of interaction %s failed", interaction.id)
    return IngestResult(
        outcome,
        interaction_id=interaction.id,
        ticket_id=interaction.ticket_id,
        acknowledged=acknowledged,
    )


def _outcome(interaction: Interaction) -> str:
    with db.sessionmaker_for(current_app._get_current_object())() as session:  # type: ignore[attr-defined]
        first = session.scalar(
            select(func.min(Interaction.id)).where(Interaction.ticket_id == interaction.ticket_id)
        )
    return "ticket" if first == interaction.id else "reply"


def build_event(raw: bytes, parsed: ParsedMail, envelope: Envelope) -> InboundEvent:
    payload = summary_payload(parsed)
    payload["envelope"] = {
        "source": clean_text(envelope.source),
        "mail_from": clean_text(envelope.mail_from),
        "rcpt_to": [clean_text(r) for r in envelope.rcpt_tos][:50],
    }
    to_address: str | None = None
    if envelope.rcpt_tos:
        to_address = envelope.rcpt_tos[0]
    elif parsed.to:
        to_address = parsed.to[0]
    return InboundEvent(
        channel="email",
        external_id=parsed.dedupe_key,
        from_address=parsed.from_address,
        from_name=parsed.from_name,
        to_address=to_address,
        subject=parsed.subject,
        body_text=parsed.body_text,
        body_html=parsed.body_html,
        attachments=tuple(
            InboundAttachment(filename=p.filename, content_type=p.content_type, data=p.data)
            for p in parsed.attachments
        ),
        payload=payload,
        raw=raw,
        received_at=utcnow(),
        headers={
            "message_id": parsed.message_id,
            "in_reply_to": parsed.in_reply_to,
            "references": parsed.references,
            "cc": parsed.cc,
            "queue": envelope.queue,
            "dsn_message_ids": parsed.dsn_message_ids,
            "is_dsn": parsed.is_dsn,
        },
    )


# --- the quarantine ------------------------------------------------------------------------


def _quarantine(raw: bytes, envelope: Envelope, reason: str) -> IngestResult:
    try:
        qid = quarantine(raw, envelope, reason)
    except Exception as exc:
        log.exception("could not quarantine a message from %s", envelope.source)
        raise TemporaryFailure(f"could not store the message: {type(exc).__name__}") from exc
    return IngestResult("quarantined", quarantine_id=qid, details={"reason": reason})


def quarantine(raw: bytes, envelope: Envelope, reason: str) -> int:
    """Keep ``raw`` unchanged in the quarantine (once per dedupe key); returns the row id."""
    conf = settings()
    key = dedupe_key(raw, raw_message_id(raw))
    sha = BlobStore(conf.effective_blob_dir).put(raw)
    maker = db.sessionmaker_for(current_app._get_current_object())  # type: ignore[attr-defined]
    with maker() as session:
        found = session.scalar(
            select(QuarantinedEmail.id).where(QuarantinedEmail.dedupe_key == key)
        )
        if found is not None:
            return found
        row = QuarantinedEmail(
            dedupe_key=key,
            raw_sha256=sha,
            size=len(raw),
            reason=(clean_text(reason) or "unknown")[:1000],
            source=(clean_text(envelope.source) or "")[:300],
            mail_from=(clean_text(envelope.mail_from) or None),
            recipients=[clean_text(r) or "" for r in envelope.rcpt_tos][:50],
        )
        session.add(row)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            found = session.scalar(
                select(QuarantinedEmail.id).where(QuarantinedEmail.dedupe_key == key)
            )
            if found is None:
                raise
            return found
        log.warning("quarantined message %s from %s: %s", row.id, envelope.source, reason)
        return row.id


def do_reprocess_quarantined(quarantine_id: int) -> IngestResult:
    """Try a quarantined message again (after a fix); on success it is released.

    Returns the new result; a message that still fails stays held with the new reason.
    """
    conf = settings()
    maker = db.sessionmaker_for(current_app._get_current_object())  # type: ignore[attr-defined]
    with maker() as session:
        row = session.get(QuarantinedEmail, quarantine_id)
        if row is None:
            raise LookupError(f"no quarantined message {quarantine_id}")
        raw = BlobStore(conf.effective_blob_dir).get(row.raw_sha256)
        envelope = Envelope(
            source=f"reprocess:{row.source}"[:300],
            mail_from=row.mail_from,
            rcpt_tos=tuple(row.recipients or ()),
        )
    try:
        parsed = parse(raw, envelope_from=envelope.mail_from)
        event = build_event(raw, parsed, envelope)
        interaction = receive(event)
    except IntakeError as exc:
        reason = f"re-process failed: {type(exc.__cause__).__name__}: {exc.__cause__}"
        return _mark_quarantine(quarantine_id, "held", reason, None)
    except Exception as exc:
        return _mark_quarantine(quarantine_id, "held", f"re-process failed: {exc}", None)
    return _mark_quarantine(quarantine_id, "released", None, interaction)


def _mark_quarantine(
    quarantine_id: int, status: str, reason: str | None, interaction: Interaction | None
) -> IngestResult:
    maker = db.sessionmaker_for(current_app._get_current_object())  # type: ignore[attr-defined]
    with maker() as session:
        row = session.get(QuarantinedEmail, quarantine_id)
        assert row is not None
        row.status = status
        if reason:
            row.reason = reason[:1000]
        if interaction is not None:
            row.interaction_id = interaction.id
        session.commit()
    if interaction is None:
        return IngestResult("quarantined", quarantine_id=quarantine_id, details={"reason": reason})
    return IngestResult(
        "duplicate" if interaction.was_duplicate else _outcome(interaction),
        interaction_id=interaction.id,
        ticket_id=interaction.ticket_id,
        quarantine_id=quarantine_id,
    )


# --- threading (runs inside the intake transaction) ----------------------------------------


def thread_email(session: Session, event: InboundEvent, interaction: Interaction) -> None:
    """Put a new e-mail interaction into its ticket, or open one; remember its Message-ID.

    A reply joins a ticket by ``In-Reply-To``/``References`` against the Message-IDs we
    stored (ours and the customer's), then by a ticket tag in the subject (``[SB-000123]``,
    ``[#123]``), and only when the sender is the ticket's customer or already wrote or was
    copied on it. A bounce that quotes one of our own messages joins that message's ticket.
    A reply to a ticket closed longer than ``email_reopen_days`` opens a follow-up instead.
    """
    conf = settings()
    info = event.headers
    queue_id = _queue_id(session, info.get("queue"))
    interaction.queue_id = queue_id
    sender = normalize_email(event.from_address)
    ticket = _ticket_by_headers(session, info, interaction, sender)
    if ticket is None:
        ticket = _ticket_by_tag(session, event.subject, interaction, sender)
    follow_up_of: int | None = None
    if ticket is not None:
        ticket, follow_up_of = _reopen(session, ticket, conf.email_reopen_days)
    if ticket is None:
        subject = (event.subject or "").strip() or "(no subject)"
        ticket = do_create_ticket(
            session, subject=subject, customer_id=interaction.customer_id, queue_id=queue_id
        )
        if follow_up_of is not None:
            interaction.payload = {**(interaction.payload or {}), "follow_up_of": follow_up_of}
    interaction.ticket_id = ticket.id
    session.add(
        EmailMessage(
            interaction_id=interaction.id,
            direction="inbound",
            kind="message",
            message_id=info.get("message_id"),
            address=sender,
        )
    )
    session.flush()


def _queue_id(session: Session, name: str | None) -> int | None:
    if not name:
        return None
    return session.scalar(select(Queue.id).where(Queue.name == name))


def _ticket_by_headers(
    session: Session, info: dict[str, Any], interaction: Interaction, sender: str | None
) -> Ticket | None:
    wanted = list(info.get("in_reply_to") or []) + list(reversed(info.get("references") or []))
    dsn_ids = list(info.get("dsn_message_ids") or [])
    ids = list(dict.fromkeys(wanted + dsn_ids))
    if not ids:
        return None
    rows = session.execute(
        select(EmailMessage.message_id, EmailMessage.direction, Interaction)
        .join(Interaction, Interaction.id == EmailMessage.interaction_id)
        .where(EmailMessage.message_id.in_(ids), Interaction.ticket_id.is_not(None))
        .order_by(EmailMessage.id.desc())
    ).all()
    by_id: dict[str, list[tuple[str, Interaction]]] = {}
    for mid, direction, found in rows:
        if mid is not None:
            by_id.setdefault(mid, []).append((direction, found))
    for mid in ids:
        for direction, found in by_id.get(mid, []):
            ticket = session.get(Ticket, found.ticket_id)
            if ticket is None:
                continue
            if info.get("is_dsn") and direction == "outbound":
                # A bounce of our own mail: show it on that ticket and on the message.
                found.payload = {
                    **(found.payload or {}),
                    "bounced": True,
                    "bounce_interaction_id": interaction.id,
                }
                return ticket
            if _sender_belongs(session, ticket, interaction, sender):
                return ticket
    return None


def _ticket_by_tag(
    session: Session, subject: str | None, interaction: Interaction, sender: str | None
) -> Ticket | None:
    for match in _TAG.finditer(subject or ""):
        number = f"{TICKET_NUMBER_PREFIX}{int(match.group(1)):06d}"
        ticket = session.scalar(select(Ticket).where(Ticket.number == number))
        if ticket is not None and _sender_belongs(session, ticket, interaction, sender):
            return ticket
    return None


def _sender_belongs(
    session: Session, ticket: Ticket, interaction: Interaction, sender: str | None
) -> bool:
    if ticket.customer_id is not None and interaction.customer_id == ticket.customer_id:
        return True
    if sender is None:
        return False
    rows = session.execute(
        select(
            Interaction.direction,
            Interaction.from_address,
            Interaction.to_address,
            Interaction.payload,
        ).where(
            Interaction.ticket_id == ticket.id,
            Interaction.channel == "email",
            Interaction.id != interaction.id,
        )
    ).all()
    for direction, from_address, to_address, payload in rows:
        people = [from_address] if direction == "inbound" else [to_address]
        people += list((payload or {}).get("cc") or [])
        if sender in {normalize_email(p) for p in people if p}:
            return True
    return False


def _reopen(session: Session, ticket: Ticket, reopen_days: int) -> tuple[Ticket | None, int | None]:
    """A customer wrote again: a solved/closed ticket reopens, or (too old) gets a follow-up."""
    if ticket.status in ("solved", "closed"):
        ended = ticket.closed_at or ticket.solved_at
        if ended is not None and (utcnow() - ended).days >= reopen_days:
            return None, ticket.id
        do_update_ticket(session, ticket, {"status": "open"})
    elif ticket.status == "pending":
        do_update_ticket(session, ticket, {"status": "open"})
    return ticket, None
