"""Planning: tasks, appointments and callbacks, their reminders, resources and bookings.

Times are aware UTC in the database; ``timezone`` on a task is the IANA zone it was planned
in, which recurrence (RFC 5545 RRULE) is expanded in, so that "every Monday at 9:00" stays
at 9:00 local time across daylight-saving changes.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_core.db import Base, JSONType, utcnow

if TYPE_CHECKING:
    from crm_core.models.users import User

TASK_KINDS = ("task", "appointment", "callback")
TASK_STATUSES = ("open", "done", "cancelled")
TASK_PRIORITIES = ("low", "normal", "high", "urgent")
TASK_SOURCES = ("next_contact",)
RESOURCE_KINDS = ("room", "car", "equipment")

planning_attendees = Table(
    "planning_attendees",
    Base.metadata,
    Column("task_id", ForeignKey("planning_tasks.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)


class PlanningTask(Base):
    """A task (due at a moment), a callback (a task to call someone back) or an appointment
    (from ``start_at`` to ``end_at``, with attendees and booked resources)."""

    __tablename__ = "planning_tasks"
    __table_args__ = (
        CheckConstraint("kind IN ('task', 'appointment', 'callback')", name="kind"),
        CheckConstraint("status IN ('open', 'done', 'cancelled')", name="status"),
        CheckConstraint("priority IN ('low', 'normal', 'high', 'urgent')", name="priority"),
        Index("ix_planning_tasks_status_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(12), default="task")
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default="open")
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), index=True
    )
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), index=True
    )
    interaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("interactions.id", ondelete="SET NULL"), index=True
    )
    # Campaigns belong to a package crm_core may not know: a plain integer, like
    # interactions.campaign_id.
    campaign_id: Mapped[int | None] = mapped_column(Integer, index=True)
    due_at: Mapped[dt.datetime | None] = mapped_column()
    start_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    end_at: Mapped[dt.datetime | None] = mapped_column()
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    rrule: Mapped[str | None] = mapped_column(String(500))
    location: Mapped[str | None] = mapped_column(String(200))
    reminder_minutes: Mapped[list[int]] = mapped_column(JSONType, default=list)
    source: Mapped[str | None] = mapped_column(String(20))
    overdue_at: Mapped[dt.datetime | None] = mapped_column()
    completed_at: Mapped[dt.datetime | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    owner: Mapped[User] = relationship(foreign_keys=[owner_id])
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    attendees: Mapped[list[User]] = relationship(secondary=planning_attendees, order_by="User.name")
    bookings: Mapped[list[ResourceBooking]] = relationship(
        back_populates="task", cascade="all, delete-orphan", order_by="ResourceBooking.start_at"
    )

    @property
    def anchor(self) -> dt.datetime | None:
        """The moment reminders count back from: the start of an appointment, else the due time."""
        return self.start_at if self.kind == "appointment" else self.due_at


class PlanningReminder(Base):
    """One reminder of one occurrence of a task, to one user. ``sent_at`` is set in the
    same transaction that delivers it, so each reminder goes out once."""

    __tablename__ = "planning_reminders"
    __table_args__ = (
        UniqueConstraint("task_id", "user_id", "minutes_before", "occurrence_at"),
        Index("ix_planning_reminders_due", "sent_at", "remind_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("planning_tasks.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    minutes_before: Mapped[int] = mapped_column(Integer)
    occurrence_at: Mapped[dt.datetime] = mapped_column()
    remind_at: Mapped[dt.datetime] = mapped_column()
    sent_at: Mapped[dt.datetime | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PlanningResource(Base):
    """A room, car or piece of equipment that appointments book."""

    __tablename__ = "planning_resources"
    __table_args__ = (CheckConstraint("kind IN ('room', 'car', 'equipment')", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(12), default="room")
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ResourceBooking(Base):
    """A resource held by an appointment for one interval (one row per occurrence)."""

    __tablename__ = "planning_bookings"
    __table_args__ = (Index("ix_planning_bookings_resource_time", "resource_id", "start_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("planning_resources.id", ondelete="CASCADE")
    )
    task_id: Mapped[int] = mapped_column(
        ForeignKey("planning_tasks.id", ondelete="CASCADE"), index=True
    )
    start_at: Mapped[dt.datetime] = mapped_column()
    end_at: Mapped[dt.datetime] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    task: Mapped[PlanningTask] = relationship(back_populates="bookings")
    resource: Mapped[PlanningResource] = relationship()


class PlanningUserSettings(Base):
    """A user's planning preferences: e-mail reminders, and the secret of their calendar
    feed (only its SHA-256 is stored, like API tokens)."""

    __tablename__ = "planning_user_settings"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    email_reminders: Mapped[bool] = mapped_column(Boolean, default=False)
    feed_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    feed_token_prefix: Mapped[str | None] = mapped_column(String(12))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
