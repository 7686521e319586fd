"""Tasks, appointments, reminders, resources and the calendar through the API, on SQLite
and PostgreSQL: record rules, time zones, recurrence, the tick's reminder and overdue
steps (with an explicit clock), bad input, the iCalendar feed."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.models import Interaction, PlanningReminder, PlanningTask, Team, User
from crm_core.services.users import do_create_user, get_or_create_team, hash_password
from hub.realtime import socketio
from hub.tasks import run_planning_steps
from tests.factories import PASSWORD, bearer, make_customer

API = "/api/v1"
UTC = dt.UTC


@dataclass
class World:
    sales: Team
    agent: User
    mate: User
    other: User
    boss: User
    agent_h: dict[str, str]
    mate_h: dict[str, str]
    other_h: dict[str, str]
    boss_h: dict[str, str]
    customer_id: int


@functools.cache
def _password_hash() -> str:
    return hash_password(PASSWORD)  # argon2 is slow on purpose: once per run, not per user


def user(session: Session, name: str, *, role: str = "agent", teams: tuple[str, ...] = ()) -> User:
    """A user through the product's action, sharing one password hash (like the demo)."""
    made = do_create_user(
        session,
        email=f"{name.split()[0].lower()}.{next(_seq)}@example.com",
        name=name,
        password=None,
        role=role,
        teams=[get_or_create_team(session, t) for t in teams],
    )
    made.password_hash = _password_hash()
    return made


_seq = itertools.count(1)


@pytest.fixture
def world(session: Session) -> World:
    sales = get_or_create_team(session, "Sales")
    agent = user(session, "Agata Agent", teams=("Sales",))
    agent.timezone = "Europe/Warsaw"
    mate = user(session, "Marek Mate", teams=("Sales",))
    other = user(session, "Olek Other", teams=("Support",))
    boss = user(session, "Stefan Boss", role="supervisor")
    customer = make_customer(session, first_name="Zofia", last_name="Nowak")
    w = World(
        sales, agent, mate, other, boss,
        bearer(session, agent), bearer(session, mate), bearer(session, other),
        bearer(session, boss), customer.id,
    )  # fmt: skip
    session.commit()
    return w


def create(client: FlaskClient, headers: dict[str, str], **body: Any) -> Any:
    return client.post(f"{API}/tasks", json=body, headers=headers)


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.get_json()
    return response.get_json()


def test_wall_time_in_the_callers_zone_is_stored_in_utc(client: FlaskClient, world: World) -> None:
    task = ok(
        create(
            client, world.agent_h, title="Call Zofia back", due_at="2026-07-01T09:30",
            customer_id=world.customer_id, priority="high", reminder_minutes=[15, 2, 15],
        ),
        201,
    )  # fmt: skip
    # Warsaw is UTC+2 in July; the caller's own zone was used.
    assert task["due_at"] == "2026-07-01T07:30:00Z"
    assert task["timezone"] == "Europe/Warsaw"
    assert task["reminder_minutes"] == [2, 15]
    assert task["customer_name"] == "Zofia Nowak"
    explicit = ok(
        create(client, world.agent_h, title="NY", due_at="2026-07-01T09:30",
               timezone="America/New_York"),
        201,
    )  # fmt: skip
    assert explicit["due_at"] == "2026-07-01T13:30:00Z"
    aware = ok(create(client, world.agent_h, title="Z", due_at="2026-07-01T09:30:00+00:00"), 201)
    assert aware["due_at"] == "2026-07-01T09:30:00Z"
    _record_rule(client, world)
    _bad_input(client, world)


