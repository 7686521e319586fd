"""Outbound e-mail: the implementation of the hub's send-e-mail port, and auto-acknowledgements.

:class:`SmtpEmailSender` records the outbound interaction inside the caller's transaction,
with our own ``Message-ID`` and the ``In-Reply-To``/``References`` of the message it answers
(so the customer's next reply threads back), and delivers only after that transaction
commits: the ``email.outbound_recorded`` event queues the Celery task :func:`deliver_email`.
Delivery goes to the SMTP relay (smarthost) of the settings or, in the embedded default
without a relay, to ``<var_dir>/outbox/<interaction id>.eml``. A failed delivery is written
on the interaction (``payload["delivery"]``) and retried by Celery with backoff when a broker
runs the tasks.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import smtplib
import ssl
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any

from celery import shared_task
from flask import current_app
from flask_babel import force_locale, gettext, ngettext
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from channels.email.ingest import own_addresses, settings
from channels.email.models import EmailMessage
from crm_core.db import utcnow
from crm_core.events import DomainEvent
from crm_core.models import Interaction, Ticket
from crm_core.services.emails import normalize_email
from hub.db import db
from hub.i18n import LANGUAGES
from hub.models import Queue
from hub.ports import OutboundEmail, email_sender, record_outbound_email
from hub.replies import reply_subject
from hub.settings import Settings

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# The layout only: every sentence is translated (autoack_text).
AUTOACK_TEMPLATE = """{hello}

{opened}{expected}

{keep}

{signature}
"""


class SmtpEmailSender:
    """The send-e-mail port: record now, deliver after commit (relay or outbox)."""

    def send_email(self, session: Session, message: OutboundEmail) -> Interaction:
        conf = settings()
        interaction = record_outbound_email(session, message, status="queued")
        auto = "Auto-Submitted" in message.headers
        domain = conf.email_from_address.rsplit("@", 1)[-1] or "switchboard.localhost"
        message_id = f"sb.{interaction.id}.{secrets.token_hex(8)}@{domain}"
        in_reply_to, references = _thread_ids(session, message.in_reply_to_id)
        interaction.from_address = conf.email_from_address[:320]
        signature = "" if auto else _signature(session, conf, message.ticket_id)
        if signature:
            interaction.body_text = f"{message.body_text.rstrip()}\n\n-- \n{signature}"
        interaction.payload = {
            "headers": dict(message.headers),
            "message_id": message_id,
            "in_reply_to": in_reply_to,
            "references": references,
            "delivery": {"status": "queued", "attempts": 0, "error": None},
            **({"auto": "auto-acknowledgement"} if auto else {}),
        }
        session.add(
            EmailMessage(
                interaction_id=interaction.id,
                direction="outbound",
                kind="auto_ack" if auto else "reply",
                message_id=message_id,
                address=normalize_email(message.to),
            )
        )
        session.flush()
        return interaction


def _signature(session: Session, conf: Settings, ticket_id: int | None) -> str:
    """The signature of the ticket's queue (``email_signatures``), else the default one."""
    signatures = conf.email_signatures
    if not signatures:
        return ""
    ticket = session.get(Ticket, ticket_id) if ticket_id is not None else None
    queue = session.get(Queue, ticket.queue_id) if ticket and ticket.queue_id else None
    if queue is not None and queue.name in signatures:
        return signatures[queue.name].strip()
    return signatures.get("", "").strip()


def _thread_ids(session: Session, answered_id: int | None) -> tuple[str | None, list[str]]:
    """In-Reply-To and References for a message answering interaction ``answered_id``."""
    if answered_id is None:
        return None, []
    row = session.scalar(select(EmailMessage).where(EmailMessage.interaction_id == answered_id))
    answered = session.get(Interaction, answered_id)
    if row is None or row.message_id is None or row.message_id.startswith("sha256:"):
        return None, []
    refs: list[str] = []
    if answered is not None and answered.payload:
        refs = [r for r in answered.payload.get("references") or [] if isinstance(r, str)]
    refs = [*refs[-9:], row.message_id]
    return row.message_id, list(dict.fromkeys(refs))


def on_outbound_recorded(event: DomainEvent) -> None:
    """After commit: queue the delivery of an outbound e-mail this channel recorded."""
    interaction_id = event.data.get("interaction_id")
    if interaction_id is None:
        return
    try:
        deliver_email.delay(int(interaction_id))
    except Exception:  # the interaction shows "queued"; `switchboard email retry` resends
        log.exception("could not queue delivery of interaction %s", interaction_id)


