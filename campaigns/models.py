"""The tables of outbound campaigns: campaigns, their agents, lists and leads, dial
attempts, callbacks, dispositions, the do-not-call list, holidays, per-region calling
windows and list imports (with every rejected row).

Scripts and surveys have their own modules and tables (``campaigns/scripts*.py``,
``campaigns/surveys*.py``); a campaign names them by the plain integer columns
``script_id`` / ``survey_id``. Times are aware UTC; calling windows are wall-clock times
in the *callee's* zone (see ``campaigns/compliance.py``).
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_core.db import Base, JSONType, utcnow

CAMPAIGN_STATUSES = ("draft", "active", "paused", "finished")
DIALER_MODES = ("preview", "progressive", "predictive")
# pending: waiting for its turn (``next_attempt_at`` gates it); reserved: selected for a
# dial (by the dialer or shown to an agent in preview); in_call: an attempt is running;
# callback: a callback is due at ``next_attempt_at``; done: a final disposition;
# refused: a compliance rule forbids calling it for good (DNC, consent, invalid number);
# exhausted: ``max_attempts`` used up.
LEAD_STATES = ("pending", "reserved", "in_call", "callback", "done", "refused", "exhausted")
ATTEMPT_OUTCOMES = (
    "dialling",
    "answered",
    "no_answer",
    "busy",
    "failed",
    "machine",
    "abandoned",
    "cancelled",
)
CALLBACK_STATUSES = ("pending", "done", "cancelled")
IMPORT_STATUSES = ("uploaded", "running", "done", "failed")
LIST_SOURCES = ("segment", "import", "manual")


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


class Campaign(Base):
    """One outbound campaign. ``window_start``/``window_end`` are the default calling hours
    in the callee's local time (``campaign_window_rules`` override them per region);
    ``calling_days`` lists ISO weekdays (1 = Monday … 7 = Sunday)."""

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(CAMPAIGN_STATUSES)})", name="status"),
        CheckConstraint(f"dialer_mode IN ({_in(DIALER_MODES)})", name="dialer_mode"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    goal: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="draft", index=True)
    start_date: Mapped[dt.date | None] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))
    caller_id: Mapped[str | None] = mapped_column(String(20))
    dialer_mode: Mapped[str] = mapped_column(String(12), default="preview")
    # Plain integers: the scripts & surveys tables belong to their own modules.
    script_id: Mapped[int | None] = mapped_column(Integer)
    survey_id: Mapped[int | None] = mapped_column(Integer)
    window_start: Mapped[dt.time | None] = mapped_column(Time)
    window_end: Mapped[dt.time | None] = mapped_column(Time)
    calling_days: Mapped[list[int]] = mapped_column(JSONType, default=lambda: [1, 2, 3, 4, 5, 6, 7])
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    min_retry_minutes: Mapped[int] = mapped_column(Integer, default=60)
    abandoned_no_redial_hours: Mapped[int] = mapped_column(Integer, default=72)
    abandon_cap_pct: Mapped[decimal.Decimal] = mapped_column(
        Numeric(5, 2), default=decimal.Decimal("3.00")
    )
    budget: Mapped[decimal.Decimal | None] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3), default="PLN")
    cost_per_attempt: Mapped[decimal.Decimal | None] = mapped_column(Numeric(10, 4))
    cost_per_minute: Mapped[decimal.Decimal | None] = mapped_column(Numeric(10, 4))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    agents: Mapped[list[CampaignAgent]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan", order_by="CampaignAgent.id"
    )
    dispositions: Mapped[list[Disposition]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan", order_by="Disposition.position"
    )
    window_rules: Mapped[list[CampaignWindowRule]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan", order_by="CampaignWindowRule.id"
    )


class CampaignAgent(Base):
    """An agent (``user_id``) or a whole team (``team_id``) working a campaign."""

    __tablename__ = "campaign_agents"
    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (team_id IS NULL)", name="user_or_team"),
        UniqueConstraint("campaign_id", "user_id", "team_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), index=True
    )

    campaign: Mapped[Campaign] = relationship(back_populates="agents")


class CampaignWindowRule(Base):
    """Calling hours for callees of one region (ISO 3166 alpha-2 of the number, or of the
    customer's country): overrides the campaign's default window there. ``weekdays`` (ISO
    1-7) limits the days; NULL means the campaign's ``calling_days``."""

    __tablename__ = "campaign_window_rules"
    __table_args__ = (UniqueConstraint("campaign_id", "region"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    region: Mapped[str] = mapped_column(String(2))
    start: Mapped[dt.time] = mapped_column(Time)
    end: Mapped[dt.time] = mapped_column(Time)
    weekdays: Mapped[list[int] | None] = mapped_column(JSONType)

    campaign: Mapped[Campaign] = relationship(back_populates="window_rules")


class CampaignHoliday(Base):
    """A day nobody is called: for one campaign or all (``campaign_id`` NULL), in one
    country or everywhere (``country`` NULL). The date is the callee's local date."""

    __tablename__ = "campaign_holidays"
    __table_args__ = (
        UniqueConstraint("campaign_id", "country", "day"),
        Index("ix_campaign_holidays_day", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    country: Mapped[str | None] = mapped_column(String(2))
    day: Mapped[dt.date] = mapped_column(Date)
    name: Mapped[str | None] = mapped_column(String(120))


class Disposition(Base):
    """How a call ended, configurable per campaign. ``is_final`` closes the lead;
    ``is_dnc`` also lists the number on the campaign's do-not-call list; otherwise the lead
    is retried after ``retry_after_minutes`` (or the campaign's ``min_retry_minutes``)."""

    __tablename__ = "campaign_dispositions"
    __table_args__ = (UniqueConstraint("campaign_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(120))
    is_final: Mapped[bool] = mapped_column(Boolean, default=False)
    is_success: Mapped[bool] = mapped_column(Boolean, default=False)
    is_dnc: Mapped[bool] = mapped_column(Boolean, default=False)
    is_callback: Mapped[bool] = mapped_column(Boolean, default=False)
    hotkey: Mapped[str | None] = mapped_column(String(1))
    retry_after_minutes: Mapped[int | None] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)

    campaign: Mapped[Campaign] = relationship(back_populates="dispositions")


class CampaignList(Base):
    """A call list of a campaign: built from a CRM segment, imported, or typed in."""

    __tablename__ = "campaign_lists"
    __table_args__ = (CheckConstraint(f"source IN ({_in(LIST_SOURCES)})", name="source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(12))
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id", ondelete="SET NULL"))
    # Distribution: leads of this list go to this agent or team (NULL: anyone / the dialer).
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Lead(Base):
    """One number to call for one customer in one campaign (a phone appears once per
    campaign). ``refused_reason`` is the last compliance refusal (see
    ``campaigns.compliance.REFUSALS``)."""

    __tablename__ = "campaign_leads"
    __table_args__ = (
        CheckConstraint(f"state IN ({_in(LEAD_STATES)})", name="state"),
        UniqueConstraint("campaign_id", "phone"),
        Index("ix_campaign_leads_due", "campaign_id", "state", "next_attempt_at"),
        Index("ix_campaign_leads_phone", "phone"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    list_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign_lists.id", ondelete="SET NULL"), index=True
    )
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    phone: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(12), default="pending")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column()
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column()
    last_abandoned_at: Mapped[dt.datetime | None] = mapped_column()
    reserved_at: Mapped[dt.datetime | None] = mapped_column()
    assigned_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    assigned_team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL")
    )
    last_disposition: Mapped[str | None] = mapped_column(String(40))
    refused_reason: Mapped[str | None] = mapped_column(String(40))
    refused_at: Mapped[dt.datetime | None] = mapped_column()
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    campaign: Mapped[Campaign] = relationship()


class LeadAttempt(Base):
    """One dial of a lead. ``abandoned`` marks a live answer not connected to an agent in
    time (the number then rests for ``abandoned_no_redial_hours``, in every campaign)."""

    __tablename__ = "campaign_lead_attempts"
    __table_args__ = (
        CheckConstraint(f"outcome IN ({_in(ATTEMPT_OUTCOMES)})", name="outcome"),
        Index("ix_campaign_lead_attempts_campaign_started", "campaign_id", "started_at"),
        Index("ix_campaign_lead_attempts_phone_abandoned", "phone", "abandoned"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_leads.id", ondelete="CASCADE"), index=True
    )
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(20))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    interaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("interactions.id", ondelete="SET NULL")
    )
    external_id: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[dt.datetime | None] = mapped_column()
    connected_at: Mapped[dt.datetime | None] = mapped_column()
    ended_at: Mapped[dt.datetime | None] = mapped_column()
    outcome: Mapped[str] = mapped_column(String(12), default="dialling")
    amd_result: Mapped[str | None] = mapped_column(String(24))
    abandoned: Mapped[bool] = mapped_column(Boolean, default=False)
    disposition: Mapped[str | None] = mapped_column(String(40))
    cost: Mapped[decimal.Decimal | None] = mapped_column(Numeric(10, 4))


class Callback(Base):
    """A call promised for ``due_at`` (UTC), entered in the callee's ``timezone``; for one
    agent (``agent_id``) or anyone on the campaign (NULL)."""

    __tablename__ = "campaign_callbacks"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(CALLBACK_STATUSES)})", name="status"),
        Index("ix_campaign_callbacks_due", "campaign_id", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_leads.id", ondelete="CASCADE"), index=True
    )
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    due_at: Mapped[dt.datetime] = mapped_column()
    timezone: Mapped[str] = mapped_column(String(64))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    note: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DncEntry(Base):
    """A number (E.164) never to be called: by any campaign (``campaign_id`` NULL) or one."""

    __tablename__ = "campaign_dnc"
    __table_args__ = (
        UniqueConstraint("campaign_id", "number"),
        Index(
            "uq_campaign_dnc_global_number",
            "number",
            unique=True,
            sqlite_where=Column("campaign_id").is_(None),
            postgresql_where=Column("campaign_id").is_(None),
        ),
        Index("ix_campaign_dnc_number", "number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    reason: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(20), default="manual")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ListImport(Base):
    """A CSV/XLSX upload into a campaign list: the file (in the blob store), the column
    mapping, progress and the tally. ``imported + matched + rejected == processed_rows``
    once done: every row is accounted for."""

    __tablename__ = "campaign_imports"
    __table_args__ = (CheckConstraint(f"status IN ({_in(IMPORT_STATUSES)})", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    list_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign_lists.id", ondelete="SET NULL")
    )
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    file_kind: Mapped[str] = mapped_column(String(4))
    status: Mapped[str] = mapped_column(String(12), default="uploaded")
    mapping: Mapped[dict[str, Any] | None] = mapped_column()
    region: Mapped[str | None] = mapped_column(String(2))
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    matched: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column()


class ImportRejection(Base):
    """One rejected row of an import, with the reason (``code`` and words) and its cells."""

    __tablename__ = "campaign_import_rejections"

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_imports.id", ondelete="CASCADE"), index=True
    )
    row_number: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(300))
    cells: Mapped[dict[str, Any] | None] = mapped_column()