def _record_rule(client: FlaskClient, world: World) -> None:
    private = ok(create(client, world.agent_h, title="My own"), 201)
    team_task = ok(create(client, world.agent_h, title="For Sales", team_id=world.sales.id), 201)
    for_other = ok(
        create(client, world.agent_h, title="Handed over", assignee_id=world.other.id), 201
    )
    assert client.get(f"{API}/tasks/{private['id']}", headers=world.other_h).status_code == 404
    assert client.get(f"{API}/tasks/{private['id']}", headers=world.mate_h).status_code == 404
    assert client.get(f"{API}/tasks/{team_task['id']}", headers=world.mate_h).status_code == 200
    assert client.get(f"{API}/tasks/{for_other['id']}", headers=world.other_h).status_code == 200
    assert client.get(f"{API}/tasks/{private['id']}", headers=world.boss_h).status_code == 200
    patch = client.patch(
        f"{API}/tasks/{private['id']}", json={"status": "done"}, headers=world.other_h
    )
    assert patch.status_code == 404
    titles = {t["title"] for t in ok(client.get(f"{API}/tasks", headers=world.other_h))["items"]}
    assert titles == {"Handed over"}
    mine = ok(client.get(f"{API}/tasks?mine=true", headers=world.agent_h))["items"]
    assert {t["title"] for t in mine} >= {"My own", "For Sales"}
    assert "Handed over" not in {t["title"] for t in mine}
    on_time = ok(client.get(f"{API}/tasks?mine=true&overdue=false", headers=world.agent_h))
    assert "My own" in {t["title"] for t in on_time["items"]}  # no due date: not overdue
    done = ok(client.patch(f"{API}/tasks/{private['id']}", json={"status": "done"},
                           headers=world.agent_h))  # fmt: skip
    assert done["status"] == "done" and done["completed_at"]


def _bad_input(client: FlaskClient, world: World) -> None:
    h = world.agent_h
    r = create(client, h, title="x", due_at="2026-07-01T09:00", timezone="Mars/Olympus")
    assert r.status_code == 422 and r.get_json()["field"] == "timezone"
    assert "Mars/Olympus" in r.get_json()["message"]
    r = create(client, h, title="x", due_at="2026-07-01T09:00", rrule="FREQ=SOMETIMES")
    assert r.status_code == 422 and r.get_json()["field"] == "rrule"
    assert "invalid recurrence rule" in r.get_json()["message"]
    r = create(client, h, title="x", due_at="2026-07-01T09:00", rrule="BYDAY=MO")
    assert r.status_code == 422 and r.get_json()["field"] == "rrule"
    r = create(client, h, title="x", due_at="2026-07-01T09:00", rrule="FREQ=DAILY;COUNT=0")
    assert r.status_code == 422 and r.get_json()["field"] == "rrule"
    r = create(client, h, title="x", rrule="FREQ=DAILY")
    assert r.status_code == 422 and r.get_json()["field"] == "rrule"
    r = create(
        client, h, kind="appointment", title="x",
        start_at="2026-07-01T10:00Z", end_at="2026-07-01T09:00Z",
    )  # fmt: skip
    assert r.status_code == 422 and r.get_json()["field"] == "end_at"
    r = create(client, h, kind="appointment", title="x", start_at="2026-07-01T10:00Z")
    assert r.status_code == 422
    # 02:30 on 29 March 2026 does not exist in Warsaw (clocks jump from 2:00 to 3:00).
    r = create(client, h, title="x", due_at="2026-03-29T02:30")
    assert r.status_code == 422 and r.get_json()["field"] == "due_at"
    assert "does not exist" in r.get_json()["message"]
    r = create(client, h, title="x", due_at="not a date")
    assert r.status_code == 422
    r = create(client, h, title="x", due_at="2026-02-30T10:00")
    assert r.status_code == 422
    r = create(client, h, title="x", due_at="0001-01-01T00:00:00+14:00")
    assert r.status_code == 422
    r = create(client, h, title="x", due_at="2026-07-01T09:00", reminder_minutes=[-5])
    assert r.status_code == 422
    r = create(client, h, title="   ")
    assert r.status_code == 422
    r = create(client, h, title="x", customer_id=999999)
    assert r.status_code == 422 and r.get_json()["field"] == "customer_id"


