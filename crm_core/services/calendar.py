"""Calendar arithmetic and resources: time zones, local times, RFC 5545 recurrence rules
(python-dateutil's ``rrule``), occurrences in a window, and resource bookings that never
overlap.

Recurrence is expanded in the zone the item was planned in, so "every Monday at 9:00"
stays at 9:00 local time on both sides of a daylight-saving change.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rrulestr
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.errors import N_, Conflict, NotFound, ValidationFailed
from crm_core.models import PlanningResource, PlanningTask, ResourceBooking
from crm_core.models.planning import RESOURCE_KINDS
from crm_core.services import audit

# How many occurrences of a finite rule may book resources, and how far ahead.
MAX_BOOKED_OCCURRENCES = 366
MAX_WINDOW = dt.timedelta(days=62)
MAX_RULE_LENGTH = 500


def get_zone(name: str | None, *, field: str = "timezone") -> ZoneInfo:
    """The IANA zone ``name``; 422 naming the field for anything the tz database lacks."""
    if not name or not isinstance(name, str) or len(name) > 64:
        raise ValidationFailed(
            N_("%(name)s must be an IANA time zone such as Europe/Warsaw"), field=field, name=field
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(
            N_("unknown time zone %(zone)s: use an IANA name such as Europe/Warsaw"),
            field=field,
            zone=repr(name),
        ) from None


def local_to_utc(value: dt.datetime, zone: ZoneInfo, *, field: str) -> dt.datetime:
    """A wall-clock time in ``zone`` as aware UTC. A time that does not exist there (skipped
    by a daylight-saving change) is refused; an ambiguous one takes its first occurrence."""
    if value.tzinfo is not None:
        return value.astimezone(dt.UTC)
    aware = value.replace(tzinfo=zone, fold=0)
    back = aware.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None)
    if back != value:
        raise ValidationFailed(
            N_("%(time)s does not exist in %(zone)s (the clocks skip it)"),
            field=field,
            time=value.isoformat(timespec="minutes"),
            zone=zone.key,
        )
    return aware.astimezone(dt.UTC)


def _clean_rule(text: str) -> str:
    rule = text.strip()
    if rule.upper().startswith("RRULE:"):
        rule = rule[6:]
    return rule


def parse_rule(text: str, start: dt.datetime, zone: ZoneInfo, *, field: str = "rrule") -> rrule:
    """An RRULE (``FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10``) anchored at ``start`` in ``zone``.

    Refused with 422: text that is not an RRULE, a DTSTART or other property inside it,
    UNTIL in local time, and rules without a single occurrence.
    """
    if len(text) > MAX_RULE_LENGTH:
        raise ValidationFailed(
            f"a recurrence rule is at most {MAX_RULE_LENGTH} characters", field=field
        )
    rule_text = _clean_rule(text)
    if not rule_text.upper().startswith("FREQ=") and ";FREQ=" not in rule_text.upper():
        raise ValidationFailed(
            N_("invalid recurrence rule: it needs FREQ (e.g. FREQ=WEEKLY;BYDAY=MO)"), field=field
        )
    if any(c in rule_text for c in "\r\n:"):
        raise ValidationFailed(
            N_("invalid recurrence rule: give the RRULE value only, one line, no DTSTART"),
            field=field,
        )
    local_start = start.astimezone(zone)
    try:
        parsed = rrulestr(rule_text, dtstart=local_start)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValidationFailed(
            N_("invalid recurrence rule: %(reason)s"), field=field, reason=str(exc)
        ) from None
    if not isinstance(parsed, rrule):
        raise ValidationFailed("invalid recurrence rule: one RRULE only", field=field)
    try:
        first = next(iter(parsed), None)
    except (ValueError, OverflowError) as exc:
        raise ValidationFailed(
            N_("invalid recurrence rule: %(reason)s"), field=field, reason=str(exc)
        ) from None
    if first is None:
        raise ValidationFailed(N_("the recurrence rule has no occurrence"), field=field)
    return parsed


def is_finite(rule: rrule) -> bool:
    return rule._count is not None or rule._until is not None


def occurrence_starts(
    task: PlanningTask, window_start: dt.datetime, window_end: dt.datetime
) -> list[dt.datetime]:
    """The UTC starts of ``task``'s occurrences that overlap [window_start, window_end)."""
    anchor = task.anchor
    if anchor is None:
        return []
    length = (
        (task.end_at - task.start_at)
        if task.kind == "appointment" and task.end_at and task.start_at
        else dt.timedelta(0)
    )
    if not task.rrule:
        if anchor < window_end and anchor + length >= window_start:
            return [anchor]
        return []
    zone = ZoneInfo(task.timezone)
    rule = parse_rule(task.rrule, anchor, zone)
    lo = (window_start - length).astimezone(zone)
    hi = window_end.astimezone(zone)
    return [
        o.astimezone(dt.UTC)
        for o in rule.between(lo, hi, inc=True)
        if o.astimezone(dt.UTC) < window_end
    ]


