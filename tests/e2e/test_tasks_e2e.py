"""Planning in Chromium: an agent creates a task with a reminder two minutes ahead; the
server's tick (run here with an explicit clock, as Celery beat or the serve thread would
run it) delivers the reminder live; once the due time has passed the task is flagged
overdue in the agent's day and appears, live, on the supervisor's overdue list."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crm_core.models import PlanningTask
from hub.db import db
from hub.tasks import run_tick
from tests.e2e.conftest import LiveServer
from tests.e2e.test_console_e2e import TIMEOUT, expect_text, login, shot
from tests.factories import make_customer, make_user

pytestmark = pytest.mark.browser


def _setup(app: Any) -> dict[str, Any]:
    with app.app_context(), db.transaction() as session:
        agent = make_user(session, name="Agnieszka Agent")
        boss = make_user(session, role="supervisor", name="Stefan Supervisor")
        customer = make_customer(session, first_name="Anna", last_name="Kowalska")
        return {"agent": agent.email, "boss": boss.email, "customer_id": customer.id}


def _sockets_closed(app: Any) -> None:
    """Wait until the server has handled every console's disconnect (it writes the agent's
    status), so that emptying the tables after the test does not race that write."""
    from sqlalchemy import func

    from hub.models import AgentStatus

    done = threading.Event()
    for _ in range(600):
        with app.app_context():
            open_sockets = db.session.scalar(select(func.sum(AgentStatus.connections)))
        if not open_sockets:
            return
        done.wait(0.05)
    raise AssertionError("consoles still connected after their pages closed")


def _tick(app: Any, now: dt.datetime) -> dict[str, int]:
    with app.app_context():
        return run_tick(now=now)


def test_task_reminder_live_then_overdue_for_the_supervisor(
    browser: Any, live_server: LiveServer, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    facts = _setup(live_server.app)
    boss_ctx = browser.new_context(viewport={"width": 1280, "height": 720}, timezone_id="UTC")
    boss = boss_ctx.new_page()
    login(boss, live_server, facts["boss"], "/console/calendar")
    expect_text(boss.locator("#overdue-list"), "No overdue tasks.")

    ctx = browser.new_context(viewport={"width": 1280, "height": 720}, timezone_id="UTC")
    page = ctx.new_page()
    login(page, live_server, facts["agent"], "/console")
    expect(page.locator("body")).to_have_attribute("data-connected", "1", timeout=TIMEOUT)
    expect_text(page.locator("#today-list"), "Nothing planned for today.")

    # Due four minutes from now, reminded two minutes before: the reminder is 2 min ahead.
    due = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=4)).replace(second=0, microsecond=0)
    page.click("#new-task")
    dialog = page.locator("#task-dialog")
    expect(dialog).to_be_visible(timeout=TIMEOUT)
    page.fill("#task-title", "Call Anna about the <b>renewal</b>")
    page.fill("#task-due", due.strftime("%Y-%m-%dT%H:%M"))
    page.select_option("#task-reminder", "2")
    page.select_option("#task-priority", "high")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/tasks") and r.status == 201):
        page.click("#task-save")
    expect(dialog).to_be_hidden(timeout=TIMEOUT)
    line = page.locator("#today-list .task-line")
    expect_text(line, "Call Anna about the <b>renewal</b>")  # text, never markup
    with live_server.app.app_context():
        task = db.session.scalars(select(PlanningTask)).one()
        assert task.due_at == due and task.reminder_minutes == [2]
        task_id = task.id
    shot(page, artifacts, "tasks-01-created")

    # The tick a minute later sends nothing; at the reminder time the card pops up live.
    assert _tick(live_server.app, due - dt.timedelta(minutes=3))["reminders"] == 0
    assert _tick(live_server.app, due - dt.timedelta(minutes=2))["reminders"] == 1
    reminder = page.locator(f'#reminder-area .reminder[data-task-id="{task_id}"]')
    expect_text(reminder, "Call Anna about the <b>renewal</b>")
    expect_text(reminder, "Reminder")
    assert _tick(live_server.app, due - dt.timedelta(minutes=1))["reminders"] == 0
    expect(page.locator("#reminder-area .reminder")).to_have_count(1, timeout=TIMEOUT)
    shot(page, artifacts, "tasks-02-reminder")

    # The due time passes: overdue in the agent's day and on the supervisor's list, live.
    assert _tick(live_server.app, due + dt.timedelta(seconds=30))["overdue_tasks"] == 1
    expect(line.locator(".badge.overdue")).to_have_text("Overdue", timeout=TIMEOUT)
    expect(page.locator("#overdue-badge")).to_be_visible(timeout=TIMEOUT)
    boss_line = boss.locator(f'#overdue-list .task-line[data-task-id="{task_id}"]')
    expect_text(boss_line, "Call Anna about the <b>renewal</b>")
    expect_text(boss_line, "Agnieszka Agent")
    expect(boss.locator("#overdue-count")).to_have_text("1", timeout=TIMEOUT)
    shot(boss, artifacts, "tasks-03-supervisor-overdue")

    # The agent marks it done from the reminder; it leaves the supervisor's list.
    with page.expect_response(lambda r: f"/api/v1/tasks/{task_id}" in r.url and r.ok):
        reminder.get_by_role("button", name="Mark done").click()
    expect(page.locator("#today-list .task-line")).to_have_count(0, timeout=TIMEOUT)
    boss.reload()
    expect_text(boss.locator("#overdue-list"), "No overdue tasks.")
    ctx.close()
    boss_ctx.close()
    _sockets_closed(live_server.app)


def test_task_from_a_ticket_and_the_calendar_views(
    browser: Any, live_server: LiveServer, artifacts: Path
) -> None:
    """In Polish and Warsaw time: a task from a ticket lands in "My day"; the calendar
    shows a weekly appointment in the week and month views and on its room's schedule."""
    from playwright.sync_api import expect

    from crm_core.services.calendar import do_create_resource
    from crm_core.services.tasks import do_create_task
    from crm_core.services.tickets import do_create_ticket

    now = dt.datetime.now(dt.UTC)
    with live_server.app.app_context(), db.transaction() as session:
        agent = make_user(session, name="Piotr Nowak")
        agent.language, agent.timezone = "pl", "Europe/Warsaw"
        ticket = do_create_ticket(session, subject="Router keeps rebooting", assignee_id=agent.id)
        room = do_create_resource(session, name="Sala Wisła", kind="room")
        start = (now + dt.timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
        do_create_task(
            session, agent,
            {"kind": "appointment", "title": "Przegląd tygodnia", "start_at": start,
             "end_at": start + dt.timedelta(minutes=30), "rrule": "FREQ=WEEKLY;COUNT=3",
             "resource_ids": [room.id]},
        )  # fmt: skip
        email, ticket_id = agent.email, ticket.id
    ctx = browser.new_context(viewport={"width": 1280, "height": 720}, timezone_id="UTC")
    page = ctx.new_page()
    login(page, live_server, email, "/console")
    page.click("#tab-tickets")
    expect_text(page.locator("#ticket-area"), "Router keeps rebooting")
    page.click("#ticket-area button.linklike")
    button = page.get_by_role("button", name="Nowe zadanie do tego zgłoszenia")
    expect(button).to_be_visible(timeout=TIMEOUT)
    button.click()
    expect_text(page.locator("#task-context"), f"#{ticket_id}")
    page.fill("#task-title", "Oddzwonić w sprawie routera")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/tasks") and r.status == 201):
        page.click("#task-save")
    expect_text(page.locator("#today-list"), "Oddzwonić w sprawie routera")
    with live_server.app.app_context():
        task = db.session.scalars(
            select(PlanningTask).where(PlanningTask.title == "Oddzwonić w sprawie routera")
        ).one()
        assert task.ticket_id == ticket_id and task.timezone == "Europe/Warsaw"

    page.click("text=Kalendarz")
    page.wait_for_url("**/console/calendar")
    grid = page.locator("#cal-grid")
    expect_text(grid, "Przegląd tygodnia")
    expect(page.locator('.cal-views button[data-view="week"]')).to_have_attribute(
        "aria-pressed", "true"
    )
    shot(page, artifacts, "tasks-04-calendar-week")
    with page.expect_response(lambda r: "/api/v1/calendar?" in r.url):
        page.click('.cal-views button[data-view="month"]')
    expect(grid.locator(".cal-item", has_text="Przegląd tygodnia")).not_to_have_count(0)
    with page.expect_response(lambda r: "/schedule?" in r.url):
        page.select_option("#cal-scope", label="Zasób: Sala Wisła")
    expect_text(grid, "Przegląd tygodnia")
    shot(page, artifacts, "tasks-05-calendar-month-room")
    ctx.close()
    _sockets_closed(live_server.app)
