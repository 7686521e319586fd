"""Tasks, callbacks and appointments: who may see them, writes through actions, reminders
(each sent once), overdue flags, the agent's day, birthdays and the calendar feed secret.

Record rule: supervisors and admins see every task; an agent sees the tasks they own, are
assigned or invited to, and those given to one of their teams. Another agent's task is
404 for them, as tickets are.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, false, or_, select, true, update
from sqlalchemy.orm import Session

from crm_core.db import utcnow
from crm_core.errors import N_, NotFound, PermissionDenied, ValidationFailed
from crm_core.events import DomainEvent, publish_on_commit
from crm_core.models import (
    Customer,
    Interaction,
    PlanningReminder,
    PlanningTask,
    PlanningUserSettings,
    Team,
    Ticket,
    User,
    planning_attendees,
    team_members,
)
from crm_core.models.planning import TASK_KINDS, TASK_PRIORITIES, TASK_STATUSES
from crm_core.services import audit
from crm_core.services import calendar as cal

TASK_CHANGED = "task.changed"
TASK_REMINDER = "task.reminder"
TASK_OVERDUE = "task.overdue"

MAX_REMINDERS = 5
MAX_REMINDER_MINUTES = 60 * 24 * 28
FEED_TOKEN_PREFIX = "sbcal_"  # noqa: S105 (a public marker, not a secret)
# Tasks that can be late: an appointment simply happens (or not) at its time.
DUE_KINDS = ("task", "callback")


# --------------------------------------------------------------------------- access


def _my_teams(user: User) -> Any:
    return select(team_members.c.team_id).where(team_members.c.user_id == user.id)


def visible_tasks_clause(user: User) -> ColumnElement[bool]:
    if user.is_supervisor:
        return true()
    if not user.active:
        return false()
    invited = exists().where(
        planning_attendees.c.task_id == PlanningTask.id, planning_attendees.c.user_id == user.id
    )
    return or_(
        PlanningTask.owner_id == user.id,
        PlanningTask.assignee_id == user.id,
        PlanningTask.team_id.in_(_my_teams(user)),
        invited,
    )


def mine_clause(user_id: int) -> ColumnElement[bool]:
    """Tasks on one person's own list: assigned to them, or theirs and unassigned, or an
    appointment they attend."""
    invited = exists().where(
        planning_attendees.c.task_id == PlanningTask.id, planning_attendees.c.user_id == user_id
    )
    return or_(
        PlanningTask.assignee_id == user_id,
        (PlanningTask.owner_id == user_id) & PlanningTask.assignee_id.is_(None),
        invited,
    )


def get_visible_task(session: Session, user: User, task_id: int) -> PlanningTask:
    task = session.scalar(
        select(PlanningTask).where(PlanningTask.id == task_id, visible_tasks_clause(user))
    )
    if task is None:
        raise NotFound(N_("task %(id)s not found"), id=task_id)
    return task


def ensure_can_write(user: User, task: PlanningTask) -> None:
    """Owner, assignee, a member of the task's team, or a supervisor; attendees only read."""
    if user.is_supervisor or user.id in (task.owner_id, task.assignee_id):
        return
    if task.team_id is not None and any(t.id == task.team_id for t in user.teams):
        return
    raise PermissionDenied(N_("you may not change this task"))


# --------------------------------------------------------------------------- input


def _moment(value: Any, zone: Any, field: str) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        raise ValidationFailed(f"{field} must be a date and time", field=field)
    try:
        moment = cal.local_to_utc(value, zone, field=field)
    except OverflowError:
        raise ValidationFailed(N_("%(name)s is out of range"), field=field, name=field) from None
    if not 1900 <= moment.year <= 2999:
        raise ValidationFailed(
            N_("%(name)s must lie between the years 1900 and 2999"), field=field, name=field
        )
    return moment


def _check_references(session: Session, values: dict[str, Any]) -> None:
    checks: tuple[tuple[str, type[Any]], ...] = (
        ("customer_id", Customer),
        ("ticket_id", Ticket),
        ("interaction_id", Interaction),
        ("assignee_id", User),
        ("team_id", Team),
    )
    for key, model in checks:
        ident = values.get(key)
        if ident is not None and session.get(model, ident) is None:
            raise ValidationFailed(f"{key.removesuffix('_id')} {ident} does not exist", field=key)


