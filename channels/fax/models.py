"""Fax documents (inbound and outbound) and the annotation layer drawn over their pages.

The document's bytes live in the content-addressed blob store and are never rewritten:
annotations are rows of their own, and a flattened PDF is produced on demand.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.db import Base, JSONType, utcnow

DOCUMENT_STATUSES = (
    "fetching",  # inbound: waiting for the media download
    "ready",  # stored and rendered
    "corrupt",  # stored, but the bytes are no readable PDF/TIFF: kept and flagged
    "fetch_failed",  # the provider's media could not be fetched after every retry
    "queued",  # outbound: handed to the provider
    "sending",
    "delivered",
    "failed",
)
ANNOTATION_KINDS = ("stamp", "highlight", "comment")


class FaxDocument(Base):
    """One fax: the provider's id, the stored document and its rendered pages."""

    __tablename__ = "fax_documents"
    __table_args__ = (
        CheckConstraint(
            "status IN ('fetching', 'ready', 'corrupt', 'fetch_failed', 'queued', 'sending', "
            "'delivered', 'failed')",
            name="status",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    interaction_id: Mapped[int] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), unique=True
    )
    direction: Mapped[str] = mapped_column(String(10), default="inbound")
    provider: Mapped[str] = mapped_column(String(40))
    fax_sid: Mapped[str | None] = mapped_column(String(255), index=True)
    media_url: Mapped[str | None] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(16), default="fetching")
    error: Mapped[str | None] = mapped_column(String(500))
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    content_type: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int | None] = mapped_column(Integer)
    num_pages: Mapped[int | None] = mapped_column(Integer)
    # SHA-256 of each rendered page image (PNG) in the blob store, page order.
    page_images: Mapped[list[str] | None] = mapped_column(JSONType)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class FaxAnnotation(Base):
    """A stamp, highlight or comment on one page. Coordinates are fractions of the page
    (0..1 from the top-left corner) so that they survive any rendering size. Removing an
    annotation marks it removed (the audit log keeps who did what)."""

    __tablename__ = "fax_annotations"
    __table_args__ = (
        CheckConstraint("kind IN ('stamp', 'highlight', 'comment')", name="kind"),
        Index("ix_fax_annotations_document_page", "document_id", "page"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("fax_documents.id", ondelete="CASCADE"))
    page: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(12))
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    width: Mapped[float] = mapped_column(Float, default=0.0)
    height: Mapped[float] = mapped_column(Float, default=0.0)
    text: Mapped[str | None] = mapped_column(Text)
    color: Mapped[str | None] = mapped_column(String(9))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[dt.datetime | None] = mapped_column()
    removed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
