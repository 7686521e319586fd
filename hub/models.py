"""The hub's tables: queues, skills, routing rules, agent states, queue entries, offers,
the routing log (history kept across offers and transfers) and SLA clocks.

They live on the CRM's declarative base (``crm_core.db.Base``) so that one metadata, one
migration chain and one naming convention cover the whole schema.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_core.db import Base, JSONType, utcnow

AGENT_STATES = ("offline", "available", "offered", "busy", "wrap_up", "break")
ENTRY_STATES = ("waiting", "offered", "active", "wrap_up", "done", "abandoned")
OFFER_STATUSES = ("pending", "accepted", "declined", "expired", "cancelled")


class Queue(Base):
    """Where interactions wait. ``channels`` lists the channels it serves.

    ``business_hours`` maps weekday names (``mon`` … ``sun``) to lists of ``["08:00",
    "18:00"]`` ranges in the queue's ``timezone``; empty means round the clock.
    ``holidays`` is a list of ISO dates. ``sla_targets`` maps a channel to ``{"seconds":
    20, "percent": 80}`` (answer within 20 s for 80 % of calls; first response for e-mail).
    """

    __tablename__ = "queues"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    channels: Mapped[list[str]] = mapped_column(JSONType)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    business_hours: Mapped[dict[str, Any] | None] = mapped_column()
    holidays: Mapped[list[str] | None] = mapped_column(JSONType)
    sla_targets: Mapped[dict[str, Any] | None] = mapped_column()
    wrap_up_seconds: Mapped[int] = mapped_column(Integer, default=60)
    offer_timeout_seconds: Mapped[int] = mapped_column(Integer, default=20)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    skills: Mapped[list[QueueSkill]] = relationship(
        cascade="all, delete-orphan", back_populates="queue"
    )


class Skill(Base):
    __tablename__ = "skills"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)


class QueueSkill(Base):
    """A skill an agent needs (at ``min_level`` or better) to be offered this queue's work."""

    __tablename__ = "queue_skills"

    queue_id: Mapped[int] = mapped_column(
        ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True
    )
    skill_id: Mapped[int] = mapped_column(
        ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True
    )
    min_level: Mapped[int] = mapped_column(Integer, default=1)

    queue: Mapped[Queue] = relationship(back_populates="skills")
    skill: Mapped[Skill] = relationship()