def _reminders(value: Any) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_REMINDERS:
        raise ValidationFailed(
            f"reminder_minutes is a list of at most {MAX_REMINDERS} numbers",
            field="reminder_minutes",
        )
    out: set[int] = set()
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int):
            raise ValidationFailed("reminder_minutes holds whole minutes", field="reminder_minutes")
        if not 0 <= item <= MAX_REMINDER_MINUTES:
            raise ValidationFailed(
                "a reminder comes 0 minutes to 4 weeks before", field="reminder_minutes"
            )
        out.add(item)
    return sorted(out)


EDITABLE = (
    "kind",
    "title",
    "description",
    "status",
    "priority",
    "assignee_id",
    "team_id",
    "customer_id",
    "ticket_id",
    "interaction_id",
    "campaign_id",
    "due_at",
    "start_at",
    "end_at",
    "timezone",
    "rrule",
    "location",
    "reminder_minutes",
    "attendee_ids",
    "resource_ids",
)


def _apply(
    session: Session, task: PlanningTask, values: dict[str, Any], *, now: dt.datetime
) -> dict[str, Any]:
    """Validate ``values`` against ``task`` (new or existing) and set them. Returns what
    changed, for the audit log."""
    unknown = set(values) - set(EDITABLE)
    if unknown:
        name = sorted(unknown)[0]
        raise ValidationFailed(f"unknown field {name!r}", field=name)
    _check_references(session, values)
    before = {
        k: getattr(task, k, None) for k in values if k not in ("attendee_ids", "resource_ids")
    }
    zone_name = values.get("timezone", task.timezone or "UTC")
    zone = cal.get_zone(zone_name)
    if "kind" in values and values["kind"] not in TASK_KINDS:
        raise ValidationFailed(f"kind must be one of {', '.join(TASK_KINDS)}", field="kind")
    if "status" in values and values["status"] not in TASK_STATUSES:
        raise ValidationFailed(f"status must be one of {', '.join(TASK_STATUSES)}", field="status")
    if "priority" in values and values["priority"] not in TASK_PRIORITIES:
        raise ValidationFailed(
            f"priority must be one of {', '.join(TASK_PRIORITIES)}", field="priority"
        )
    if "title" in values:
        title = (values["title"] or "").strip()
        if not title:
            raise ValidationFailed(N_("a task needs a title"), field="title")
        values["title"] = title[:300]
    for key in ("due_at", "start_at", "end_at"):
        if key in values:
            values[key] = _moment(values[key], zone, key)
    if "reminder_minutes" in values:
        values["reminder_minutes"] = _reminders(values["reminder_minutes"])
    if "rrule" in values:
        values["rrule"] = (values["rrule"] or "").strip() or None
    values["timezone"] = zone.key
    for key, value in values.items():
        if key not in ("attendee_ids", "resource_ids"):
            setattr(task, key, value)
    # Now the whole: times that fit the kind, a rule that parses from the anchor.
    if task.kind == "appointment":
        if task.start_at is None or task.end_at is None:
            raise ValidationFailed(N_("an appointment needs a start and an end"), field="start_at")
        if task.end_at <= task.start_at:
            raise ValidationFailed(N_("the end must come after the start"), field="end_at")
        if task.end_at - task.start_at > dt.timedelta(days=31):
            raise ValidationFailed(N_("an appointment lasts at most 31 days"), field="end_at")
        task.due_at = None
    else:
        if task.start_at is not None or task.end_at is not None:
            task.start_at = task.end_at = None
    if task.rrule:
        if task.anchor is None:
            raise ValidationFailed(N_("a recurring task needs a due date"), field="rrule")
        cal.parse_rule(task.rrule, task.anchor, zone)
    if task.reminder_minutes and task.anchor is None:
        raise ValidationFailed(N_("reminders need a due date or a start"), field="reminder_minutes")
    if "due_at" in values or "status" in values:
        task.overdue_at = None if task.due_at is None or task.due_at > now else task.overdue_at
    if "status" in values:
        task.completed_at = now if task.status == "done" else None
    if "attendee_ids" in values:
        ids = values["attendee_ids"] or []
        users = list(session.scalars(select(User).where(User.id.in_(ids)))) if ids else []
        missing = sorted(set(ids) - {u.id for u in users})
        if missing:
            raise ValidationFailed(f"user {missing[0]} does not exist", field="attendee_ids")
        task.attendees = users
    after = {k: getattr(task, k, None) for k in before}
    return dict(zip(("before", "after"), audit.changed(before, after), strict=True))


