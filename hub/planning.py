"""Planning in the hub: the tick's reminder and overdue steps (live through
``hub.realtime``, by e-mail through the ``send e-mail`` port), the agent's day, the
supervisor's overdue list, birthdays and anniversaries, and the iCalendar feed.

The tick steps take ``now`` so that tests control the clock.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Todo, vRecur
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.models import Customer, PlanningTask, PlanningUserSettings, Team, User
from crm_core.services import calendar as cal
from crm_core.services import tasks as svc
from hub.cards import next_birthday

BIRTHDAY_DAYS = 7


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


def task_dict(
    session: Session, task: PlanningTask, now: dt.datetime, *, occurrence: dt.datetime | None = None
) -> dict[str, Any]:
    """A task in JSON types: times ISO 8601 UTC, names for the ids people read."""
    customer = session.get(Customer, task.customer_id) if task.customer_id else None
    assignee = session.get(User, task.assignee_id) if task.assignee_id else None
    owner = session.get(User, task.owner_id)
    team = session.get(Team, task.team_id) if task.team_id else None
    start = occurrence or task.anchor
    length = (
        task.end_at - task.start_at
        if task.start_at is not None and task.end_at is not None
        else None
    )
    return {
        "id": task.id,
        "kind": task.kind,
        "title": task.title,
        "description": task.description,
        "status": task.status,
        "priority": task.priority,
        "owner_id": task.owner_id,
        "owner_name": owner.name if owner is not None else None,
        "assignee_id": task.assignee_id,
        "assignee_name": assignee.name if assignee is not None else None,
        "team_id": task.team_id,
        "team_name": team.name if team is not None else None,
        "customer_id": task.customer_id,
        "customer_name": customer.display_name if customer is not None else None,
        "ticket_id": task.ticket_id,
        "interaction_id": task.interaction_id,
        "campaign_id": task.campaign_id,
        "due_at": _iso(task.due_at),
        "start_at": _iso(start if task.kind == "appointment" else task.start_at),
        "end_at": _iso(start + length if start is not None and length is not None else task.end_at),
        "timezone": task.timezone,
        "rrule": task.rrule,
        "location": task.location,
        "reminder_minutes": list(task.reminder_minutes or []),
        "attendee_ids": [u.id for u in task.attendees],
        "resource_ids": sorted({b.resource_id for b in task.bookings}),
        "source": task.source,
        "overdue": svc.is_overdue(task, now),
        "completed_at": _iso(task.completed_at),
        "created_at": _iso(task.created_at),
        "updated_at": _iso(task.updated_at),
    }


# ------------------------------------------------------------------------ tick steps


def send_due_reminders(session: Session, *, now: dt.datetime) -> int:
    """Claim the reminders due at ``now`` (each once, see ``claim_due_reminders``), e-mail
    those whose user asked for it; the live console event follows the commit."""
    from hub.ports import OutboundEmail, email_sender

    due = svc.claim_due_reminders(session, now=now)
    for item in due:
        prefs = session.get(PlanningUserSettings, item.user.id)
        if prefs is None or not prefs.email_reminders:
            continue
        zone = _zone(item.user.timezone)
        when = item.reminder.occurrence_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        email_sender().send_email(
            session,
            OutboundEmail(
                to=item.user.email,
                subject=f"Reminder: {item.task.title} ({when} {zone.key})",
                body_text=(
                    f"{item.task.title}\n{when} {zone.key}\n\n{item.task.description}".strip()
                    + "\n"
                ),
                author_id=None,
                customer_id=None,
                headers={"X-Switchboard-Reminder": str(item.reminder.id)},
            ),
        )
    return len(due)


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except Exception:  # a user's zone that the tz database lost: show UTC, do not fail
        return ZoneInfo("UTC")


# --------------------------------------------------------------------- lists


def local_day(now: dt.datetime, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """Start and end (UTC) of the local day containing ``now``."""
    midnight = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    nxt = (midnight.replace(tzinfo=None) + dt.timedelta(days=1)).replace(tzinfo=zone)
    return midnight.astimezone(dt.UTC), nxt.astimezone(dt.UTC)


def today_for(session: Session, user: User, *, now: dt.datetime) -> dict[str, Any]:
    """The agent's day: overdue, due today (tasks and callbacks), today's appointments."""
    zone = _zone(user.timezone)
    day_start, day_end = local_day(now, zone)
    due = session.scalars(
        select(PlanningTask)
        .where(
            svc.mine_clause(user.id),
            PlanningTask.status == "open",
            PlanningTask.kind.in_(svc.DUE_KINDS),
            PlanningTask.due_at < day_end,
        )
        .order_by(PlanningTask.due_at, PlanningTask.id)
        .limit(200)
    ).all()
    appointments = session.scalars(
        select(PlanningTask).where(
            svc.mine_clause(user.id),
            PlanningTask.status == "open",
            PlanningTask.kind == "appointment",
            PlanningTask.start_at < day_end,
            PlanningTask.rrule.is_not(None) | (PlanningTask.end_at > day_start),
        )
    ).all()
    items: list[dict[str, Any]] = []
    for task in due:
        items.append(task_dict(session, task, now))
    for task in appointments:
        for start in cal.occurrence_starts(task, day_start, day_end):
            items.append(task_dict(session, task, now, occurrence=start))
    items.sort(key=lambda d: (not d["overdue"], d["due_at"] or d["start_at"] or "", d["id"]))
    return {
        "items": items,
        "overdue": sum(1 for d in items if d["overdue"]),
        "day_start": day_start.isoformat(),
        "day_end": day_end.isoformat(),
        "birthdays": birthdays(session, today=now.astimezone(zone).date(), days=BIRTHDAY_DAYS),
    }


def overdue_list(
    session: Session,
    viewer: User,
    *,
    now: dt.datetime,
    team_id: int | None = None,
    assignee_id: int | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Overdue tasks the viewer may see (supervisors: everyone's), oldest due first."""
    stmt = select(PlanningTask).where(svc.overdue_clause(now), svc.visible_tasks_clause(viewer))
    if team_id is not None:
        stmt = stmt.where(PlanningTask.team_id == team_id)
    if assignee_id is not None:
        stmt = stmt.where(
            (PlanningTask.assignee_id == assignee_id)
            | ((PlanningTask.owner_id == assignee_id) & PlanningTask.assignee_id.is_(None))
        )
    rows = session.scalars(stmt.order_by(PlanningTask.due_at, PlanningTask.id).limit(limit))
    return [task_dict(session, t, now) for t in rows]