class AgentSkill(Base):
    """An agent's skill, level 1 (some) to 10 (expert)."""

    __tablename__ = "agent_skills"
    __table_args__ = (CheckConstraint("level BETWEEN 1 AND 10", name="level"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    skill_id: Mapped[int] = mapped_column(
        ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    level: Mapped[int] = mapped_column(Integer, default=1)

    skill: Mapped[Skill] = relationship()


class QueueMember(Base):
    """An agent who serves a queue."""

    __tablename__ = "queue_members"

    queue_id: Mapped[int] = mapped_column(
        ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class RoutingRule(Base):
    """Which queue a new interaction goes to. Rules are tried by ``position``; every set
    condition must hold (an empty one matches anything); the first match wins.

    ``priority_boost`` raises the interaction's priority (VIP first).
    """

    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=100)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str | None] = mapped_column(String(16))
    to_address: Mapped[str | None] = mapped_column(String(320))
    form: Mapped[str | None] = mapped_column(String(120))
    customer_tag: Mapped[str | None] = mapped_column(String(80))
    customer_class: Mapped[str | None] = mapped_column(String(40))
    vip_only: Mapped[bool] = mapped_column(Boolean, default=False)
    priority_boost: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class AgentStatus(Base):
    """The server-owned state of one agent (one row per agent, created on first use).

    ``idle_since`` orders the longest-idle agent first. ``connections`` counts open console
    sockets; ``disconnected_at`` starts the grace period after the last one closes.
    ``capacity`` overrides the default per-channel capacity (``{"email": 5}``).
    """

    __tablename__ = "agent_status"
    __table_args__ = (
        CheckConstraint(
            "state IN ('offline', 'available', 'offered', 'busy', 'wrap_up', 'break')",
            name="state",
        ),
        Index("ix_agent_status_state_idle", "state", "idle_since"),
    )

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(10), default="offline")
    pause_code: Mapped[str | None] = mapped_column(String(40))
    since: Mapped[dt.datetime] = mapped_column(default=utcnow)
    idle_since: Mapped[dt.datetime] = mapped_column(default=utcnow)
    connections: Mapped[int] = mapped_column(Integer, default=0)
    disconnected_at: Mapped[dt.datetime | None] = mapped_column()
    last_seen_at: Mapped[dt.datetime | None] = mapped_column()
    capacity: Mapped[dict[str, Any] | None] = mapped_column()


class AgentStateChange(Base):
    """History of agent states, for reports: one row per change, with the time spent in
    the state that ended."""

    __tablename__ = "agent_state_changes"
    __table_args__ = (Index("ix_agent_state_changes_user_at", "user_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    from_state: Mapped[str] = mapped_column(String(10))
    to_state: Mapped[str] = mapped_column(String(10))
    pause_code: Mapped[str | None] = mapped_column(String(40))
    previous_pause_code: Mapped[str | None] = mapped_column(String(40))
    seconds_in_previous: Mapped[int] = mapped_column(Integer, default=0)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(String(60))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class QueueEntry(Base):
    """An interaction's place in the routing machinery (one row per routed interaction).

    ``rank_at`` is the ordering key: ``enqueued_at`` moved earlier by ``priority`` times the
    aging step, so a higher priority goes first and an old item eventually beats a new one
    of higher priority. ``target_agent_id`` / ``target_team_id`` restrict who may get it
    (transfers). ``passed_over`` lists agents who declined or missed it: they go last.
    """

    __tablename__ = "queue_entries"
    __table_args__ = (
        CheckConstraint(
            "state IN ('waiting', 'offered', 'active', 'wrap_up', 'done', 'abandoned')",
            name="state",
        ),
        Index("ix_queue_entries_state_rank", "state", "rank_at"),
        Index("ix_queue_entries_queue_state", "queue_id", "state"),
        Index("ix_queue_entries_agent_state", "agent_id", "state"),
    )

    interaction_id: Mapped[int] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), primary_key=True
    )
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(10), default="waiting")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    enqueued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    rank_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    target_agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    target_team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    passed_over: Mapped[dict[str, Any] | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    first_offered_at: Mapped[dt.datetime | None] = mapped_column()
    answered_at: Mapped[dt.datetime | None] = mapped_column()
    wait_seconds: Mapped[int | None] = mapped_column(Integer)
    wrap_up_until: Mapped[dt.datetime | None] = mapped_column()
    finished_at: Mapped[dt.datetime | None] = mapped_column()
    abandoned_at: Mapped[dt.datetime | None] = mapped_column()
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    queue: Mapped[Queue] = relationship()


class Offer(Base):
    """An interaction offered to one agent. At most one pending offer per interaction and
    per agent: partial unique indexes make a double assignment impossible, whatever the
    routers do."""

    __tablename__ = "offers"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'accepted', 'declined', 'expired', 'cancelled')",
            name="status",
        ),
        Index(
            "uq_offers_pending_interaction",
            "interaction_id",
            unique=True,
            sqlite_where=Column("status") == "pending",
            postgresql_where=Column("status") == "pending",
        ),
        Index(
            "uq_offers_pending_agent",
            "agent_id",
            unique=True,
            sqlite_where=Column("status") == "pending",
            postgresql_where=Column("status") == "pending",
        ),
        Index("ix_offers_status_expires", "status", "expires_at"),
        Index("ix_offers_interaction_id", "interaction_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    interaction_id: Mapped[int] = mapped_column(ForeignKey("interactions.id", ondelete="CASCADE"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()
    responded_at: Mapped[dt.datetime | None] = mapped_column()


class RoutingEvent(Base):
    """The routing history of an interaction: enqueued, offered, accepted, declined,
    missed, transferred, requeued, wrap-up, finished, escalated, abandoned."""

    __tablename__ = "routing_events"
    __table_args__ = (Index("ix_routing_events_interaction", "interaction_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    interaction_id: Mapped[int] = mapped_column(ForeignKey("interactions.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    detail: Mapped[dict[str, Any] | None] = mapped_column()
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SlaClock(Base):
    """A service-level clock counting business seconds against a target.

    Running while ``running_since`` is set; paused (pending on the customer) or stopped
    otherwise. ``elapsed_seconds`` holds the business seconds counted before the current run.
    """

    __tablename__ = "sla_clocks"
    __table_args__ = (
        UniqueConstraint("interaction_id", "kind"),
        UniqueConstraint("ticket_id", "kind"),
        Index("ix_sla_clocks_open_due", "stopped_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    interaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE")
    )
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))
    target_seconds: Mapped[int] = mapped_column(Integer)
    elapsed_seconds: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    running_since: Mapped[dt.datetime | None] = mapped_column()
    paused_at: Mapped[dt.datetime | None] = mapped_column()
    due_at: Mapped[dt.datetime | None] = mapped_column()
    stopped_at: Mapped[dt.datetime | None] = mapped_column()
    breached_at: Mapped[dt.datetime | None] = mapped_column()
    escalated_at: Mapped[dt.datetime | None] = mapped_column()
