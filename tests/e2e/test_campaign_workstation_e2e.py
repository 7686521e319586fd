"""Telemarketer workstation in preview mode, in Chromium: the agent sees the lead's card,
dials, records a sale with hotkey 1, schedules a callback in the callee's time zone with
hotkey 3, skips a lead with a reason, and ends with no lead left."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from campaigns.models import Callback, Lead
from campaigns.service import do_create_campaign, do_set_agents, do_set_status
from hub.db import db
from tests.e2e.conftest import LiveServer
from tests.e2e.test_console_e2e import TIMEOUT, login, shot
from tests.factories import make_customer, make_user

pytestmark = pytest.mark.browser


def test_preview_workstation(browser, live_server: LiveServer, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    app = live_server.app
    with app.app_context(), db.transaction() as s:
        agent = make_user(s, name="Tele Marketer")
        campaign = do_create_campaign(
            s,
            fields={
                "name": "Autumn <offer>",
                "caller_id": "+48223070000",
                "window_start": dt.time(0, 0),
                "window_end": dt.time(23, 59),
            },
        )
        do_set_agents(s, campaign, user_ids=[agent.id])
        do_set_status(s, campaign, "active")
        for i, name in enumerate(("Alicja", "Bogdan", "Celina")):
            c = make_customer(
                s, first_name=name, last_name="<b>Nowak</b>", phones=(f"+4860123450{i}",)
            )
            s.add(
                Lead(
                    campaign_id=campaign.id,
                    customer_id=c.id,
                    phone=f"+4860123450{i}",
                    state="pending",
                    priority=10 - i,
                    attempts=0,
                )
            )
        cid, email = campaign.id, agent.email
    page = browser.new_page()
    path = f"/campaigns/{cid}/workstation"
    login(page, live_server, email, path)
    expect(page.locator("#ws-name")).to_have_text("Alicja <b>Nowak</b>", timeout=TIMEOUT)
    expect(page.locator("#ws-local")).to_contain_text("Europe/Warsaw", timeout=TIMEOUT)
    shot(page, artifacts, "campaign-workstation-preview")

    with page.expect_response(lambda r: r.url.endswith("/dial")) as dialled:
        page.click("#ws-dial")
    assert dialled.value.ok
    expect(page.locator("#ws-call-actions")).to_be_visible(timeout=TIMEOUT)
    page.fill("#ws-note", "wants two")
    page.locator("body").click(position={"x": 5, "y": 5})
    with page.expect_response(lambda r: r.url.endswith("/disposition")) as sold:
        page.keyboard.press("1")
    assert sold.value.ok
    expect(page.locator("#ws-name")).to_have_text("Bogdan <b>Nowak</b>", timeout=TIMEOUT)

    with page.expect_response(lambda r: r.url.endswith("/dial")):
        page.click("#ws-dial")
    expect(page.locator("#ws-call-actions")).to_be_visible(timeout=TIMEOUT)
    page.fill("#ws-callback-at", "2030-07-01T18:30")
    page.locator("body").click(position={"x": 5, "y": 5})
    with page.expect_response(lambda r: r.url.endswith("/disposition")) as called_back:
        page.keyboard.press("3")
    assert called_back.value.ok
    expect(page.locator("#ws-name")).to_have_text("Celina <b>Nowak</b>", timeout=TIMEOUT)

    page.select_option("#ws-skip-reason", "wrong_data")
    with page.expect_response(lambda r: r.url.endswith("/skip")):
        page.click("#ws-skip")
    expect(page.locator("#ws-status")).to_contain_text("No lead", timeout=TIMEOUT)
    shot(page, artifacts, "campaign-workstation-done")
    page.close()

    with app.app_context(), db.transaction() as s:
        leads = {lead.phone: lead for lead in s.scalars(select(Lead))}
        assert leads["+48601234500"].state == "done"
        assert "wants two" in (leads["+48601234500"].notes or "")
        assert leads["+48601234501"].state == "callback"
        callback = s.scalars(select(Callback)).one()
        local = dt.datetime(2030, 7, 1, 18, 30, tzinfo=ZoneInfo("Europe/Warsaw"))
        assert callback.due_at == local.astimezone(dt.UTC) and callback.timezone == "Europe/Warsaw"
        assert leads["+48601234502"].state == "pending"
        assert "wrong_data" in (leads["+48601234502"].notes or "")
