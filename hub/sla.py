"""Service-level clocks that count business time only.

A queue has business hours (per weekday, in its time zone), holidays and a target per
channel (``{"voice": {"seconds": 20, "percent": 80}, "email": {"seconds": 14400}}``) and
optionally for tickets (``"ticket"``). A clock starts when an interaction is queued (kind
``answer``, stopped when an agent accepts) or a ticket is created in a queue (kind
``resolution``, stopped when solved). A ticket pending on the customer pauses its clock;
reopening resumes it and pushes the due time out by the business time spent paused.

:func:`check_breaches` (the periodic tick) marks clocks past due as breached and escalates:
the waiting interaction's priority goes up, the ticket's priority goes up one step, and
``sla.breached`` tells supervisors.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.db import utcnow
from crm_core.events import DomainEvent, publish_on_commit
from crm_core.models import Interaction, Ticket
from crm_core.models.tickets import TICKET_PRIORITIES
from hub import events
from hub.models import Queue, SlaClock

log = logging.getLogger(__name__)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ESCALATION_BOOST = 10
_MAX_DAYS = 3 * 366  # a target longer than this in business time is a configuration error

Hours = dict[str, Any] | None


def _parse_hhmm(text: str) -> dt.time:
    if text in ("24:00", "24:00:00"):
        return dt.time.max
    return dt.time.fromisoformat(text)


def _day_intervals(
    day: dt.date, hours: Hours, holidays: frozenset[dt.date], zone: ZoneInfo
) -> list[tuple[dt.datetime, dt.datetime]]:
    """The open intervals of a local calendar day, as aware UTC datetimes."""
    if day in holidays:
        return []
    start_of_day = dt.datetime.combine(day, dt.time.min, tzinfo=zone)
    if not hours:
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
        return [(start_of_day.astimezone(dt.UTC), end.astimezone(dt.UTC))]
    spans = hours.get(WEEKDAYS[day.weekday()]) or []
    out = []
    for span in spans:
        opens, closes = _parse_hhmm(span[0]), _parse_hhmm(span[1])
        a = dt.datetime.combine(day, opens, tzinfo=zone)
        if closes == dt.time.max:
            b = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
        else:
            b = dt.datetime.combine(day, closes, tzinfo=zone)
        if b > a:
            out.append((a.astimezone(dt.UTC), b.astimezone(dt.UTC)))
    return out


def _holidays(values: Iterable[str] | None) -> frozenset[dt.date]:
    out = set()
    for value in values or ():
        try:
            out.add(dt.date.fromisoformat(str(value)))
        except ValueError:
            log.warning("ignoring holiday %r: not an ISO date", value)
    return frozenset(out)


def _zone(tz: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(tz or "UTC")
    except Exception:
        return ZoneInfo("UTC")


def business_seconds_between(
    start: dt.datetime,
    end: dt.datetime,
    *,
    hours: Hours = None,
    holidays: Iterable[str] | None = None,
    tz: str | None = "UTC",
) -> int:
    """Business seconds from ``start`` to ``end`` (0 when end ≤ start)."""
    if end <= start:
        return 0
    hol = _holidays(holidays)
    if not hours and not hol:
        return int((end - start).total_seconds())
    zone = _zone(tz)
    day = start.astimezone(zone).date() - dt.timedelta(days=1)
    last = end.astimezone(zone).date()
    total = 0.0
    while day <= last:
        for a, b in _day_intervals(day, hours, hol, zone):
            lo, hi = max(a, start), min(b, end)
            if hi > lo:
                total += (hi - lo).total_seconds()
        day += dt.timedelta(days=1)
    return int(total)


def add_business_seconds(
    start: dt.datetime,
    seconds: int,
    *,
    hours: Hours = None,
    holidays: Iterable[str] | None = None,
    tz: str | None = "UTC",
) -> dt.datetime:
    """The moment ``seconds`` of business time after ``start``."""
    hol = _holidays(holidays)
    if not hours and not hol:
        return start + dt.timedelta(seconds=seconds)
    zone = _zone(tz)
    remaining = float(max(0, seconds))
    day = start.astimezone(zone).date() - dt.timedelta(days=1)
    for _ in range(_MAX_DAYS):
        for a, b in _day_intervals(day, hours, hol, zone):
            lo = max(a, start)
            if b <= lo:
                continue
            span = (b - lo).total_seconds()
            if remaining <= span:
                return lo + dt.timedelta(seconds=remaining)
            remaining -= span
        day += dt.timedelta(days=1)
    raise ValueError("no business hours within three years: check the queue's hours")


def _calendar(queue: Queue | None) -> dict[str, Any]:
    if queue is None:
        return {"hours": None, "holidays": None, "tz": "UTC"}
    return {"hours": queue.business_hours, "holidays": queue.holidays, "tz": queue.timezone}


def target_seconds(queue: Queue | None, key: str) -> int | None:
    if queue is None:
        return None
    target = (queue.sla_targets or {}).get(key)
    if isinstance(target, dict) and isinstance(target.get("seconds"), int):
        return int(target["seconds"])
    return None


def elapsed(clock: SlaClock, queue: Queue | None, now: dt.datetime) -> int:
    """Business seconds counted so far."""
    running = 0
    if clock.running_since is not None and clock.stopped_at is None:
        running = business_seconds_between(clock.running_since, now, **_calendar(queue))
    return clock.elapsed_seconds + running


def start_clock(
    session: Session,
    *,
    kind: str,
    target: int,
    queue: Queue | None,
    interaction_id: int | None = None,
    ticket_id: int | None = None,
    now: dt.datetime | None = None,
) -> SlaClock:
    now = now or utcnow()
    clock = SlaClock(
        kind=kind,
        interaction_id=interaction_id,
        ticket_id=ticket_id,
        queue_id=queue.id if queue is not None else None,
        target_seconds=target,
        elapsed_seconds=0,
        started_at=now,
        running_since=now,
        due_at=add_business_seconds(now, target, **_calendar(queue)),
    )
    session.add(clock)
    session.flush()
    return clock


def pause_clock(session: Session, clock: SlaClock, *, now: dt.datetime | None = None) -> None:
    """Stop counting (pending on the customer); the due time is unknown until resumed."""
    now = now or utcnow()
    if clock.stopped_at is not None or clock.running_since is None:
        return
    queue = session.get(Queue, clock.queue_id) if clock.queue_id else None
    clock.elapsed_seconds = elapsed(clock, queue, now)
    clock.running_since = None
    clock.paused_at = now
    clock.due_at = None


def resume_clock(session: Session, clock: SlaClock, *, now: dt.datetime | None = None) -> None:
    """Count again from ``now``; the due time moves out by the paused business time."""
    now = now or utcnow()
    if clock.stopped_at is not None or clock.running_since is not None:
        return
    queue = session.get(Queue, clock.queue_id) if clock.queue_id else None
    clock.running_since = now
    clock.paused_at = None
    left = max(0, clock.target_seconds - clock.elapsed_seconds)
    clock.due_at = add_business_seconds(now, left, **_calendar(queue))


def stop_clock(session: Session, clock: SlaClock, *, now: dt.datetime | None = None) -> None:
    """The goal was reached (answered, solved); a late stop records the breach."""
    now = now or utcnow()
    if clock.stopped_at is not None:
        return
    queue = session.get(Queue, clock.queue_id) if clock.queue_id else None
    clock.elapsed_seconds = elapsed(clock, queue, now)
    clock.running_since = None
    clock.stopped_at = now
    if clock.elapsed_seconds > clock.target_seconds and clock.breached_at is None:
        clock.breached_at = now


def start_interaction_clock(
    session: Session, interaction: Interaction, queue: Queue, *, now: dt.datetime | None = None
) -> SlaClock | None:
    """Start the ``answer`` clock of a newly queued interaction, if the queue has a target."""
    target = target_seconds(queue, interaction.channel)
    if target is None:
        return None
    existing = session.scalar(
        select(SlaClock).where(SlaClock.interaction_id == interaction.id, SlaClock.kind == "answer")
    )
    if existing is not None:
        return existing
    return start_clock(
        session, kind="answer", target=target, queue=queue, interaction_id=interaction.id, now=now
    )


def stop_interaction_clock(
    session: Session, interaction_id: int, *, kind: str, now: dt.datetime | None = None
) -> None:
    clock = session.scalar(
        select(SlaClock).where(SlaClock.interaction_id == interaction_id, SlaClock.kind == kind)
    )
    if clock is not None:
        stop_clock(session, clock, now=now)


def sync_ticket_sla(
    session: Session, ticket: Ticket, *, now: dt.datetime | None = None
) -> SlaClock | None:
    """Bring the ticket's ``resolution`` clock in line with its status: started for a
    ticket in a queue with a ``ticket`` target, paused while pending, resumed when open
    again, stopped when solved or closed."""
    now = now or utcnow()
    clock = session.scalar(
        select(SlaClock)
        .where(SlaClock.ticket_id == ticket.id, SlaClock.kind == "resolution")
        .with_for_update()
    )
    if clock is None:
        queue = session.get(Queue, ticket.queue_id) if ticket.queue_id else None
        target = target_seconds(queue, "ticket")
        if target is None or ticket.status in ("solved", "closed"):
            return None
        clock = start_clock(
            session, kind="resolution", target=target, queue=queue, ticket_id=ticket.id, now=now
        )
    if ticket.status == "pending":
        pause_clock(session, clock, now=now)
    elif ticket.status in ("solved", "closed"):
        stop_clock(session, clock, now=now)
    else:
        if clock.stopped_at is not None:
            # Reopened after solving: the clock counts on from where it stopped.
            clock.stopped_at = None
            clock.running_since = None
        resume_clock(session, clock, now=now)
    return clock


def check_breaches(session: Session, *, now: dt.datetime | None = None) -> list[int]:
    """Mark running clocks past due as breached and escalate them once. Returns clock ids."""
    now = now or utcnow()
    stmt = (
        select(SlaClock)
        .where(
            SlaClock.stopped_at.is_(None),
            SlaClock.running_since.is_not(None),
            SlaClock.due_at <= now,
            SlaClock.escalated_at.is_(None),
        )
        .order_by(SlaClock.due_at)
        .limit(500)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    done: list[int] = []
    for clock in session.scalars(stmt).all():
        clock.breached_at = clock.breached_at or now
        clock.escalated_at = now
        _escalate(session, clock, now)
        publish_on_commit(
            session,
            DomainEvent(
                events.SLA_BREACHED,
                {
                    "clock_id": clock.id,
                    "kind": clock.kind,
                    "interaction_id": clock.interaction_id,
                    "ticket_id": clock.ticket_id,
                    "queue_id": clock.queue_id,
                    "due_at": clock.due_at.isoformat() if clock.due_at else None,
                },
            ),
        )
        done.append(clock.id)
    return done


def _escalate(session: Session, clock: SlaClock, now: dt.datetime) -> None:
    if clock.interaction_id is not None:
        from hub.routing import do_raise_priority

        do_raise_priority(
            session,
            clock.interaction_id,
            ESCALATION_BOOST,
            reason=f"sla {clock.kind} breached",
            now=now,
        )
    if clock.ticket_id is not None:
        from crm_core.services.tickets import do_update_ticket

        ticket = session.get(Ticket, clock.ticket_id)
        if ticket is not None and ticket.priority in TICKET_PRIORITIES:
            step = TICKET_PRIORITIES.index(ticket.priority)
            if step + 1 < len(TICKET_PRIORITIES):
                do_update_ticket(session, ticket, {"priority": TICKET_PRIORITIES[step + 1]})


def clock_dict(clock: SlaClock, queue: Queue | None, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": clock.id,
        "kind": clock.kind,
        "target_seconds": clock.target_seconds,
        "elapsed_seconds": elapsed(clock, queue, now),
        "running": clock.running_since is not None and clock.stopped_at is None,
        "paused": clock.paused_at is not None,
        "due_at": clock.due_at.isoformat() if clock.due_at else None,
        "breached": clock.breached_at is not None,
    }


def _on_ticket_event(evt: DomainEvent) -> None:
    if evt.type == "ticket.updated" and not {"status", "queue_id"} & set(
        evt.data.get("changed", [])
    ):
        return
    from flask import current_app, has_app_context

    if not has_app_context() or "celery" not in current_app.extensions:
        return
    from hub.tasks import sync_ticket_sla_task

    try:
        sync_ticket_sla_task.delay(int(evt.data["ticket_id"]))
    except Exception:  # the ticket change stands; the clock catches up on the next change
        log.exception("could not sync the SLA clock of ticket %s", evt.data.get("ticket_id"))


_subscribed = False


def init_app(app: Any) -> None:
    global _subscribed
    if not _subscribed:
        events.subscribe("ticket.created", _on_ticket_event)
        events.subscribe("ticket.updated", _on_ticket_event)
        _subscribed = True
