"""A customer's history: one timeline across every channel, newest first, keyset-paginated."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from crm_core.errors import N_, ValidationFailed
from crm_core.models import Interaction


@dataclass(frozen=True)
class Page:
    items: list[Interaction]
    next_cursor: str | None


def encode_cursor(created_at: dt.datetime, ident: int) -> str:
    raw = f"{created_at.astimezone(dt.UTC).isoformat()}|{ident}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode()).decode()
        when, ident = text.split("|", 1)
        stamp = dt.datetime.fromisoformat(when)
        if stamp.tzinfo is None:
            raise ValueError("naive")
        return stamp, int(ident)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed(
            N_("cursor is not one this server gave out"), field="cursor"
        ) from None


def customer_history(
    session: Session,
    customer_id: int,
    *,
    cursor: str | None = None,
    limit: int = 50,
    channels: list[str] | None = None,
    visible: ColumnElement[bool] | None = None,
) -> Page:
    """Interactions of ``customer_id``, newest first; pass ``next_cursor`` back for more.

    ``visible`` narrows the timeline to what the reader may see (a record-rule clause).
    """
    stmt = select(Interaction).where(Interaction.customer_id == customer_id)
    if channels:
        stmt = stmt.where(Interaction.channel.in_(channels))
    if visible is not None:
        stmt = stmt.where(visible)
    if cursor:
        at, ident = decode_cursor(cursor)
        stmt = stmt.where(
            or_(
                Interaction.created_at < at,
                and_(Interaction.created_at == at, Interaction.id < ident),
            )
        )
    stmt = stmt.order_by(Interaction.created_at.desc(), Interaction.id.desc()).limit(limit + 1)
    rows = list(session.scalars(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return Page(rows, nxt)
