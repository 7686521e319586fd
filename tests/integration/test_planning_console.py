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
    console = client.get("/console").get_data(as_text=True)
    assert 'id="my-day"' in console and "Mój dzień" in console and "planning.js" in console