def next_occurrence(
    task: PlanningTask, after: dt.datetime, *, inclusive: bool = True
) -> dt.datetime | None:
    """The first occurrence of ``task`` at or after ``after`` (strictly after if not inclusive)."""
    anchor = task.anchor
    if anchor is None:
        return None
    if not task.rrule:
        if anchor > after or (inclusive and anchor == after):
            return anchor
        return None
    zone = ZoneInfo(task.timezone)
    rule = parse_rule(task.rrule, anchor, zone)
    found = rule.after(after.astimezone(zone), inc=inclusive)
    return found.astimezone(dt.UTC) if found is not None else None


def check_window(start: dt.datetime, end: dt.datetime) -> None:
    if end <= start:
        raise ValidationFailed(N_("the end of the view must come after its start"), field="end")
    if end - start > MAX_WINDOW:
        raise ValidationFailed(N_("a calendar view spans at most 62 days"), field="end")


# ------------------------------------------------------------------------ resources


def do_create_resource(
    session: Session, *, name: str, kind: str, description: str = "", actor_id: int | None = None
) -> PlanningResource:
    name = name.strip()
    if not name:
        raise ValidationFailed("a resource needs a name", field="name")
    if kind not in RESOURCE_KINDS:
        raise ValidationFailed(f"kind must be one of {', '.join(RESOURCE_KINDS)}", field="kind")
    if session.scalar(select(PlanningResource.id).where(PlanningResource.name == name)):
        raise Conflict(f"a resource named {name!r} exists already", field="name")
    resource = PlanningResource(name=name[:120], kind=kind, description=description)
    session.add(resource)
    session.flush()
    audit.record(
        session,
        user_id=actor_id,
        action="resource.created",
        entity_type="planning_resource",
        entity_id=resource.id,
        after={"name": resource.name, "kind": kind},
    )
    return resource


def get_resource(session: Session, resource_id: int) -> PlanningResource:
    resource = session.get(PlanningResource, resource_id)
    if resource is None:
        raise NotFound(f"resource {resource_id} not found")
    return resource


@dataclass(frozen=True)
class Interval:
    start: dt.datetime
    end: dt.datetime


def appointment_intervals(task: PlanningTask) -> list[Interval]:
    """Every interval an appointment occupies (one per occurrence). Resources may only be
    booked by a finite series; an endless one is refused."""
    assert task.start_at is not None and task.end_at is not None
    length = task.end_at - task.start_at
    if not task.rrule:
        return [Interval(task.start_at, task.end_at)]
    zone = ZoneInfo(task.timezone)
    rule = parse_rule(task.rrule, task.start_at, zone)
    if not is_finite(rule):
        raise ValidationFailed(
            N_("a recurring appointment that books resources needs COUNT or UNTIL in its rule"),
            field="rrule",
        )
    out: list[Interval] = []
    for occurrence in rule:
        if len(out) >= MAX_BOOKED_OCCURRENCES:
            raise ValidationFailed(
                f"a series that books resources has at most {MAX_BOOKED_OCCURRENCES} occurrences",
                field="rrule",
            )
        start = occurrence.astimezone(dt.UTC)
        out.append(Interval(start, start + length))
    return out


