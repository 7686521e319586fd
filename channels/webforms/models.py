"""Web forms an admin defines: the fields, where submissions go, what the sender sees."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.db import Base, JSONType, utcnow


class WebForm(Base):
    """A public form at ``/forms/<slug>``.

    ``fields`` is a list of field definitions (see :mod:`channels.webforms.schema`):
    ``{"name", "label", "type", "required", "max_length", "choices", "min", "max",
    "help", "accept", "max_bytes"}``. ``allowed_origins`` lists the web origins
    (``https://www.example.com``) whose pages may post to the JSON endpoint and frame the
    embedded form. ``routing_rule_id`` is the hub routing rule that sends submissions to
    ``queue_id``.
    """

    __tablename__ = "webforms"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    queue_id: Mapped[int | None] = mapped_column(
        ForeignKey("queues.id", ondelete="SET NULL"), index=True
    )
    routing_rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("routing_rules.id", ondelete="SET NULL")
    )
    open_ticket: Mapped[bool] = mapped_column(Boolean, default=False)
    ticket_type: Mapped[str] = mapped_column(String(12), default="question")
    confirmation_text: Mapped[str | None] = mapped_column(Text)
    confirmation_email: Mapped[bool] = mapped_column(Boolean, default=False)
    confirmation_email_subject: Mapped[str | None] = mapped_column(String(200))
    confirmation_email_body: Mapped[str | None] = mapped_column(Text)
    allowed_origins: Mapped[list[str] | None] = mapped_column(JSONType)
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
