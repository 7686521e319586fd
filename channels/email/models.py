"""The e-mail channel's tables: Message-IDs for threading, the quarantine, IMAP positions.

The interaction (``crm_core``) is the e-mail as the CRM sees it. :class:`EmailMessage` keeps
the Message-ID of every e-mail we received or sent, so that replies thread by
``In-Reply-To``/``References``. :class:`QuarantinedEmail` keeps mail we could not turn into
a ticket (raw bytes in the blob store). :class:`ImapMailbox` remembers, per account and
mailbox, the UIDVALIDITY and the last UID imported, who polls it, and its last error.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.db import Base, JSONType, utcnow

MESSAGE_KINDS = ("message", "reply", "auto_ack")
QUARANTINE_STATUSES = ("held", "released", "discarded")


class EmailMessage(Base):
    """One e-mail (inbound or outbound) by its Message-ID, tied to its interaction."""

    __tablename__ = "email_messages"
    __table_args__ = (Index("ix_email_messages_kind_address", "kind", "address", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    interaction_id: Mapped[int] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), unique=True
    )
    direction: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(12), default="message")
    # Without angle brackets; over-long ids are stored as ``sha256:<hex>``.
    message_id: Mapped[str | None] = mapped_column(String(255), index=True)
    # The other side: the sender of inbound mail, the recipient of outbound mail.
    address: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class QuarantinedEmail(Base):
    """Mail that did not become a ticket. The raw bytes are in the blob store, unchanged."""

    __tablename__ = "email_quarantine"

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    raw_sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(1000))
    source: Mapped[str] = mapped_column(String(300))
    mail_from: Mapped[str | None] = mapped_column(String(320))
    recipients: Mapped[list[str] | None] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(10), default="held", index=True)
    interaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("interactions.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ImapMailbox(Base):
    """Where the poller of one (account, mailbox) stands, and whether it is healthy."""

    __tablename__ = "email_imap_mailboxes"
    __table_args__ = (UniqueConstraint("account", "mailbox"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(String(120))
    mailbox: Mapped[str] = mapped_column(String(255))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    last_error_at: Mapped[dt.datetime | None] = mapped_column()
    last_ok_at: Mapped[dt.datetime | None] = mapped_column()
    locked_by: Mapped[str | None] = mapped_column(String(120))
    locked_until: Mapped[dt.datetime | None] = mapped_column()
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def as_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "mailbox": self.mailbox,
            "uidvalidity": self.uidvalidity,
            "last_uid": self.last_uid,
            "imported": self.imported,
            "failures": self.failures,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at.isoformat() if self.last_error_at else None,
            "last_ok_at": self.last_ok_at.isoformat() if self.last_ok_at else None,
        }
