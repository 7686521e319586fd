"""Tasks, callbacks and appointments; the agent's day; overdue tasks for supervisors;
"next contact" on a customer; birthdays and anniversaries; planning settings.

Date-times may be sent with an offset (``2026-11-23T14:00:00Z``) or as wall-clock times
(``2026-11-23T15:00``) in ``timezone`` (an IANA name; the caller's own zone when left
out). Answers carry UTC. Record rule: ``crm_core.services.tasks.visible_tasks_clause``
(another agent's private task answers 404).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import select

from crm_core.db import utcnow
from crm_core.models import PlanningTask
from crm_core.services import customers as customers_svc
from crm_core.services import tasks as svc
from hub import planning
from hub.api import bp
from hub.api.common import not_null
from hub.api.schemas import Id, PageQuery, Strict
from hub.api.spec import operation
from hub.auth import current
from hub.db import db

TAGS = ["tasks"]

Kind = Literal["task", "appointment", "callback"]
Status = Literal["open", "done", "cancelled"]
Priority = Literal["low", "normal", "high", "urgent"]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Zone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Rule = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Minutes = Annotated[int, Field(ge=0, le=svc.MAX_REMINDER_MINUTES)]
Description = Annotated[str, StringConstraints(max_length=20_000)]
Location = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class TaskIn(Strict):
    kind: Kind = "task"
    title: Title
    description: Description = ""
    priority: Priority = "normal"
    assignee_id: Id | None = None
    team_id: Id | None = None
    customer_id: Id | None = None
    ticket_id: Id | None = None
    interaction_id: Id | None = None
    campaign_id: Id | None = None
    due_at: dt.datetime | None = None
    start_at: dt.datetime | None = None
    end_at: dt.datetime | None = None
    timezone: Zone | None = Field(None, description="IANA zone of wall-clock times and recurrence")
    rrule: Rule | None = Field(None, description="RFC 5545 RRULE value, e.g. FREQ=WEEKLY;BYDAY=MO")
    location: Location | None = None
    reminder_minutes: list[Minutes] = Field(default_factory=list, max_length=svc.MAX_REMINDERS)
    attendee_ids: list[Id] = Field(default_factory=list, max_length=50)
    resource_ids: list[Id] = Field(default_factory=list, max_length=20)


class TaskPatch(Strict):
    """Send only what changes; ids, times, rule and location may be null (clear)."""

    kind: Kind = not_null()
    title: Title = not_null()
    description: Description = not_null()
    status: Status = not_null()
    priority: Priority = not_null()
    assignee_id: Id | None = None
    team_id: Id | None = None
    customer_id: Id | None = None
    ticket_id: Id | None = None
    interaction_id: Id | None = None
    campaign_id: Id | None = None
    due_at: dt.datetime | None = None
    start_at: dt.datetime | None = None
    end_at: dt.datetime | None = None
    timezone: Zone = not_null()
    rrule: Rule | None = None
    location: Location | None = None
    reminder_minutes: Annotated[list[Minutes], Field(max_length=svc.MAX_REMINDERS)] = not_null()
    attendee_ids: Annotated[list[Id], Field(max_length=50)] = not_null()
    resource_ids: Annotated[list[Id], Field(max_length=20)] = not_null()


class TaskOut(BaseModel):
    id: int
    kind: str
    title: str
    description: str
    status: str
    priority: str
    owner_id: int
    owner_name: str | None
    assignee_id: int | None
    assignee_name: str | None
    team_id: int | None
    team_name: str | None
    customer_id: int | None
    customer_name: str | None
    ticket_id: int | None
    interaction_id: int | None
    campaign_id: int | None
    due_at: dt.datetime | None
    start_at: dt.datetime | None
    end_at: dt.datetime | None
    timezone: str
    rrule: str | None
    location: str | None
    reminder_minutes: list[int]
    attendee_ids: list[int]
    resource_ids: list[int]
    source: str | None
    overdue: bool
    completed_at: dt.datetime | None
    created_at: dt.datetime | None
    updated_at: dt.datetime | None
    occurrence_at: dt.datetime | None = None


class TaskQuery(PageQuery):
    status: list[Status] | None = None
    kind: list[Kind] | None = None
    mine: bool = Field(False, description="only my own list (assigned to me, or mine unassigned)")
    overdue: bool | None = None
    assignee_id: Id | None = None
    team_id: Id | None = None
    customer_id: Id | None = None
    ticket_id: Id | None = None


class TaskPage(BaseModel):
    items: list[TaskOut]
    limit: int
    offset: int
    has_more: bool


class Occasion(BaseModel):
    customer_id: int
    name: str
    kind: str
    date: dt.date
    in_days: int
    years: int


class TodayOut(BaseModel):
    items: list[TaskOut]
    overdue: int
    day_start: dt.datetime
    day_end: dt.datetime
    birthdays: list[Occasion]


class OverdueQuery(Strict):
    team_id: Id | None = None
    assignee_id: Id | None = None


class OverdueOut(BaseModel):
    items: list[TaskOut]
    count: int


class NextContactIn(Strict):
    due_at: dt.datetime
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    timezone: Zone | None = None
    reminder_minutes: list[Minutes] = Field(default_factory=list, max_length=svc.MAX_REMINDERS)


class BirthdayQuery(Strict):
    days: Annotated[int, Field(ge=0, le=60)] = 7


class BirthdayOut(BaseModel):
    items: list[Occasion]


class PlanningSettings(BaseModel):
    email_reminders: bool
    feed_token_prefix: str | None


class PlanningSettingsIn(Strict):
    email_reminders: bool


class FeedTokenOut(BaseModel):
    token: str
    url: str


def _out(task: PlanningTask) -> TaskOut:
    return TaskOut(**planning.task_dict(db.session, task, utcnow()))


@operation(bp, "/tasks", "GET", summary="List tasks", tags=TAGS, query=TaskQuery, response=TaskPage)
def list_tasks(query: TaskQuery) -> TaskPage:
    """The tasks the caller may see, soonest due (or starting) first."""
    user = current()
    now = utcnow()
    stmt = select(PlanningTask).where(svc.visible_tasks_clause(user))
    if query.mine:
        stmt = stmt.where(svc.mine_clause(user.id))
    if query.status:
        stmt = stmt.where(PlanningTask.status.in_(query.status))
    if query.kind:
        stmt = stmt.where(PlanningTask.kind.in_(query.kind))
    if query.overdue is True:
        stmt = stmt.where(svc.overdue_clause(now))
    elif query.overdue is False:
        stmt = stmt.where(~svc.overdue_clause(now))
    for name in ("assignee_id", "team_id", "customer_id", "ticket_id"):
        value = getattr(query, name)
        if value is not None:
            stmt = stmt.where(getattr(PlanningTask, name) == value)
    stmt = stmt.order_by(
        PlanningTask.due_at.is_(None), PlanningTask.due_at, PlanningTask.start_at, PlanningTask.id
    )
    rows = list(db.session.scalars(stmt.limit(query.limit + 1).offset(query.offset)))
    return TaskPage(
        items=[_out(t) for t in rows[: query.limit]],
        limit=query.limit,
        offset=query.offset,
        has_more=len(rows) > query.limit,
    )


@operation(
    bp,
    "/tasks",
    "POST",
    summary="Create a task, callback or appointment",
    tags=TAGS,
    body=TaskIn,
    response=TaskOut,
    status=201,
    errors=(409,),
)
def create_task(body: TaskIn) -> TaskOut:
    """An appointment needs ``start_at`` < ``end_at``; booking a resource that another
    appointment holds then answers 409 naming that appointment. Invalid time zones,
    recurrence rules and dates answer 422 naming the field."""
    values = body.model_dump(exclude_unset=True)
    values.setdefault("title", body.title)
    if values.get("timezone") is None:
        values.pop("timezone", None)
    task = svc.do_create_task(db.session, current(), values)
    return _out(task)


@operation(bp, "/tasks/today", "GET", summary="My day", tags=TAGS, response=TodayOut)
def my_day() -> TodayOut:
    """Overdue tasks, tasks and callbacks due today and today's appointments (the day of
    the caller's time zone), plus birthdays and anniversaries of the coming week."""
    return TodayOut(**planning.today_for(db.session, current(), now=utcnow()))