def do_create_task(
    session: Session,
    actor: User,
    values: dict[str, Any],
    *,
    now: dt.datetime | None = None,
) -> PlanningTask:
    """Create a task, callback or appointment owned by ``actor``.

    ``values`` may hold naive date-times: they are wall-clock times in ``timezone`` (the
    actor's zone when not given). Appointment resources are booked in the same transaction
    (409 naming the clashing appointment); reminders are scheduled.
    """
    now = now or utcnow()
    values = dict(values)
    values.setdefault("timezone", actor.timezone or "UTC")
    values.setdefault("kind", "task")
    resource_ids = values.get("resource_ids") or []
    task = PlanningTask(
        owner_id=actor.id,
        title="",
        status="open",
        priority="normal",
        description="",
        reminder_minutes=[],
    )
    if "title" not in values:
        raise ValidationFailed(N_("a task needs a title"), field="title")
    session.add(task)
    _apply(session, task, values, now=now)
    session.flush()
    if resource_ids:
        cal.book_resources(session, task, list(resource_ids))
    schedule_reminders(session, task, after=now)
    audit.record(
        session,
        user_id=actor.id,
        action="task.created",
        entity_type="planning_task",
        entity_id=task.id,
        after={
            "kind": task.kind,
            "title": task.title,
            "due_at": task.due_at,
            "start_at": task.start_at,
        },
    )
    _announce(session, task)
    return task


def do_update_task(
    session: Session,
    actor: User,
    task: PlanningTask,
    changes: dict[str, Any],
    *,
    now: dt.datetime | None = None,
) -> PlanningTask:
    """Change a task. Marking a recurring task done moves it to its next occurrence (it
    stays open); the completion is in the audit log."""
    ensure_can_write(actor, task)
    now = now or utcnow()
    changes = dict(changes)
    if changes.get("status") == "done" and task.rrule and task.kind in DUE_KINDS and task.due_at:
        nxt = cal.next_occurrence(task, task.due_at, inclusive=False)
        if nxt is not None:
            changes.pop("status")
            changes["due_at"] = nxt
            audit.record(
                session,
                user_id=actor.id,
                action="task.occurrence_done",
                entity_type="planning_task",
                entity_id=task.id,
                after={"occurrence": task.due_at, "next": nxt},
            )
    diff = _apply(session, task, changes, now=now)
    session.flush()
    if "resource_ids" in changes or (
        task.bookings
        and ({"kind", "start_at", "end_at", "rrule", "timezone", "status"} & set(changes))
    ):
        ids = changes.get("resource_ids")
        if ids is None:
            ids = sorted({b.resource_id for b in task.bookings})
        cal.book_resources(session, task, list(ids))
    schedule_reminders(session, task, after=now)
    if diff["after"] or "attendee_ids" in changes or "resource_ids" in changes:
        audit.record(
            session,
            user_id=actor.id,
            action="task.updated",
            entity_type="planning_task",
            entity_id=task.id,
            before=diff["before"],
            after=diff["after"],
        )
    _announce(session, task)
    return task


def recipients(task: PlanningTask) -> list[int]:
    """Who is reminded: the assignee (else the owner) and an appointment's attendees."""
    people = [task.assignee_id or task.owner_id] + [u.id for u in task.attendees]
    return sorted(set(people))


def _announce(session: Session, task: PlanningTask) -> None:
    users = sorted({task.owner_id, *recipients(task)})
    publish_on_commit(
        session,
        DomainEvent(TASK_CHANGED, {"task_id": task.id, "user_ids": users, "team_id": task.team_id}),
    )