def test_overlapping_resource_bookings_are_refused_naming_the_other(
    client: FlaskClient, world: World
) -> None:
    room = ok(client.post(f"{API}/resources", json={"name": "Room Wisła", "kind": "room"},
                          headers=world.boss_h), 201)  # fmt: skip
    assert client.post(f"{API}/resources", json={"name": "Van", "kind": "car"},
                       headers=world.agent_h).status_code == 403  # fmt: skip
    first = ok(
        create(
            client, world.agent_h, kind="appointment", title="Demo for Zofia",
            start_at="2026-07-01T10:00Z", end_at="2026-07-01T11:00Z", resource_ids=[room["id"]],
        ),
        201,
    )  # fmt: skip
    clash = create(
        client, world.mate_h, kind="appointment", title="Team meeting",
        start_at="2026-07-01T10:30Z", end_at="2026-07-01T12:00Z", resource_ids=[room["id"]],
    )  # fmt: skip
    assert clash.status_code == 409
    problem = clash.get_json()
    assert "Room Wisła" in problem["message"] and "Demo for Zofia" in problem["message"]
    assert problem["detail"]["task_id"] == first["id"]
    # Back to back is fine; a weekly series that hits the booking on its 2nd week is not.
    ok(
        create(
            client, world.mate_h, kind="appointment", title="After",
            start_at="2026-07-01T11:00Z", end_at="2026-07-01T12:00Z", resource_ids=[room["id"]],
        ),
        201,
    )  # fmt: skip
    series = create(
        client, world.mate_h, kind="appointment", title="Weekly", timezone="UTC",
        start_at="2026-06-24T10:15", end_at="2026-06-24T10:45",
        rrule="FREQ=WEEKLY;COUNT=4", resource_ids=[room["id"]],
    )  # fmt: skip
    assert series.status_code == 409 and "Demo for Zofia" in series.get_json()["message"]
    endless = create(
        client, world.mate_h, kind="appointment", title="Forever", timezone="UTC",
        start_at="2027-01-04T10:00", end_at="2027-01-04T11:00",
        rrule="FREQ=WEEKLY", resource_ids=[room["id"]],
    )  # fmt: skip
    assert endless.status_code == 422 and endless.get_json()["field"] == "rrule"
    # Cancelling frees the room.
    ok(client.patch(f"{API}/tasks/{first['id']}", json={"status": "cancelled"},
                    headers=world.agent_h))  # fmt: skip
    ok(
        create(
            client, world.mate_h, kind="appointment", title="Team meeting",
            start_at="2026-07-01T10:30Z", end_at="2026-07-01T11:00Z", resource_ids=[room["id"]],
        ),
        201,
    )  # fmt: skip
    # Reopening the cancelled one books its room again, and so meets the new meeting.
    reopen = client.patch(f"{API}/tasks/{first['id']}", json={"status": "open"},
                          headers=world.agent_h)  # fmt: skip
    assert reopen.status_code == 409 and "Team meeting" in reopen.get_json()["message"]
    sched = ok(client.get(
        f"{API}/resources/{room['id']}/schedule?start=2026-07-01T00:00Z&end=2026-07-02T00:00Z",
        headers=world.other_h,
    ))  # fmt: skip
    assert [b["title"] for b in sched["bookings"]] == ["—", "—"]  # taken, titles hidden


