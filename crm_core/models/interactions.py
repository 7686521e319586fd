"""The one history table: every call, e-mail, fax, form, note and task, from every channel."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_core.db import Base, utcnow

if TYPE_CHECKING:
    from crm_core.models.customers import Customer
    from crm_core.models.tickets import Ticket
    from crm_core.models.users import User

CHANNELS = ("voice", "email", "fax", "webform", "sms", "chat", "note", "task")
DIRECTIONS = ("inbound", "outbound", "internal")
INTERACTION_STATUSES = ("new", "queued", "offered", "active", "wrap_up", "closed", "abandoned")


class Interaction(Base):
    """Something that happened between us and a customer, on any channel.

    ``external_id`` (CallSid, Message-ID, FaxSid, form submission id) is unique per channel:
    that constraint, not a read-then-write check, is what makes intake idempotent.
    """

    __tablename__ = "interactions"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index("ix_interactions_customer_history", "customer_id", "created_at", "id"),
        Index("ix_interactions_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(10), default="inbound")
    status: Mapped[str] = mapped_column(String(12), default="new")
    external_id: Mapped[str | None] = mapped_column(String(255))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("interactions.id", ondelete="SET NULL"), index=True
    )
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # Queues and campaigns belong to hub/ and campaigns/; their foreign keys arrive with them.
    queue_id: Mapped[int | None] = mapped_column(Integer, index=True)
    campaign_id: Mapped[int | None] = mapped_column(Integer, index=True)
    from_address: Mapped[str | None] = mapped_column(String(320), index=True)
    to_address: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(998))
    body_text: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(String(500))
    disposition: Mapped[str | None] = mapped_column(String(60))
    payload: Mapped[dict[str, Any] | None] = mapped_column()
    raw_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    received_at: Mapped[dt.datetime | None] = mapped_column()
    started_at: Mapped[dt.datetime | None] = mapped_column()
    ended_at: Mapped[dt.datetime | None] = mapped_column()
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    customer: Mapped[Customer | None] = relationship(back_populates="interactions")
    ticket: Mapped[Ticket | None] = relationship(back_populates="interactions")
    agent: Mapped[User | None] = relationship()
    parent: Mapped[Interaction | None] = relationship(remote_side=[id])

    # Set by intake on the object it returns: was this delivery a repeat? Not stored.
    was_duplicate = False