def overdue_count(session: Session, *, now: dt.datetime) -> int:
    from sqlalchemy import func

    return int(
        session.scalar(
            select(func.count()).select_from(PlanningTask).where(svc.overdue_clause(now))
        )
        or 0
    )


def birthdays(session: Session, *, today: dt.date, days: int) -> list[dict[str, Any]]:
    """Customers whose birthday, or the anniversary of becoming a customer (whole years),
    falls within ``days`` from ``today`` (today included), soonest first."""
    out: list[dict[str, Any]] = []
    rows = session.execute(
        select(Customer.id, Customer.display_name, Customer.birthday, Customer.created_at).where(
            Customer.merged_into_id.is_(None)
        )
    ).all()
    for ident, name, birthday, created in rows:
        if birthday is not None:
            when = next_birthday(birthday, today)
            if (when - today).days <= days:
                out.append(
                    {
                        "customer_id": ident,
                        "name": name,
                        "kind": "birthday",
                        "date": when.isoformat(),
                        "in_days": (when - today).days,
                        "years": when.year - birthday.year,
                    }
                )
        since = created.date()
        when = next_birthday(since, today)
        years = when.year - since.year
        if years >= 1 and (when - today).days <= days:
            out.append(
                {
                    "customer_id": ident,
                    "name": name,
                    "kind": "anniversary",
                    "date": when.isoformat(),
                    "in_days": (when - today).days,
                    "years": years,
                }
            )
    out.sort(key=lambda d: (d["in_days"], d["name"], d["kind"]))
    return out[:100]


# ------------------------------------------------------------------------ calendars