def test_recurrence_keeps_local_time_across_dst(client: FlaskClient, world: World) -> None:
    ok(
        create(
            client, world.agent_h, kind="appointment", title="Weekly review",
            start_at="2026-10-19T09:00", end_at="2026-10-19T09:30",
            rrule="RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=3",
        ),
        201,
    )  # fmt: skip
    view = ok(client.get(
        f"{API}/calendar?start=2026-10-01T00:00Z&end=2026-11-30T00:00Z", headers=world.agent_h
    ))  # fmt: skip
    starts = [i["occurrence_at"] for i in view["items"]]
    # 9:00 in Warsaw: UTC+2 before 25 October, UTC+1 after.
    assert starts == ["2026-10-19T07:00:00Z", "2026-10-26T08:00:00Z", "2026-11-02T08:00:00Z"]
    assert view["items"][1]["end_at"] == "2026-10-26T08:30:00Z"
    ok(create(client, world.agent_h, title="Sales call list", team_id=world.sales.id,
              due_at="2026-10-20T12:00"), 201)  # fmt: skip
    window = "start=2026-10-01T00:00Z&end=2026-11-30T00:00Z"
    team = ok(client.get(
        f"{API}/calendar?{window}&team_id={world.sales.id}", headers=world.boss_h
    ))  # fmt: skip
    assert len(team["items"]) == 4
    person = ok(client.get(
        f"{API}/calendar?{window}&user_id={world.agent.id}", headers=world.boss_h
    ))  # fmt: skip
    assert [i["title"] for i in person["items"]].count("Weekly review") == 3
    # A team-mate sees the team's own tasks, not a member's private appointments.
    team = ok(client.get(
        f"{API}/calendar?{window}&team_id={world.sales.id}", headers=world.mate_h
    ))  # fmt: skip
    assert [i["title"] for i in team["items"]] == ["Sales call list"]
    _recurring_task_done(client, world)
    r = client.get(
        f"{API}/calendar?start=2026-10-01T00:00Z&end=2026-11-30T00:00Z&team_id={world.sales.id}",
        headers=world.other_h,
    )
    assert r.status_code == 404
    r = client.get(
        f"{API}/calendar?start=2026-10-02T00:00Z&end=2026-10-01T00:00Z", headers=world.agent_h
    )
    assert r.status_code == 422


def _recurring_task_done(client: FlaskClient, world: World) -> None:
    task = ok(create(client, world.agent_h, title="Weekly report", due_at="2026-07-06T16:00",
                     rrule="FREQ=WEEKLY"), 201)  # fmt: skip
    after = ok(client.patch(f"{API}/tasks/{task['id']}", json={"status": "done"},
                            headers=world.agent_h))  # fmt: skip
    assert after["status"] == "open" and after["due_at"] == "2026-07-13T14:00:00Z"


def _ticks(app: Flask, now: dt.datetime) -> dict[str, int]:
    with app.app_context():
        return run_planning_steps(now)


