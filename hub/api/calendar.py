"""Calendars (a person's or a team's occurrences in a window), resources and their
schedule, and the per-user iCalendar feed behind a secret token."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from flask import Response
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import select

from crm_core.db import utcnow
from crm_core.errors import NotFound, ValidationFailed
from crm_core.models import PlanningResource, PlanningTask, Team
from crm_core.services import calendar as cal
from crm_core.services import tasks as svc
from hub import planning
from hub.api import bp
from hub.api.schemas import Id, Strict
from hub.api.spec import PUBLIC, operation
from hub.api.tasks import TaskOut
from hub.auth import current
from hub.db import db

TAGS = ["calendar"]


class CalendarQuery(Strict):
    start: dt.datetime = Field(
        description="window start (with an offset, or wall time in the caller's zone)"
    )
    end: dt.datetime = Field(description="window end, at most 62 days after start")
    user_id: Id | None = None
    team_id: Id | None = None


class CalendarOut(BaseModel):
    items: list[TaskOut]
    start: dt.datetime
    end: dt.datetime


class ResourceIn(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    kind: Literal["room", "car", "equipment"] = "room"
    description: Annotated[str, StringConstraints(max_length=2000)] = ""


class ResourceOut(BaseModel):
    id: int
    name: str
    kind: str
    description: str
    active: bool


class ResourceList(BaseModel):
    items: list[ResourceOut]


class WindowQuery(Strict):
    start: dt.datetime
    end: dt.datetime


class BookingOut(BaseModel):
    id: int
    task_id: int
    title: str
    start_at: dt.datetime
    end_at: dt.datetime


class ScheduleOut(BaseModel):
    resource: ResourceOut
    bookings: list[BookingOut]


def _window(start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    zone = cal.get_zone(current().timezone or "UTC")
    try:
        s = cal.local_to_utc(start, zone, field="start")
        e = cal.local_to_utc(end, zone, field="end")
    except OverflowError:
        raise ValidationFailed("the window is out of range", field="start") from None
    cal.check_window(s, e)
    return s, e


def _resource(r: PlanningResource) -> ResourceOut:
    return ResourceOut(
        id=r.id, name=r.name, kind=r.kind, description=r.description, active=r.active
    )


@operation(
    bp,
    "/calendar",
    "GET",
    summary="Calendar occurrences in a window",
    tags=TAGS,
    query=CalendarQuery,
    response=CalendarOut,
)
def calendar_view(query: CalendarQuery) -> CalendarOut:
    """The caller's calendar, another person's (``user_id``: what the caller may see of
    it) or a team's (``team_id``: members and supervisors only). Recurring items come as
    one entry per occurrence (``occurrence_at``)."""
    user = current()
    start, end = _window(query.start, query.end)
    if query.team_id is not None:
        team = db.session.get(Team, query.team_id)
        if team is None or not (user.is_supervisor or any(t.id == team.id for t in user.teams)):
            raise NotFound(f"team {query.team_id} not found")
    items = planning.calendar_items(
        db.session,
        user,
        start=start,
        end=end,
        user_id=query.user_id,
        team_id=query.team_id,
        now=utcnow(),
    )
    return CalendarOut(items=[TaskOut(**i) for i in items], start=start, end=end)


@operation(
    bp, "/resources", "GET", summary="Rooms, cars and equipment", tags=TAGS, response=ResourceList
)
def list_resources() -> ResourceList:
    rows = db.session.scalars(select(PlanningResource).order_by(PlanningResource.name))
    return ResourceList(items=[_resource(r) for r in rows])


@operation(
    bp,
    "/resources",
    "POST",
    summary="Add a resource",
    tags=TAGS,
    body=ResourceIn,
    response=ResourceOut,
    status=201,
    roles=("supervisor",),
    errors=(409,),
)
def create_resource(body: ResourceIn) -> ResourceOut:
    resource = cal.do_create_resource(
        db.session,
        name=body.name,
        kind=body.kind,
        description=body.description,
        actor_id=current().id,
    )
    return _resource(resource)


@operation(
    bp,
    "/resources/<int:resource_id>/schedule",
    "GET",
    summary="A resource's bookings",
    tags=TAGS,
    query=WindowQuery,
    response=ScheduleOut,
)
def resource_schedule(resource_id: int, query: WindowQuery) -> ScheduleOut:
    """Every booking overlapping the window; titles of appointments the caller may not
    see are hidden (the slot still shows as taken)."""
    user = current()
    start, end = _window(query.start, query.end)
    resource = cal.get_resource(db.session, resource_id)
    visible = svc.visible_tasks_clause(user)
    out: list[BookingOut] = []
    for booking, task in cal.resource_schedule(db.session, resource_id, start, end):
        seen = user.is_supervisor or db.session.scalar(
            select(PlanningTask.id).where(PlanningTask.id == task.id, visible)
        )
        out.append(
            BookingOut(
                id=booking.id,
                task_id=task.id,
                title=task.title if seen else "—",
                start_at=booking.start_at,
                end_at=booking.end_at,
            )
        )
    return ScheduleOut(resource=_resource(resource), bookings=out)


@operation(
    bp,
    "/calendar/feed/<token>.ics",
    "GET",
    summary="My calendar as iCalendar (secret URL)",
    tags=TAGS,
    auth=PUBLIC,
)
def calendar_feed(token: str) -> Response:
    """Public by its secret: the token from ``POST /planning/feed-token`` (only its hash
    is stored). An unknown or replaced token answers 404."""
    user = svc.user_for_feed_token(db.session, token)
    if user is None:
        raise NotFound("no such calendar feed")
    body = planning.ics_feed(db.session, user, now=utcnow())
    return Response(
        body,
        mimetype="text/calendar",
        headers={
            "Content-Disposition": 'inline; filename="switchboard.ics"',
            "Cache-Control": "private, max-age=300",
        },
    )