# ------------------------------------------------------------------------ reminders


def schedule_reminders(
    session: Session, task: PlanningTask, *, after: dt.datetime, inclusive: bool = True
) -> int:
    """(Re)plan the unsent reminders of ``task`` for its next occurrence at/after ``after``.
    Reminders already sent stay as they are (and are not planned again)."""
    session.execute(
        delete(PlanningReminder).where(
            PlanningReminder.task_id == task.id, PlanningReminder.sent_at.is_(None)
        )
    )
    if task.status != "open" or not task.reminder_minutes:
        return 0
    occurrence = cal.next_occurrence(task, after, inclusive=inclusive)
    if occurrence is None:
        return 0
    sent: set[tuple[int, int]] = {
        (int(u), int(m))
        for u, m in session.execute(
            select(PlanningReminder.user_id, PlanningReminder.minutes_before).where(
                PlanningReminder.task_id == task.id,
                PlanningReminder.occurrence_at == occurrence,
            )
        )
    }
    count = 0
    for user_id in recipients(task):
        for minutes in task.reminder_minutes:
            if (user_id, minutes) in sent:
                continue
            session.add(
                PlanningReminder(
                    task_id=task.id,
                    user_id=user_id,
                    minutes_before=minutes,
                    occurrence_at=occurrence,
                    remind_at=occurrence - dt.timedelta(minutes=minutes),
                )
            )
            count += 1
    session.flush()
    return count


@dataclass(frozen=True)
class DueReminder:
    reminder: PlanningReminder
    task: PlanningTask
    user: User