def test_reminders_go_out_once_live_and_by_mail_then_overdue(
    app: Flask, client: FlaskClient, world: World, session: Session
) -> None:
    client.post("/login", data={"email": world.agent.email, "password": PASSWORD})
    sc = socketio.test_client(app, namespace="/console", flask_test_client=client)
    boss_client = app.test_client()
    boss_client.post("/login", data={"email": world.boss.email, "password": PASSWORD})
    boss_sc = socketio.test_client(app, namespace="/console", flask_test_client=boss_client)
    assert sc.is_connected("/console") and boss_sc.is_connected("/console")
    ok(client.patch(f"{API}/planning/settings", json={"email_reminders": True},
                    headers=world.agent_h))  # fmt: skip
    now = dt.datetime(2030, 5, 4, 10, 0, tzinfo=UTC)
    due = now + dt.timedelta(minutes=4)
    task = ok(create(client, world.agent_h, title="Ring Zofia", due_at=due.isoformat(),
                     reminder_minutes=[2], customer_id=world.customer_id), 201)  # fmt: skip
    sc.get_received("/console")
    boss_sc.get_received("/console")
    assert _ticks(app, now + dt.timedelta(minutes=1)) == {"reminders": 0, "overdue_tasks": 0}
    assert _ticks(app, now + dt.timedelta(minutes=2)) == {"reminders": 1, "overdue_tasks": 0}
    # The same moment again (a second node, a retried beat): nothing more.
    assert _ticks(app, now + dt.timedelta(minutes=3))["reminders"] == 0
    got = [m["args"][0] for m in sc.get_received("/console") if m["name"] == "reminder"]
    assert len(got) == 1 and got[0]["task_id"] == task["id"]
    assert got[0]["title"] == "Ring Zofia" and got[0]["customer_name"] == "Zofia Nowak"
    mails = session.scalars(
        select(Interaction).where(Interaction.to_address == world.agent.email)
    ).all()
    assert len(mails) == 1 and "Ring Zofia" in (mails[0].subject or "")
    sent = session.scalars(select(PlanningReminder)).all()
    assert [r.sent_at is not None for r in sent] == [True]
    session.rollback()  # SQLite: a read transaction holds the write lock the tick needs
    # Overdue once the due time passed: flagged once, the supervisors hear of it.
    assert _ticks(app, due + dt.timedelta(seconds=1))["overdue_tasks"] == 1
    assert _ticks(app, due + dt.timedelta(minutes=5))["overdue_tasks"] == 0
    flagged = [
        m["args"][0] for m in boss_sc.get_received("/console") if m["name"] == "task_overdue"
    ]
    assert [f["task_id"] for f in flagged] == [task["id"]]
    overdue = ok(boss_client.get(f"{API}/tasks/overdue"))
    assert [t["id"] for t in overdue["items"]] == [task["id"]] and overdue["items"][0]["overdue"]
    assert client.get(f"{API}/tasks/overdue").status_code == 403
    assert boss_client.get("/console/api/wallboard").get_json()["overdue_tasks"] == 1
    sc.disconnect("/console")
    boss_sc.disconnect("/console")


def test_recurring_reminders_plan_the_next_occurrence(
    app: Flask, client: FlaskClient, world: World, session: Session
) -> None:
    start = dt.datetime(2030, 5, 6, 8, 0, tzinfo=UTC)
    ok(create(client, world.agent_h, kind="appointment", title="Stand-up", timezone="UTC",
              start_at=start.isoformat(), end_at=(start + dt.timedelta(minutes=15)).isoformat(),
              rrule="FREQ=DAILY;COUNT=3", reminder_minutes=[15]), 201)  # fmt: skip
    assert _ticks(app, start - dt.timedelta(minutes=15))["reminders"] == 1
    assert _ticks(app, start + dt.timedelta(days=1) - dt.timedelta(minutes=15))["reminders"] == 1
    assert _ticks(app, start + dt.timedelta(days=2))["reminders"] == 1
    assert _ticks(app, start + dt.timedelta(days=9))["reminders"] == 0
    occurrences = sorted(r.occurrence_at for r in session.scalars(select(PlanningReminder)))
    session.rollback()
    assert occurrences == [start + dt.timedelta(days=d) for d in range(3)]
    # An endless daily series and a tick that was down for five days: one late reminder
    # (the one already planned), then the series goes on from now, not day by day.
    later = start + dt.timedelta(days=20)
    ok(create(client, world.agent_h, title="Daily check", timezone="UTC",
              due_at=later.isoformat(), rrule="FREQ=DAILY", reminder_minutes=[0]), 201)  # fmt: skip
    assert _ticks(app, later)["reminders"] == 1
    assert _ticks(app, later + dt.timedelta(days=5, hours=1))["reminders"] == 1
    assert _ticks(app, later + dt.timedelta(days=5, hours=2))["reminders"] == 0
    assert _ticks(app, later + dt.timedelta(days=6))["reminders"] == 1


