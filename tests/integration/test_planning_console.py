"""The planning pages of the console: every text their JS asks for is sent translated,
the calendar page is served, and the console carries the "My day" panel."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from agent_console.planning import planning_strings
from tests.factories import PASSWORD, make_user

STATIC = Path(__file__).resolve().parents[2] / "agent_console" / "static"


def test_every_key_the_planning_js_uses_is_sent(app: Flask) -> None:
    for lang in ("en", "pl", "uk"):
        with app.test_request_context(headers={"Accept-Language": lang}):
            strings = planning_strings()
        for name in ("planning.js", "calendar.js"):
            source = (STATIC / name).read_text(encoding="utf-8")
            keys = set(re.findall(r"\bP\(\s*\"(\w+)\"", source))
            assert keys, name
            assert keys <= set(strings["t"]), (name, sorted(keys - set(strings["t"])))
            for key in re.findall(r"\bPN\(\s*\"(\w+)\"", source):
                assert set(strings["plurals"][key]) >= {"other"}
        assert all(isinstance(v, str) and v for v in strings["t"].values())


def test_calendar_page_and_my_day_panel(client: FlaskClient, session: Session) -> None:
    agent = make_user(session, name="Agata Agent")
    agent.language = "pl"
    session.commit()
    client.post("/login", data={"email": agent.email, "password": PASSWORD})
    page = client.get("/console/calendar")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Kalendarz" in text and 'id="planning-config"' in text
    assert 'id="overdue-panel"' not in text  # supervisors only
    boss = make_user(session, role="supervisor", name="Stefan Boss")
    session.commit()
    boss_client = client.application.test_client()
    boss_client.post("/login", data={"email": boss.email, "password": PASSWORD})
    boss_page = boss_client.get("/console/calendar").get_data(as_text=True)
    assert 'id="overdue-panel"' in boss_page
    assert f'"people": [{{"id": {agent.id}, "name": "Agata Agent"}}]' in boss_page
    console = client.get("/console").get_data(as_text=True)
    assert 'id="my-day"' in console and "Mój dzień" in console and "planning.js" in console


def test_demo_data_plans_a_day_and_a_booked_room(client: FlaskClient, session: Session) -> None:
    from sqlalchemy import select

    from crm_core.models import PlanningResource, PlanningTask, User
    from hub.demo import DEMO_PASSWORD, load_demo

    load_demo(session, customers=10)
    session.commit()
    assert len(session.scalars(select(PlanningResource)).all()) == 4
    weekly = session.scalars(
        select(PlanningTask).where(PlanningTask.title == "Service team weekly")
    ).one()
    assert weekly.rrule and len(weekly.bookings) == 12
    agent = session.scalars(select(User).where(User.email == "agent@switchboard.example")).one()
    client.post("/login", data={"email": agent.email, "password": DEMO_PASSWORD})
    day = client.get("/api/v1/tasks/today").get_json()
    titles = [i["title"] for i in day["items"]]
    assert titles[0] == "Send the signed contract back" and day["items"][0]["overdue"]
    callback = session.scalars(
        select(PlanningTask).where(PlanningTask.title == "Call Anna back about the invoice")
    ).one()
    assert callback.kind == "callback" and callback.customer_id is not None