def _lock_resource(session: Session, resource_id: int) -> PlanningResource:
    """Take the resource's row lock (PostgreSQL), so that two nodes booking the same
    resource check for overlaps one after the other; SQLite's BEGIN IMMEDIATE serialises."""
    resource = session.scalar(
        select(PlanningResource).where(PlanningResource.id == resource_id).with_for_update()
    )
    if resource is None:
        raise ValidationFailed(f"resource {resource_id} does not exist", field="resource_ids")
    if not resource.active:
        raise ValidationFailed(
            N_("resource %(name)s is not in use"), field="resource_ids", name=resource.name
        )
    return resource


def book_resources(session: Session, task: PlanningTask, resource_ids: list[int]) -> None:
    """Replace ``task``'s bookings with ``resource_ids`` for each of its occurrences.

    A clash with another appointment's booking is a 409 that names the resource, the
    other appointment and when it holds the resource.
    """
    if task.status == "cancelled":
        # Kept as they were: overlap checks and schedules skip cancelled appointments, and
        # reopening one books (and so re-checks) the same resources again.
        return
    for booking in list(task.bookings):
        task.bookings.remove(booking)
    session.flush()
    if not resource_ids:
        return
    if task.kind != "appointment" or task.start_at is None or task.end_at is None:
        raise ValidationFailed(
            "only appointments with a start and an end book resources", field="resource_ids"
        )
    intervals = appointment_intervals(task)
    for resource_id in sorted(set(resource_ids)):
        resource = _lock_resource(session, resource_id)
        first, last = intervals[0].start, max(i.end for i in intervals)
        rows = session.execute(
            select(ResourceBooking, PlanningTask)
            .join(PlanningTask, PlanningTask.id == ResourceBooking.task_id)
            .where(
                ResourceBooking.resource_id == resource_id,
                ResourceBooking.task_id != task.id,
                ResourceBooking.start_at < last,
                ResourceBooking.end_at > first,
                PlanningTask.status != "cancelled",
            )
            .order_by(ResourceBooking.start_at)
        ).all()
        for interval in intervals:
            for other, other_task in rows:
                if other.start_at < interval.end and other.end_at > interval.start:
                    raise Conflict(
                        N_(
                            "%(resource)s is already booked by “%(title)s” (appointment "
                            "%(task_id)s) from %(start)s to %(end)s"
                        ),
                        field="resource_ids",
                        resource=resource.name,
                        title=other_task.title,
                        task_id=other_task.id,
                        start=other.start_at.isoformat(),
                        end=other.end_at.isoformat(),
                        detail={
                            "resource_id": resource.id,
                            "resource": resource.name,
                            "booking_id": other.id,
                            "task_id": other_task.id,
                            "title": other_task.title,
                            "start_at": other.start_at.isoformat(),
                            "end_at": other.end_at.isoformat(),
                        },
                    )
        for interval in intervals:
            task.bookings.append(
                ResourceBooking(
                    resource_id=resource.id, start_at=interval.start, end_at=interval.end
                )
            )
    session.flush()


def resource_schedule(
    session: Session, resource_id: int, start: dt.datetime, end: dt.datetime
) -> list[tuple[ResourceBooking, PlanningTask]]:
    """The bookings of a resource that overlap [start, end), earliest first."""
    get_resource(session, resource_id)
    check_window(start, end)
    rows = session.execute(
        select(ResourceBooking, PlanningTask)
        .join(PlanningTask, PlanningTask.id == ResourceBooking.task_id)
        .where(
            ResourceBooking.resource_id == resource_id,
            ResourceBooking.start_at < end,
            ResourceBooking.end_at > start,
            PlanningTask.status != "cancelled",
        )
        .order_by(ResourceBooking.start_at, ResourceBooking.id)
    ).all()
    return [(b, t) for b, t in rows]