@shared_task(bind=True, name="channels.email.deliver", max_retries=MAX_ATTEMPTS)
def deliver_email(self: Any, interaction_id: int) -> str:
    """Send one recorded outbound e-mail; idempotent (a sent message is not sent again)."""
    status, error = deliver(interaction_id)
    if status == "failed" and not self.app.conf.task_always_eager:
        attempt = self.request.retries
        if attempt < MAX_ATTEMPTS:
            raise self.retry(countdown=min(3600, 30 * 2**attempt))
    return status if error is None else f"{status}: {error}"


def deliver(interaction_id: int) -> tuple[str, str | None]:
    """Deliver now; returns (status, error). Writes the outcome on the interaction."""
    conf = settings()
    maker = db.sessionmaker_for(current_app._get_current_object())  # type: ignore[attr-defined]
    with maker() as session:
        interaction = session.get(Interaction, interaction_id)
        if interaction is None or not interaction.payload:
            return "missing", None
        delivery = dict(interaction.payload.get("delivery") or {})
        if not delivery or delivery.get("status") == "sent":
            return str(delivery.get("status") or "not ours"), None
        mime = build_mime(conf, interaction)
        error: str | None = None
        try:
            where = _send(conf, mime, interaction.id)
        except (OSError, smtplib.SMTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"[:1000]
            where = None
        delivery["attempts"] = int(delivery.get("attempts") or 0) + 1
        if error is None:
            delivery.update(status="sent", error=None, via=where, sent_at=utcnow().isoformat())
            interaction.status = "closed"
            interaction.ended_at = utcnow()
        else:
            log.warning("delivery of interaction %s failed: %s", interaction_id, error)
            delivery.update(status="failed", error=error, failed_at=utcnow().isoformat())
        interaction.payload = {**interaction.payload, "delivery": delivery}
        session.commit()
        return str(delivery["status"]), error


def build_mime(conf: Settings, interaction: Interaction) -> MimeMessage:
    payload = interaction.payload or {}
    msg = MimeMessage()
    msg["From"] = formataddr((conf.email_from_name, conf.email_from_address))
    msg["To"] = interaction.to_address or ""
    msg["Subject"] = interaction.subject or ""
    msg["Date"] = format_datetime(interaction.created_at.astimezone(dt.UTC))
    msg["Message-ID"] = f"<{payload['message_id']}>"
    if payload.get("in_reply_to"):
        msg["In-Reply-To"] = f"<{payload['in_reply_to']}>"
    if payload.get("references"):
        msg["References"] = " ".join(f"<{r}>" for r in payload["references"])
    for name, value in (payload.get("headers") or {}).items():
        if name.lower() not in {"from", "to", "subject", "date", "message-id"}:
            msg[name] = value
    if interaction.ticket_id is not None:
        msg["X-Switchboard-Ticket"] = str(interaction.ticket_id)
    msg.set_content(interaction.body_text or "")
    return msg


def _send(conf: Settings, mime: MimeMessage, interaction_id: int) -> str:
    if not conf.email_relay_host:
        outbox = Path(conf.var_dir) / "outbox"
        outbox.mkdir(parents=True, exist_ok=True)
        target = outbox / f"{interaction_id}.eml"
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(mime.as_bytes())
        tmp.replace(target)
        return f"outbox:{target.name}"
    host, port = conf.email_relay_host, conf.email_relay_port
    security = conf.email_relay_security.lower()
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if security == "ssl":
        client = smtplib.SMTP_SSL(host, port, timeout=60, context=context)
    else:
        client = smtplib.SMTP(host, port, timeout=60)
    with client:
        client.ehlo()
        if security == "starttls":
            client.starttls(context=context)
            client.ehlo()
        if conf.email_relay_username:
            client.login(conf.email_relay_username, conf.email_relay_password)
        client.send_message(mime, from_addr=conf.email_from_address)
    return f"smtp:{host}:{port}"


# --- auto-acknowledgement ------------------------------------------------------------------


@shared_task(name="channels.email.autoack")
def autoack_task(interaction_id: int) -> bool:
    """Acknowledge the new ticket of inbound ``interaction_id`` (see :func:`send_autoack`)."""
    return send_autoack(interaction_id)


def send_autoack(interaction_id: int) -> bool:
    """Acknowledge the new ticket of inbound ``interaction_id``; False when we must not.

    The caller has already ruled out machine-sent mail (RFC 3834, :func:`parse.auto_reason`);
    here we refuse our own addresses and senders over the per-sender rate limit, so that
    two auto-responders can never keep each other busy.
    """
    conf = settings()
    if not conf.email_autoack:
        return False
    with db.transaction() as session:
        inbound = session.get(Interaction, interaction_id)
        if inbound is None or inbound.ticket_id is None:
            return False
        to = normalize_email(inbound.from_address)
        if to is None or to in own_addresses(conf):
            return False
        already = session.scalar(
            select(EmailMessage.id)
            .join(Interaction, Interaction.id == EmailMessage.interaction_id)
            .where(EmailMessage.kind == "auto_ack", Interaction.parent_id == inbound.id)
        )
        if already is not None:  # a retried task: one ack per message
            return False
        since = utcnow() - dt.timedelta(seconds=conf.email_autoack_window_seconds)
        recent = session.scalar(
            select(func.count())
            .select_from(EmailMessage)
            .where(
                EmailMessage.kind == "auto_ack",
                EmailMessage.address == to,
                EmailMessage.created_at >= since,
            )
        )
        if (recent or 0) >= conf.email_autoack_limit:
            log.info("auto-ack to %s skipped: rate limit", to)
            return False
        ticket = session.get(Ticket, inbound.ticket_id)
        assert ticket is not None
        email_sender().send_email(
            session,
            OutboundEmail(
                to=to,
                subject=reply_subject(ticket),
                body_text=autoack_text(session, conf, ticket, inbound),
                customer_id=ticket.customer_id,
                ticket_id=ticket.id,
                in_reply_to_id=inbound.id,
                headers={
                    "Auto-Submitted": "auto-replied",
                    "X-Auto-Response-Suppress": "All",
                    "Precedence": "auto_reply",
                },
            ),
        )
    return True


def autoack_text(session: Session, conf: Settings, ticket: Ticket, inbound: Interaction) -> str:
    """The acknowledgement in the customer's preferred language (customers.language),
    else English; the expected answer time in hours under a day, in days from one day."""
    expected_seconds = None
    if ticket.queue_id is not None:
        queue = session.get(Queue, ticket.queue_id)
        target = ((queue.sla_targets or {}).get("email") or {}) if queue else {}
        seconds = target.get("seconds") if isinstance(target, dict) else None
        if isinstance(seconds, int) and seconds > 0:
            expected_seconds = seconds
    customer = ticket.customer
    first = (customer.first_name or "") if customer is not None else ""
    signature = _signature(session, conf, ticket.id) or conf.email_from_name
    if conf.email_autoack_template:  # the deployment's own text, with the customer's fields
        try:
            return conf.email_autoack_template.format(
                first_name=first,
                last_name=(customer.last_name or "") if customer is not None else "",
                name=customer.display_name if customer is not None else "",
                number=ticket.number or "",
                subject=ticket.subject,
                expected=_hours(expected_seconds),
                signature=signature,
            )
        except (KeyError, IndexError, ValueError):  # a bad template must not block the ack
            log.warning("SWITCHBOARD_EMAIL_AUTOACK_TEMPLATE has an unknown field: built-in used")
    wanted = (customer.language or "") if customer is not None else ""
    language = wanted.replace("_", "-").split("-")[0].lower()
    with force_locale(language if language in LANGUAGES else "en"):
        expected = ""
        if expected_seconds is not None and expected_seconds < 86400:
            hours = max(1, round(expected_seconds / 3600))
            expected = ngettext(
                "We usually answer within %(num)d hour.",
                "We usually answer within %(num)d hours.",
                hours,
            )
        elif expected_seconds is not None:
            days = round(expected_seconds / 86400)
            expected = ngettext(
                "We usually answer within %(num)d day.",
                "We usually answer within %(num)d days.",
                days,
            )
        return AUTOACK_TEMPLATE.format(
            hello=gettext("Hello %(name)s,", name=first) if first else gettext("Hello,"),
            opened=gettext(
                "thank you for your message. We have opened ticket %(number)s for it.",
                number=ticket.number,
            ),
            expected=f" {expected}" if expected else "",
            keep=gettext(
                "When you write to us about it again, please keep [%(number)s] in the "
                "subject: simply reply to this e-mail.",
                number=ticket.number,
            ),
            signature=signature,
        )


def _hours(seconds: int | None) -> str:
    return str(max(1, round(seconds / 3600))) if seconds else ""