@operation(
    bp,
    "/tasks/overdue",
    "GET",
    summary="Overdue tasks across agents and teams",
    tags=TAGS,
    query=OverdueQuery,
    response=OverdueOut,
    roles=("supervisor",),
)
def overdue_tasks(query: OverdueQuery) -> OverdueOut:
    items = planning.overdue_list(
        db.session,
        current(),
        now=utcnow(),
        team_id=query.team_id,
        assignee_id=query.assignee_id,
    )
    return OverdueOut(items=[TaskOut(**i) for i in items], count=len(items))


@operation(bp, "/tasks/<int:task_id>", "GET", summary="Read a task", tags=TAGS, response=TaskOut)
def get_task(task_id: int) -> TaskOut:
    return _out(svc.get_visible_task(db.session, current(), task_id))


@operation(
    bp,
    "/tasks/<int:task_id>",
    "PATCH",
    summary="Change a task (status: open, done, cancelled)",
    tags=TAGS,
    body=TaskPatch,
    response=TaskOut,
    errors=(409,),
)
def update_task(task_id: int, body: TaskPatch) -> TaskOut:
    """Marking a recurring task done moves it to its next occurrence."""
    user = current()
    task = svc.get_visible_task(db.session, user, task_id)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    svc.do_update_task(db.session, user, task, changes)
    return _out(task)


