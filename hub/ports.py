"""Outbound ports: the interfaces through which the hub (and the console) reach channels.

Nothing outside a channel talks SMTP, Twilio or a fax provider: the console hands a reply
to :func:`email_sender`, a fax to :func:`fax_sender`, a click-to-call to
:func:`call_placer`, and the channel that implements the port does the rest. A channel
registers its implementation on the app in its ``init_app`` (``register_email_sender``,
``register_fax_sender``, ``register_call_placer``); until one is registered the Null
implementation of the embedded default records the interaction in the customer's history
and sends nothing. Every implementation stores the same outbound interaction through the
``record_outbound_*`` helpers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session

from crm_core.db import utcnow
from crm_core.events import DomainEvent, publish_on_commit
from crm_core.models import Interaction

log = logging.getLogger(__name__)

EMAIL_OUTBOUND_RECORDED = "email.outbound_recorded"


@dataclass(frozen=True)
class OutboundEmail:
    """A message to send, in channel-neutral terms (ids, never ORM objects)."""

    to: str
    subject: str
    body_text: str
    author_id: int | None = None
    customer_id: int | None = None
    ticket_id: int | None = None
    # The interaction this answers (threading: In-Reply-To / References).
    in_reply_to_id: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


class EmailSender(Protocol):
    """Send (or queue for sending) one e-mail and record it as an outbound interaction.

    Called inside the caller's transaction: an implementation records the interaction on
    ``session`` and must not deliver before that transaction commits (queue delivery
    after commit). Returns the recorded interaction.
    """

    def send_email(self, session: Session, message: OutboundEmail) -> Interaction: ...


def _record_outbound(session: Session, event_type: str, **columns: Any) -> Interaction:
    """Store an outbound interaction and announce it after commit: the part of every port
    implementation that is the same whatever the channel."""
    interaction = Interaction(direction="outbound", **columns)
    session.add(interaction)
    session.flush()
    publish_on_commit(
        session,
        DomainEvent(
            event_type,
            {
                "interaction_id": interaction.id,
                "customer_id": interaction.customer_id,
                "ticket_id": interaction.ticket_id,
            },
        ),
    )
    return interaction


def _implementation(name: str, default: Any) -> Any:
    """The implementation registered for port ``name`` on the current app, or ``default``."""
    from flask import current_app

    return current_app.extensions.get(f"switchboard.port.{name}", default)


def _register(app: Any, name: str, implementation: Any) -> None:
    app.extensions[f"switchboard.port.{name}"] = implementation


def record_outbound_email(session: Session, message: OutboundEmail, *, status: str) -> Interaction:
    """The outbound interaction of ``message``: what every implementation stores."""
    return _record_outbound(
        session,
        EMAIL_OUTBOUND_RECORDED,
        channel="email",
        status=status,
        customer_id=message.customer_id,
        ticket_id=message.ticket_id,
        parent_id=message.in_reply_to_id,
        agent_id=message.author_id,
        to_address=message.to[:320],
        subject=message.subject[:998],
        body_text=message.body_text,
        summary=" ".join(message.body_text.split())[:500] or message.subject[:500],
        started_at=utcnow(),
        payload={"headers": dict(message.headers)} if message.headers else None,
    )


class NullEmailSender:
    """The embedded default without an e-mail channel: records the reply, sends nothing."""

    def send_email(self, session: Session, message: OutboundEmail) -> Interaction:
        interaction = record_outbound_email(session, message, status="closed")
        log.info("no e-mail channel configured: reply %s recorded, not sent", interaction.id)
        return interaction


def register_email_sender(app: Any, sender: EmailSender) -> None:
    """Make ``sender`` the implementation of the send-e-mail port for ``app``."""
    _register(app, "email", sender)


def email_sender() -> EmailSender:
    sender: EmailSender = _implementation("email", NullEmailSender())
    return sender


# ----------------------------------------------------------------------------- send a fax

FAX_OUTBOUND_RECORDED = "fax.outbound_recorded"


@dataclass(frozen=True)
class OutboundFax:
    """A document to fax: its bytes are already in the blob store under ``sha256``."""

    to: str  # E.164
    sha256: str
    filename: str | None = None
    author_id: int | None = None
    customer_id: int | None = None
    ticket_id: int | None = None


class FaxSender(Protocol):
    """Send one fax and record it as an outbound interaction.

    Called inside the caller's transaction: an implementation records the interaction on
    ``session`` and hands the fax to the provider only after that transaction commits.
    """

    def send_fax(self, session: Session, fax: OutboundFax) -> Interaction: ...


def record_outbound_fax(session: Session, fax: OutboundFax, *, status: str) -> Interaction:
    """The outbound interaction of ``fax``: what every implementation stores."""
    return _record_outbound(
        session,
        FAX_OUTBOUND_RECORDED,
        channel="fax",
        status=status,
        customer_id=fax.customer_id,
        ticket_id=fax.ticket_id,
        agent_id=fax.author_id,
        to_address=fax.to[:320],
        subject=(fax.filename or "fax")[:998],
        summary=f"fax to {fax.to}",
        started_at=utcnow(),
    )


class NullFaxSender:
    """Without a fax provider: records the fax in the history, sends nothing."""

    def send_fax(self, session: Session, fax: OutboundFax) -> Interaction:
        interaction = record_outbound_fax(session, fax, status="closed")
        interaction.summary = f"fax to {fax.to} not sent: no fax provider configured"
        log.info("no fax channel configured: fax %s recorded, not sent", interaction.id)
        return interaction


def register_fax_sender(app: Any, sender: FaxSender) -> None:
    """Make ``sender`` the implementation of the send-fax port for ``app``."""
    _register(app, "fax", sender)


def fax_sender() -> FaxSender:
    sender: FaxSender = _implementation("fax", NullFaxSender())
    return sender


# ----------------------------------------------------------------------------- place a call

VOICE_OUTBOUND_RECORDED = "voice.outbound_recorded"


@dataclass(frozen=True)
class DialerCallRef:
    """What a campaign dialer call belongs to (ids only)."""

    campaign_id: int
    lead_id: int
    attempt_id: int


@dataclass(frozen=True)
class OutboundCall:
    """A call to place. Click-to-call (``dialer`` None): the agent is rung first, then
    ``to``. A campaign dialer call (``dialer`` set, no agent yet): ``to`` is dialled from
    ``caller_id`` with answering-machine detection (async AMD) when ``machine_detection``;
    when it is answered the channel asks the :class:`DialerHandler` what to do (connect to
    an agent, wait, or play the abandon message) and reports AMD results and the end of
    the call to it."""

    to: str  # E.164
    agent_id: int | None
    customer_id: int | None = None
    ticket_id: int | None = None
    caller_id: str | None = None
    machine_detection: bool = False
    dialer: DialerCallRef | None = None


class CallPlacer(Protocol):
    """Place one call and record it as an outbound interaction.

    Called inside the caller's transaction: an implementation records the interaction on
    ``session`` and dials only after that transaction commits. Returns the interaction.
    """

    def place_call(self, session: Session, call: OutboundCall) -> Interaction: ...


def record_outbound_call(
    session: Session, call: OutboundCall, *, status: str, from_number: str | None = None
) -> Interaction:
    """The outbound interaction of ``call``: what every implementation stores."""
    return _record_outbound(
        session,
        VOICE_OUTBOUND_RECORDED,
        channel="voice",
        status=status,
        customer_id=call.customer_id,
        ticket_id=call.ticket_id,
        agent_id=call.agent_id,
        from_address=from_number,
        to_address=call.to,
        summary=f"call to {call.to}",
        received_at=utcnow(),
    )


class NullCallPlacer:
    """Without telephony: records the call in the history, dials nothing."""

    def place_call(self, session: Session, call: OutboundCall) -> Interaction:
        interaction = record_outbound_call(session, call, status="closed")
        interaction.summary = f"call to {call.to} not placed: no telephony configured"
        log.info("no voice channel configured: call %s recorded, not placed", interaction.id)
        return interaction


def register_call_placer(app: Any, placer: CallPlacer) -> None:
    """Make ``placer`` the implementation of the place-call port for ``app``."""
    _register(app, "call", placer)


def call_placer() -> CallPlacer:
    placer: CallPlacer = _implementation("call", NullCallPlacer())
    return placer


# ----------------------------------------------------------------------------- dialer calls


@dataclass(frozen=True)
class AnswerAction:
    """What to do with an answered dialer call: ``connect`` (to ``agent_id``; the hub has
    offered the call to them and rings them in), ``wait`` (nobody free yet: hold and ask
    again once the connect window has passed), ``abandon`` (nobody free within the window:
    play the abandon message and hang up) or ``hangup``."""

    kind: str
    agent_id: int | None = None


class DialerHandler(Protocol):
    """The campaign side of dialer calls, called by the voice channel inside its request's
    (or task's) transaction. Campaigns registers it; the channel never imports campaigns."""

    def may_dial(self, session: Session, ref: DialerCallRef) -> bool:
        """The last check, right before the channel asks the carrier to dial."""
        ...

    def on_answered(
        self, session: Session, ref: DialerCallRef, interaction_id: int, *, final: bool
    ) -> AnswerAction:
        """The callee picked up (``final``: the connect window is over; no more waiting)."""
        ...

    def on_amd(self, session: Session, ref: DialerCallRef, answered_by: str) -> bool:
        """Answering-machine detection's verdict (``human``, ``machine_*``, ``fax``,
        ``unknown``). True: hang the call up (a machine)."""
        ...

    def on_ended(self, session: Session, ref: DialerCallRef, status: str) -> None:
        """The call ended (Twilio's final status: completed, busy, no-answer, failed,
        canceled)."""
        ...


def register_dialer_handler(app: Any, handler: DialerHandler) -> None:
    _register(app, "dialer", handler)


def dialer_handler() -> DialerHandler | None:
    handler: DialerHandler | None = _implementation("dialer", None)
    return handler
