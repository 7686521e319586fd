"""SLA clocks: business hours and holidays, pausing while pending on the customer, and
the escalation of breaches."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from crm_core.models import Ticket
from crm_core.services.tickets import do_create_ticket, do_update_ticket
from hub.models import QueueEntry, RoutingEvent, SlaClock
from hub.sla import (
    add_business_seconds,
    business_seconds_between,
    check_breaches,
    clock_dict,
    sync_ticket_sla,
)
from tests.routing_helpers import call, make_queue

HOURS = {d: [["08:00", "16:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
WAW = "Europe/Warsaw"


def waw(*args: int) -> dt.datetime:
    from zoneinfo import ZoneInfo

    return dt.datetime(*args, tzinfo=ZoneInfo(WAW)).astimezone(dt.UTC)


def test_business_time_skips_nights_weekends_and_holidays():
    # Friday 15:00 → Monday 09:00: one hour on Friday, one on Monday.
    assert (
        business_seconds_between(waw(2026, 11, 20, 15), waw(2026, 11, 23, 9), hours=HOURS, tz=WAW)
        == 2 * 3600
    )
    # The same with Monday a holiday: only Friday's hour.
    assert (
        business_seconds_between(
            waw(2026, 11, 20, 15),
            waw(2026, 11, 23, 9),
            hours=HOURS,
            holidays=["2026-11-23"],
            tz=WAW,
        )
        == 3600
    )
    # Four business hours from Friday 14:00 end Monday 10:00.
    assert add_business_seconds(waw(2026, 11, 20, 14), 4 * 3600, hours=HOURS, tz=WAW) == waw(
        2026, 11, 23, 10
    )
    # Arriving at night starts counting at opening time.
    assert add_business_seconds(waw(2026, 11, 24, 22), 1800, hours=HOURS, tz=WAW) == waw(
        2026, 11, 25, 8, 30
    )
    # Round the clock without hours.
    start = waw(2026, 11, 21, 3)
    assert add_business_seconds(start, 90) == start + dt.timedelta(seconds=90)


def test_ticket_clock_pauses_while_pending_and_resumes(app, session):
    queue = make_queue(
        session,
        "Back office",
        channels=["email"],
        business_hours=HOURS,
        timezone=WAW,
        sla_targets={"ticket": {"seconds": 4 * 3600}},
    )
    ticket = do_create_ticket(session, subject="Broken invoice", queue_id=queue.id)
    t0 = waw(2026, 11, 23, 9)  # Monday 09:00
    clock = sync_ticket_sla(session, ticket, now=t0)
    assert clock is not None and clock.due_at == waw(2026, 11, 23, 13)
    # Pending on the customer at 10:00 (one business hour used): the clock stops.
    ticket.status = "pending"
    sync_ticket_sla(session, ticket, now=waw(2026, 11, 23, 10))
    later = waw(2026, 11, 25, 12)
    state = clock_dict(clock, queue, later)
    assert state["paused"] and not state["running"]
    assert state["elapsed_seconds"] == 3600  # two days pending count nothing
    assert clock.due_at is None
    # The customer answers on Wednesday 12:00: three business hours are left.
    ticket.status = "open"
    sync_ticket_sla(session, ticket, now=later)
    assert clock.due_at == waw(2026, 11, 25, 15)
    assert clock_dict(clock, queue, waw(2026, 11, 25, 13))["elapsed_seconds"] == 2 * 3600
    assert check_breaches(session, now=waw(2026, 11, 25, 14, 59)) == []
    ticket.status = "solved"
    sync_ticket_sla(session, ticket, now=waw(2026, 11, 25, 14))
    assert clock.stopped_at is not None and clock.breached_at is None
    session.commit()


def test_status_changes_drive_the_clock_after_commit(app, session):
    queue = make_queue(
        session, "Tickets", channels=["email"], sla_targets={"ticket": {"seconds": 8 * 3600}}
    )
    ticket = do_create_ticket(session, subject="Where is my parcel", queue_id=queue.id)
    session.commit()  # ticket.created → the clock starts
    clock = session.scalar(select(SlaClock).where(SlaClock.ticket_id == ticket.id))
    assert clock is not None and clock.running_since is not None
    session.commit()
    do_update_ticket(session, ticket, {"status": "pending"})
    session.commit()
    clock = session.get(SlaClock, clock.id, populate_existing=True)
    assert clock.running_since is None and clock.paused_at is not None
    session.commit()
    do_update_ticket(session, ticket, {"status": "open"})
    session.commit()
    clock = session.get(SlaClock, clock.id, populate_existing=True)
    assert clock.running_since is not None and clock.paused_at is None
    assert clock.due_at is not None
    session.commit()


def test_breach_escalates_priority_and_notifies(app, session):
    make_queue(
        session,
        "Hotline",
        channels=["voice"],
        sla_targets={"voice": {"seconds": 20, "percent": 80}},
    )
    ticket_queue = make_queue(
        session, "Cases", channels=["email"], sla_targets={"ticket": {"seconds": 60}}
    )
    session.commit()
    iid = call(app)
    ticket = do_create_ticket(session, subject="Urgent?", queue_id=ticket_queue.id)
    session.commit()
    from hub.events import SLA_BREACHED, subscribe, unsubscribe

    seen = []
    receiver = subscribe(SLA_BREACHED, seen.append)
    try:
        entry = session.get(QueueEntry, iid, populate_existing=True)
        before = (entry.priority, entry.rank_at)
        clock = session.scalar(select(SlaClock).where(SlaClock.interaction_id == iid))
        due = clock.due_at
        assert check_breaches(session, now=due - dt.timedelta(seconds=1)) == []
        far = due + dt.timedelta(hours=1)
        breached = check_breaches(session, now=far)
        session.commit()
        assert len(breached) == 2
        assert check_breaches(session, now=far) == []  # escalated once only
        session.commit()
    finally:
        unsubscribe(receiver)
    entry = session.get(QueueEntry, iid, populate_existing=True)
    assert entry.priority > before[0] and entry.rank_at < before[1]
    assert session.get(Ticket, ticket.id, populate_existing=True).priority == "high"
    assert {e.data["kind"] for e in seen} == {"answer", "resolution"}
    assert session.scalar(
        select(RoutingEvent.kind).where(
            RoutingEvent.interaction_id == iid, RoutingEvent.kind == "escalated"
        )
    )
    session.commit()
