"""The voice channel's tables: one row per call leg, recordings, webhook receipts and the
agents' phone lines.

The interaction (``crm_core``) is the call as the CRM sees it; :class:`VoiceCall` is the
telephony detail Twilio reports about one leg of it (the customer's leg, the agent's leg).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.db import Base, utcnow

LEGS = ("customer", "agent")


class VoiceCall(Base):
    """One Twilio call leg and where it is in our flow.

    ``status`` is Twilio's call status, moved only forwards (see ``calls.STATUS_RANK``);
    ``stage`` is our own flow: ``menu`` (IVR), ``queued`` (waiting for an agent),
    ``voicemail``, ``connected`` (talking to an agent), ``ended``. ``call_sid`` is empty
    until Twilio has answered a REST request that creates an outbound leg.
    """

    __tablename__ = "voice_calls"
    __table_args__ = (Index("ix_voice_calls_interaction_leg", "interaction_id", "leg"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    interaction_id: Mapped[int] = mapped_column(ForeignKey("interactions.id", ondelete="CASCADE"))
    leg: Mapped[str] = mapped_column(String(10), default="customer")
    direction: Mapped[str] = mapped_column(String(10), default="inbound")
    parent_call_sid: Mapped[str | None] = mapped_column(String(64))
    from_number: Mapped[str | None] = mapped_column(String(64))
    to_number: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default="queued")
    sequence: Mapped[int | None] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(12), default="menu")
    company_number: Mapped[str | None] = mapped_column(String(32))
    digits: Mapped[str | None] = mapped_column(String(32))
    queue_name: Mapped[str | None] = mapped_column(String(120))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    conference: Mapped[str | None] = mapped_column(String(64))
    recording_mode: Mapped[str] = mapped_column(String(10), default="off")
    abandoned: Mapped[bool] = mapped_column(Boolean, default=False)
    # Moments as Twilio reported them (its ``Timestamp``), never our clock: callbacks arrive
    # late and out of order, the moment they describe does not.
    started_at: Mapped[dt.datetime | None] = mapped_column()
    enqueued_at: Mapped[dt.datetime | None] = mapped_column()
    answered_at: Mapped[dt.datetime | None] = mapped_column()
    ended_at: Mapped[dt.datetime | None] = mapped_column()
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    wait_seconds: Mapped[int | None] = mapped_column(Integer)
    talk_seconds: Mapped[int | None] = mapped_column(Integer)
    hold_seconds: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class VoiceRecording(Base):
    """A call recording or a voicemail, as Twilio announced it; the audio is copied into
    the attachment store by a task (``attachment_id`` once done)."""

    __tablename__ = "voice_recordings"

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_sid: Mapped[str] = mapped_column(String(64), unique=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    interaction_id: Mapped[int] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10), default="call")
    url: Mapped[str] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(12), default="completed")
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    attachment_id: Mapped[int | None] = mapped_column(
        ForeignKey("attachments.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    fetched_at: Mapped[dt.datetime | None] = mapped_column()


class TwilioWebhookReceipt(Base):
    """An ``I-Twilio-Idempotency-Token`` already handled: a retry with it is a no-op."""

    __tablename__ = "twilio_webhook_receipts"

    token: Mapped[str] = mapped_column(String(128), primary_key=True)
    path: Mapped[str] = mapped_column(String(120))
    call_sid: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class VoiceAgentLine(Base):
    """How an agent takes calls: an outside phone number, or (none) the browser."""

    __tablename__ = "voice_agent_lines"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    phone_number: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
