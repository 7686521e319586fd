"""Planning in the console: the "My day" panel, reminders and the task dialog on
``/console`` (``static/planning.js``), and the calendar page ``/console/calendar`` (day,
week and month views of a person, a team or a resource; supervisors' overdue list;
``static/calendar.js``). Both read and write through the REST API (``hub/api/tasks.py``,
``hub/api/calendar.py``) with the console's session; their texts come translated from
:func:`planning_strings`, dates and times are formatted in the browser with ``Intl`` in the
user's language and time zone.
"""

from __future__ import annotations

from typing import Any

from flask import render_template, url_for
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import select

from agent_console import bp
from crm_core.models import PlanningResource, Team, User
from hub.auth import current
from hub.db import db
from hub.i18n import plural_forms

REMINDER_CHOICES = (0, 2, 15, 60, 1440)


def planning_strings() -> dict[str, Any]:
    """Every text planning.js and calendar.js show (``P(key)`` / ``PN(key, n)``)."""
    return {
        "t": {
            "my_day": _("My day"),
            "new_task": _("New task"),
            "new_task_for_customer": _("New task for this customer"),
            "new_task_for_ticket": _("New task for this ticket"),
            "next_contact": _("Plan next contact"),
            "nothing_today": _("Nothing planned for today."),
            "overdue": _("Overdue"),
            "done": _("Done"),
            "mark_done": _("Mark done"),
            "dismiss": _("Dismiss"),
            "reminder": _("Reminder"),
            "reminder_at": _("Due %(time)s"),
            "title": _("Title"),
            "kind": _("Type"),
            "kind_task": _("Task"),
            "kind_callback": _("Callback"),
            "kind_appointment": _("Appointment"),
            "due": _("Due"),
            "start": _("Start"),
            "end": _("End"),
            "remind": _("Reminder"),
            "no_reminder": _("No reminder"),
            "at_due_time": _("At the due time"),
            "minutes_before": _("%(num)s min before"),
            "hour_before": _("1 hour before"),
            "day_before": _("1 day before"),
            "priority": _("Priority"),
            "repeat": _("Repeats (RRULE)"),
            "repeat_hint": _("Optional, e.g. FREQ=WEEKLY;BYDAY=MO"),
            "description": _("Description"),
            "location": _("Location"),
            "resources": _("Resources"),
            "save": _("Save"),
            "cancel": _("Cancel"),
            "saved": _("Saved."),
            "customer": _("Customer"),
            "ticket": _("Ticket %(number)s"),
            "error": _("Something went wrong: %(message)s"),
            "birthdays": _("Birthdays and anniversaries"),
            "birthday_on": _("%(name)s: birthday on %(date)s"),
            "anniversary_on": _("%(name)s: %(years)s years as a customer on %(date)s"),
            "calendar": _("Calendar"),
            "day": _("Day"),
            "week": _("Week"),
            "month": _("Month"),
            "today": _("Today"),
            "previous": _("Previous"),
            "next": _("Next"),
            "show": _("Show"),
            "my_calendar": _("My calendar"),
            "team": _("Team: %(name)s"),
            "resource": _("Resource: %(name)s"),
            "person": _("Person: %(name)s"),
            "no_items": _("Nothing in this period."),
            "overdue_tasks": _("Overdue tasks"),
            "no_overdue": _("No overdue tasks."),
            "assignee": _("Assignee"),
            "team_label": _("Team"),
            "taken": _("Booked"),
            "all_day_tasks": _("Tasks"),
            "repeats": _("Repeats"),
            "feed": _("Calendar feed (iCalendar)"),
            "feed_new": _("Create a new secret feed address"),
            "feed_hint": _("Keep this address private; creating a new one stops the old one."),
            "email_reminders": _("Also send reminders by e-mail"),
        },
        "kinds": {"task": _("Task"), "callback": _("Callback"), "appointment": _("Appointment")},
        "priorities": {
            "low": _("Low"),
            "normal": _("Normal"),
            "high": _("High"),
            "urgent": _("Urgent"),
        },
        "plurals": {
            "overdue_count": plural_forms("%(num)s overdue", "%(num)s overdue"),
        },
        "reminders": list(REMINDER_CHOICES),
    }


def _teams() -> list[dict[str, Any]]:
    user = current()
    teams = (
        db.session.scalars(select(Team).order_by(Team.name)).all()
        if user.is_supervisor
        else list(user.teams)
    )
    return [{"id": t.id, "name": t.name} for t in teams]


def planning_config() -> dict[str, Any]:
    user = current()
    resources = db.session.scalars(
        select(PlanningResource)
        .where(PlanningResource.active.is_(True))
        .order_by(PlanningResource.name)
    ).all()
    # Supervisors may open anyone's calendar (they see every task); agents their own.
    people = (
        db.session.scalars(
            select(User).where(User.active.is_(True), User.id != user.id).order_by(User.name)
        ).all()
        if user.is_supervisor
        else []
    )
    return {
        "api_v1": url_for("api.openapi_document").rsplit("/", 1)[0],
        "people": [{"id": p.id, "name": p.name} for p in people],
        "strings": planning_strings(),
        "teams": _teams(),
        "resources": [{"id": r.id, "name": r.name, "kind": r.kind} for r in resources],
        "supervisor": user.is_supervisor,
    }


@bp.app_context_processor
def _planning_globals() -> dict[str, Any]:
    return {"planning_config": planning_config}


@bp.get("/console/calendar")
@login_required
def calendar_page() -> Any:
    from agent_console.views import _page_config

    return render_template(
        "console/calendar.html", config=_page_config(), planning=planning_config()
    )