def claim_due_reminders(
    session: Session, *, now: dt.datetime, limit: int = 500
) -> list[DueReminder]:
    """Mark the reminders due at ``now`` as sent and return them, in the caller's
    transaction: the caller delivers them and commits. ``UPDATE … WHERE sent_at IS NULL
    RETURNING`` claims each row once; on PostgreSQL the candidates are picked ``FOR UPDATE
    SKIP LOCKED``, so two nodes ticking together split the rows instead of waiting (on
    SQLite ``BEGIN IMMEDIATE`` serialises the ticks)."""
    candidates = (
        select(PlanningReminder.id)
        .where(PlanningReminder.sent_at.is_(None), PlanningReminder.remind_at <= now)
        .order_by(PlanningReminder.remind_at, PlanningReminder.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    claimed = list(
        session.scalars(
            update(PlanningReminder)
            .where(PlanningReminder.id.in_(candidates), PlanningReminder.sent_at.is_(None))
            .values(sent_at=now)
            .returning(PlanningReminder.id)
            .execution_options(synchronize_session=False)
        )
    )
    if not claimed:
        return []
    rows = session.execute(
        select(PlanningReminder, PlanningTask, User)
        .join(PlanningTask, PlanningTask.id == PlanningReminder.task_id)
        .join(User, User.id == PlanningReminder.user_id)
        .where(PlanningReminder.id.in_(claimed))
        .order_by(PlanningReminder.remind_at, PlanningReminder.id)
    ).all()
    out: list[DueReminder] = []
    replan: dict[int, tuple[PlanningTask, dt.datetime]] = {}
    for reminder, task, user in rows:
        session.refresh(reminder)
        if task.status == "open" and user.active:
            out.append(DueReminder(reminder, task, user))
            publish_on_commit(
                session,
                DomainEvent(
                    TASK_REMINDER,
                    {
                        "reminder_id": reminder.id,
                        "task_id": task.id,
                        "user_id": user.id,
                        "minutes_before": reminder.minutes_before,
                        "occurrence_at": reminder.occurrence_at.isoformat(),
                    },
                ),
            )
        if task.rrule:
            replan[task.id] = (task, reminder.occurrence_at)
    for task, occurrence in replan.values():
        # The next occurrence's reminders, once every reminder of this one went out.
        pending = session.scalar(
            select(PlanningReminder.id).where(
                PlanningReminder.task_id == task.id,
                PlanningReminder.occurrence_at == occurrence,
                PlanningReminder.sent_at.is_(None),
            )
        )
        if pending is None:
            # After the later of this occurrence and now: a tick that was down for days
            # does not send one stale reminder per missed occurrence.
            _plan_after(session, task, max(occurrence, now))
    return out


def _plan_after(session: Session, task: PlanningTask, occurrence: dt.datetime) -> None:
    """Plan the following occurrence's reminders without dropping unsent ones of others."""
    nxt = cal.next_occurrence(task, occurrence, inclusive=False)
    if nxt is None or task.status != "open":
        return
    for user_id in recipients(task):
        for minutes in task.reminder_minutes:
            exists_already = session.scalar(
                select(PlanningReminder.id).where(
                    PlanningReminder.task_id == task.id,
                    PlanningReminder.user_id == user_id,
                    PlanningReminder.minutes_before == minutes,
                    PlanningReminder.occurrence_at == nxt,
                )
            )
            if exists_already is None:
                session.add(
                    PlanningReminder(
                        task_id=task.id,
                        user_id=user_id,
                        minutes_before=minutes,
                        occurrence_at=nxt,
                        remind_at=nxt - dt.timedelta(minutes=minutes),
                    )
                )
    session.flush()


def flag_overdue(session: Session, *, now: dt.datetime) -> list[int]:
    """Flag open tasks and callbacks whose due time passed (once each) and announce them."""
    ids = list(
        session.scalars(
            update(PlanningTask)
            .where(
                PlanningTask.status == "open",
                PlanningTask.kind.in_(DUE_KINDS),
                PlanningTask.due_at < now,
                PlanningTask.overdue_at.is_(None),
            )
            .values(overdue_at=now)
            .returning(PlanningTask.id)
            .execution_options(synchronize_session=False)
        )
    )
    for task_id in sorted(ids):
        task = session.get(PlanningTask, task_id)
        if task is None:
            continue
        session.refresh(task)
        publish_on_commit(
            session,
            DomainEvent(
                TASK_OVERDUE,
                {"task_id": task.id, "user_ids": recipients(task), "team_id": task.team_id},
            ),
        )
    return sorted(ids)


def is_overdue(task: PlanningTask, now: dt.datetime) -> bool:
    if task.status != "open" or task.kind not in DUE_KINDS:
        return False
    return task.overdue_at is not None or (task.due_at is not None and task.due_at < now)


def overdue_clause(now: dt.datetime) -> ColumnElement[bool]:
    return (
        (PlanningTask.status == "open")
        & PlanningTask.kind.in_(DUE_KINDS)
        & (
            PlanningTask.overdue_at.is_not(None)
            # Spelled out so that a task without a due date is "not overdue", not NULL (the
            # negation in ``?overdue=false`` would drop it).
            | (PlanningTask.due_at.is_not(None) & (PlanningTask.due_at < now))
        )
    )


# --------------------------------------------------------------------- feed secrets


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def user_settings(session: Session, user_id: int) -> PlanningUserSettings:
    row = session.get(PlanningUserSettings, user_id)
    if row is None:
        row = PlanningUserSettings(user_id=user_id, email_reminders=False)
        session.add(row)
        session.flush()
    return row


def do_issue_feed_token(session: Session, user: User) -> str:
    """A new secret calendar-feed token for ``user`` (the old one stops working). Only its
    SHA-256 is kept; the token is shown once."""
    token = FEED_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = user_settings(session, user.id)
    row.feed_token_hash = _digest(token)
    row.feed_token_prefix = token[:12]
    audit.record(
        session,
        user_id=user.id,
        action="calendar_feed.issued",
        entity_type="user",
        entity_id=user.id,
        after={"prefix": row.feed_token_prefix},
    )
    return token


def user_for_feed_token(session: Session, token: str) -> User | None:
    if not token.startswith(FEED_TOKEN_PREFIX) or len(token) > 100:
        return None
    row = session.scalar(
        select(PlanningUserSettings).where(PlanningUserSettings.feed_token_hash == _digest(token))
    )
    if row is None:
        return None
    user = session.get(User, row.user_id)
    return user if user is not None and user.active else None
