"""Saved reports (the wizard's choices, owned by a user, optionally shared) and the
indexes the reports' aggregate queries range over."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.db import Base, utcnow
from crm_core.models import Customer, Interaction, Ticket
from hub.models import AgentStateChange, QueueEntry


class SavedReport(Base):
    """A report someone saved: its kind and its arguments (filters, grouping, chart,
    entity and columns; dates as a rolling window or fixed). ``shared`` makes it visible
    to every supervisor, ``team_id`` to the members of that team only."""

    __tablename__ = "report_saved_reports"
    __table_args__ = (Index("ix_report_saved_reports_owner", "owner_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(40))
    definition: Mapped[dict[str, Any]] = mapped_column()
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# Time ranges the reports scan; each report filters on one of these first.
Index("ix_report_queue_entries_enqueued_at", QueueEntry.enqueued_at)
Index("ix_report_queue_entries_answered_at", QueueEntry.answered_at)
Index("ix_report_interactions_created_at", Interaction.created_at)
Index("ix_report_tickets_created_at", Ticket.created_at)
Index("ix_report_customers_created_at", Customer.created_at)
Index("ix_report_agent_state_changes_at", AgentStateChange.at)