def test_today_next_contact_and_birthdays(
    client: FlaskClient, world: World, session: Session
) -> None:
    now = dt.datetime.now(UTC)
    ok(
        create(
            client,
            world.agent_h,
            title="Late one",
            due_at=(now - dt.timedelta(hours=30)).isoformat(),
        ),
        201,
    )
    planned = ok(
        client.post(
            f"{API}/customers/{world.customer_id}/next-contact",
            json={"due_at": (now + dt.timedelta(minutes=5)).isoformat(), "note": "Offer renewal"},
            headers=world.agent_h,
        ),
        201,
    )
    assert planned["kind"] == "callback" and planned["source"] == "next_contact"
    assert planned["customer_id"] == world.customer_id
    from crm_core.models import Customer

    zofia = session.get(Customer, world.customer_id)
    assert zofia is not None
    today_warsaw = now.astimezone(dt.timezone(dt.timedelta(hours=1))).date()
    zofia.birthday = dt.date(1980, today_warsaw.month, min(today_warsaw.day, 28))
    session.commit()
    day = ok(client.get(f"{API}/tasks/today", headers=world.agent_h))
    titles = [i["title"] for i in day["items"]]
    assert titles[0] == "Late one" and day["overdue"] >= 1 and "Offer renewal" in titles
    assert any(b["kind"] == "birthday" and b["name"] == "Zofia Nowak" for b in day["birthdays"])
    assert ok(client.get(f"{API}/tasks/today", headers=world.other_h))["items"] == []


def test_ics_feed_behind_a_secret_token(
    client: FlaskClient, world: World, session: Session
) -> None:
    ok(create(client, world.agent_h, kind="appointment", title="Meet; Zofia, at HQ\\ok",
              start_at="2030-01-07T10:00", end_at="2030-01-07T11:00", location="HQ",
              rrule="FREQ=WEEKLY;COUNT=2", description="A long line " * 20), 201)  # fmt: skip
    ok(create(client, world.agent_h, title="Send the offer", due_at="2030-01-08T12:00"), 201)
    issued = ok(client.post(f"{API}/planning/feed-token", headers=world.agent_h), 201)
    token = issued["token"]
    assert issued["url"].endswith(f"/api/v1/calendar/feed/{token}.ics")
    row = ok(client.get(f"{API}/planning/settings", headers=world.agent_h))
    assert row["feed_token_prefix"] == token[:12]
    anon = client.application.test_client()
    feed = anon.get(f"/api/v1/calendar/feed/{token}.ics")
    assert feed.status_code == 200 and feed.mimetype == "text/calendar"
    from icalendar import Calendar

    text = feed.get_data(as_text=True)
    assert "SUMMARY:Meet\\; Zofia\\, at HQ\\\\ok" in text
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    parsed = Calendar.from_ical(feed.get_data())
    events = parsed.walk("VEVENT")
    todos = parsed.walk("VTODO")
    assert [str(e["summary"]) for e in events] == ["Meet; Zofia, at HQ\\ok"]
    assert events[0]["dtstart"].dt.utcoffset() == dt.timedelta(hours=1)
    assert parsed.walk("VTIMEZONE")
    assert [str(t["summary"]) for t in todos] == ["Send the offer"]
    assert anon.get(f"/api/v1/calendar/feed/{token}x.ics").status_code == 404
    ok(client.post(f"{API}/planning/feed-token", headers=world.agent_h), 201)
    assert anon.get(f"/api/v1/calendar/feed/{token}.ics").status_code == 404
    stored = session.scalars(select(PlanningTask)).all()
    assert len(stored) == 2


def test_errors_in_the_readers_language(client: FlaskClient, session: Session) -> None:
    agent = user(session, "Piotr Nowak")
    agent.language = "pl"
    headers = bearer(session, agent)
    session.commit()
    r = create(client, headers, title="x", due_at="2026-07-01T09:00", timezone="Mars/Olympus")
    assert r.status_code == 422
    assert r.get_json()["message"].startswith("nieznana strefa czasowa 'Mars/Olympus'")
    r = create(client, headers, title="x", due_at="2026-03-29T02:30", timezone="Europe/Warsaw")
    assert "nie istnieje w strefie Europe/Warsaw" in r.get_json()["message"]