@operation(
    bp,
    "/customers/<int:customer_id>/next-contact",
    "POST",
    summary="Plan the next contact with a customer",
    tags=TAGS,
    body=NextContactIn,
    response=TaskOut,
    status=201,
)
def plan_next_contact(customer_id: int, body: NextContactIn) -> TaskOut:
    """A callback on the caller's own list, linked to the customer, due at ``due_at``."""
    customer = customers_svc.get_customer(db.session, customer_id)
    values: dict[str, Any] = {
        "kind": "callback",
        "title": body.note,
        "customer_id": customer.id,
        "due_at": body.due_at,
        "reminder_minutes": body.reminder_minutes,
    }
    if body.timezone:
        values["timezone"] = body.timezone
    task = svc.do_create_task(db.session, current(), values)
    task.source = "next_contact"
    return _out(task)


@operation(
    bp,
    "/birthdays",
    "GET",
    summary="Birthdays and customer anniversaries coming up",
    tags=TAGS,
    query=BirthdayQuery,
    response=BirthdayOut,
)
def upcoming_occasions(query: BirthdayQuery) -> BirthdayOut:
    zone = planning._zone(current().timezone)
    today = utcnow().astimezone(zone).date()
    items = planning.birthdays(db.session, today=today, days=query.days)
    return BirthdayOut(items=[Occasion(**i) for i in items])


@operation(
    bp,
    "/planning/settings",
    "GET",
    summary="My planning settings",
    tags=TAGS,
    response=PlanningSettings,
)
def get_planning_settings() -> PlanningSettings:
    row = svc.user_settings(db.session, current().id)
    return PlanningSettings(
        email_reminders=row.email_reminders, feed_token_prefix=row.feed_token_prefix
    )


@operation(
    bp,
    "/planning/settings",
    "PATCH",
    summary="Change my planning settings",
    tags=TAGS,
    body=PlanningSettingsIn,
    response=PlanningSettings,
)
def set_planning_settings(body: PlanningSettingsIn) -> PlanningSettings:
    """``email_reminders``: reminders also go by e-mail (through the e-mail channel)."""
    row = svc.user_settings(db.session, current().id)
    row.email_reminders = body.email_reminders
    return PlanningSettings(
        email_reminders=row.email_reminders, feed_token_prefix=row.feed_token_prefix
    )


@operation(
    bp,
    "/planning/feed-token",
    "POST",
    summary="Issue my secret calendar feed URL",
    tags=TAGS,
    response=FeedTokenOut,
    status=201,
)
def issue_feed_token() -> FeedTokenOut:
    """The token is shown once; issuing a new one revokes the old URL."""
    from flask import url_for

    token = svc.do_issue_feed_token(db.session, current())
    return FeedTokenOut(token=token, url=url_for("api.calendar_feed", token=token, _external=True))
