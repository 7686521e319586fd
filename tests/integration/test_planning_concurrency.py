"""Two nodes at once on PostgreSQL: ticks claiming reminders together send each one once
(UPDATE … RETURNING over candidates taken FOR UPDATE SKIP LOCKED), and two bookings of
the same room at the same time end with one booking and one 409."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from sqlalchemy import func, select

from crm_core.errors import Conflict
from crm_core.models import PlanningReminder, ResourceBooking, User
from crm_core.services.calendar import do_create_resource
from crm_core.services.tasks import claim_due_reminders, do_create_task
from hub.db import db as database
from tests.factories import make_user

T0 = dt.datetime(2031, 3, 3, 9, 0, tzinfo=dt.UTC)


def _together(workers: list[Any]) -> list[Any]:
    barrier = threading.Barrier(len(workers))
    results: list[Any] = [None] * len(workers)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = workers[i]()
        except Exception as exc:  # collected and asserted on by the caller
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_two_ticks_send_each_reminder_once(app: Any, postgres_only: None) -> None:
    # Outside an app context on purpose: no after-commit fan-out, only the claims.
    maker = database.sessionmaker_for(app)
    with maker() as s, s.begin():
        users = [make_user(s, name=f"Agent {i}") for i in range(4)]
        for n in range(60):
            do_create_task(
                s,
                users[n % 4],
                {"title": f"Call {n}", "due_at": T0 + dt.timedelta(minutes=n % 7),
                 "timezone": "UTC", "reminder_minutes": [0, 15]},
                now=T0 - dt.timedelta(hours=1),
            )  # fmt: skip
    total = 120

    def tick() -> list[int]:
        claimed: list[int] = []
        for step in range(0, 45, 3):
            with maker() as s, s.begin():
                claimed += [d.reminder.id for d in claim_due_reminders(
                    s, now=T0 - dt.timedelta(minutes=15) + dt.timedelta(minutes=step), limit=10
                )]  # fmt: skip
        return claimed

    first, second = _together([tick, tick])
    assert not isinstance(first, Exception) and not isinstance(second, Exception)
    assert not set(first) & set(second)
    assert len(first) + len(second) == total
    with maker() as s:
        unsent = s.scalar(
            select(func.count())
            .select_from(PlanningReminder)
            .where(PlanningReminder.sent_at.is_(None))
        )
        assert unsent == 0


def test_two_bookings_of_one_room_at_once(app: Any, postgres_only: None) -> None:
    maker = database.sessionmaker_for(app)
    with maker() as s, s.begin():
        a = make_user(s, name="Ala")
        b = make_user(s, name="Bartek")
        room_id = do_create_resource(s, name="Room Odra", kind="room").id
        ids = (a.id, b.id)

    def book(user_id: int) -> int:
        with maker() as s, s.begin():
            user = s.get(User, user_id)
            assert user is not None
            task = do_create_task(
                s, user,
                {"kind": "appointment", "title": f"Meeting of {user.name}", "timezone": "UTC",
                 "start_at": T0, "end_at": T0 + dt.timedelta(hours=1), "resource_ids": [room_id]},
                now=T0 - dt.timedelta(days=1),
            )  # fmt: skip
            return task.id

    results = _together([lambda: book(ids[0]), lambda: book(ids[1])])
    conflicts = [r for r in results if isinstance(r, Conflict)]
    booked = [r for r in results if isinstance(r, int)]
    assert len(conflicts) == 1 and len(booked) == 1, results
    assert "Room Odra" in conflicts[0].message and "Meeting of" in conflicts[0].message
    with maker() as s:
        assert s.scalar(select(func.count()).select_from(ResourceBooking)) == 1