def calendar_items(
    session: Session,
    viewer: User,
    *,
    start: dt.datetime,
    end: dt.datetime,
    user_id: int | None = None,
    team_id: int | None = None,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """Occurrences in [start, end) of one person's calendar (default: the viewer's) or a
    team's (tasks given to the team and its members' own), as the viewer may see them."""
    cal.check_window(start, end)
    stmt = select(PlanningTask).where(
        svc.visible_tasks_clause(viewer), PlanningTask.status != "cancelled"
    )
    if team_id is not None:
        members = select(User.id).join(Team.members).where(Team.id == team_id)
        stmt = stmt.where(
            (PlanningTask.team_id == team_id)
            | PlanningTask.assignee_id.in_(members)
            | (PlanningTask.owner_id.in_(members) & PlanningTask.assignee_id.is_(None))
        )
    else:
        stmt = stmt.where(svc.mine_clause(user_id or viewer.id))
    # Non-recurring items outside the window are left to the database; series are expanded.
    anchor_in_window = ((PlanningTask.due_at < end) & (PlanningTask.due_at >= start)) | (
        (PlanningTask.start_at < end) & (PlanningTask.end_at > start)
    )
    stmt = stmt.where(
        anchor_in_window
        | (
            PlanningTask.rrule.is_not(None)
            & ((PlanningTask.due_at < end) | (PlanningTask.start_at < end))
        )
    )
    items: list[dict[str, Any]] = []
    for task in session.scalars(stmt.order_by(PlanningTask.id).limit(2000)):
        for occurrence in cal.occurrence_starts(task, start, end):
            items.append(task_dict(session, task, now, occurrence=occurrence))
            items[-1]["occurrence_at"] = occurrence.isoformat()
    items.sort(key=lambda d: (d["occurrence_at"], d["id"]))
    return items


# ------------------------------------------------------------------------ iCalendar


def ics_feed(session: Session, user: User, *, now: dt.datetime) -> bytes:
    """The user's open tasks (VTODO) and appointments (VEVENT, with their RRULE) as an
    RFC 5545 calendar; the icalendar library does the escaping and line folding."""
    feed = Calendar()
    feed.add("prodid", "-//Switchboard//Planning//EN")
    feed.add("version", "2.0")
    feed.add("x-wr-calname", f"Switchboard: {user.name}")
    rows = session.scalars(
        select(PlanningTask)
        .where(svc.mine_clause(user.id), PlanningTask.status != "cancelled")
        .where(
            (PlanningTask.status == "open")
            | (PlanningTask.updated_at >= now - dt.timedelta(days=90))
        )
        .order_by(PlanningTask.id)
        .limit(2000)
    )
    for task in rows:
        uid = f"task-{task.id}@switchboard"
        if task.kind == "appointment" and task.start_at and task.end_at:
            item: Event | Todo = Event()
            # In the zone it was planned in, so that the RRULE recurs at the same wall time.
            item.add("dtstart", task.start_at.astimezone(_zone(task.timezone)))
            item.add("dtend", task.end_at.astimezone(_zone(task.timezone)))
            if task.location:
                item.add("location", task.location)
        else:
            item = Todo()
            if task.due_at is not None:
                item.add("due", task.due_at.astimezone(_zone(task.timezone)))
            item.add("status", "COMPLETED" if task.status == "done" else "NEEDS-ACTION")
            item.add("priority", {"urgent": 1, "high": 3, "normal": 5, "low": 9}[task.priority])
        item.add("uid", uid)
        item.add("dtstamp", now)
        item.add("summary", task.title)
        if task.description:
            item.add("description", task.description)
        if task.rrule:
            item.add("rrule", vRecur.from_ical(task.rrule.removeprefix("RRULE:")))
        item.add("last-modified", task.updated_at)
        feed.add_component(item)
    feed.add_missing_timezones()
    return bytes(feed.to_ical())


# ------------------------------------------------------------------------ demo data

DEMO_RESOURCES = (
    ("Sala Wisła", "room", "12 seats, screen"),
    ("Sala Odra", "room", "6 seats"),
    ("Toyota Corolla WX 12345", "car", "Pool car, Warsaw office"),
    ("Projektor Epson", "equipment", "Portable projector"),
)


def load_demo_planning(session: Session, users: dict[str, User], *, now: dt.datetime) -> None:
    """Resources, a weekly team meeting in a booked room, callbacks and an overdue task
    for the demo agent (part of ``hub.demo.load_demo``; times relative to ``now``)."""
    rooms = [
        cal.do_create_resource(session, name=n, kind=k, description=d) for n, k, d in DEMO_RESOURCES
    ]
    agent = users.get("agent@switchboard.example")
    boss = users.get("supervisor@switchboard.example")
    if agent is None or boss is None:
        return
    anna = session.scalar(select(Customer).where(Customer.display_name == "Anna Kowalska").limit(1))
    service = session.scalar(select(Team).where(Team.name == "Service"))
    hour = now.replace(minute=0, second=0, microsecond=0)
    monday = (hour - dt.timedelta(days=hour.weekday())).replace(hour=8)
    svc.do_create_task(
        session,
        boss,
        {
            "kind": "appointment",
            "title": "Service team weekly",
            "start_at": monday + dt.timedelta(days=7),
            "end_at": monday + dt.timedelta(days=7, minutes=45),
            "timezone": "UTC",
            "rrule": "FREQ=WEEKLY;BYDAY=MO;COUNT=12",
            "team_id": service.id if service is not None else None,
            "attendee_ids": [agent.id],
            "resource_ids": [rooms[0].id],
            "reminder_minutes": [15],
        },
        now=now,
    )
    svc.do_create_task(
        session,
        agent,
        {
            "kind": "callback",
            "title": "Call Anna back about the invoice",
            "customer_id": anna.id if anna is not None else None,
            "due_at": hour + dt.timedelta(hours=2),
            "timezone": "UTC",
            "priority": "high",
            "reminder_minutes": [15],
        },
        now=now,
    )
    svc.do_create_task(
        session,
        agent,
        {"title": "Send the signed contract back", "due_at": hour - dt.timedelta(days=1)},
        now=now,
    )
    svc.do_create_task(
        session,
        agent,
        {
            "kind": "appointment",
            "title": "Visit Kowalski Transport",
            "start_at": hour + dt.timedelta(days=2, hours=1),
            "end_at": hour + dt.timedelta(days=2, hours=3),
            "timezone": "UTC",
            "location": "Warszawa",
            "resource_ids": [rooms[2].id],
        },
        now=now,
    )
