"""A customer fills the public form in Chromium; the agent's console pops it with the
identified customer. Double submits are one interaction; errors sit next to their field;
script typed into a field is shown as text, never run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from channels.webforms.service import do_save_form
from crm_core.models import Interaction
from hub.db import db
from hub.routing import do_add_queue_member, do_create_queue
from tests.e2e.conftest import LiveServer
from tests.e2e.test_console_e2e import TIMEOUT, expect_text, login, shot
from tests.factories import make_customer, make_user

pytestmark = pytest.mark.browser

SCRIPT = "<script>alert('x')</script>"
IMG = "<img src=x onerror=alert(1)>"


def setup_form(app: Any) -> dict[str, Any]:
    with app.app_context(), db.transaction() as session:
        queue = do_create_queue(
            session, name="Web", channels=["webform"], offer_timeout_seconds=600
        )
        agent = make_user(session, name="Wanda Webform")
        do_add_queue_member(session, queue, agent)
        customer = make_customer(
            session,
            first_name="Anna",
            last_name="Kowalska",
            emails=("anna.kowalska@example.org",),
        )
        do_save_form(
            session,
            slug="contact",
            title="Contact us",
            fields=[
                {"name": "name", "label": "Your name", "type": "text", "required": True},
                {"name": "email", "label": "E-mail", "type": "email", "required": True},
                {"name": "message", "label": "Message", "type": "textarea", "required": True},
                {"name": "consent", "label": "You may contact me", "type": "checkbox"},
            ],
            queue_id=queue.id,
            confirmation_text="Thank you, we will answer within one working day.",
        )
        return {
            "agent_email": agent.email,
            "customer_id": customer.id,
            "customer_name": customer.display_name,
        }


def test_customer_fills_the_form_and_the_agent_gets_the_pop(
    browser: Any, live_server: LiveServer, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    facts = setup_form(live_server.app)
    dialogs: list[str] = []

    agent_ctx = browser.new_context(viewport={"width": 1280, "height": 720}, timezone_id="UTC")
    agent = agent_ctx.new_page()
    agent.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(agent, live_server, facts["agent_email"], "/console")
    expect(agent.locator("body")).to_have_attribute("data-connected", "1", timeout=TIMEOUT)
    agent.select_option("#state-select", "available")
    expect(agent.locator("#state-now")).to_have_attribute(
        "data-state", "available", timeout=TIMEOUT
    )

    # A phone-sized browser: the customer's.
    customer_ctx = browser.new_context(viewport={"width": 390, "height": 844}, locale="pl-PL")
    page = customer_ctx.new_page()
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{live_server.url}/forms/contact?lang=en")
    expect(page.locator("h1")).to_have_text("Contact us")

    # Sent empty: the errors appear next to the fields they are about.
    page.fill("#f-name", SCRIPT)
    page.fill("#f-email", "not an address")
    page.click("button.wf-send")
    expect(page.locator('[data-field="email"] .wf-error')).to_be_visible(timeout=TIMEOUT)
    expect(page.locator('[data-field="message"] .wf-error')).to_be_visible()
    expect(page.locator('[data-field="name"] .wf-error')).to_have_count(0)
    expect(page.locator("#f-email")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-email")).to_be_focused()
    expect(page.locator("#f-name")).to_have_value(SCRIPT)  # kept, as text
    shot(page, artifacts, "webform-01-errors")

    page.fill("#f-email", "Anna.Kowalska@example.org")
    page.fill("#f-message", f"My parcel arrived broken. {IMG}")
    page.check("#f-consent")
    # A double submit: the same page posted twice at once, then the button for real.
    statuses = page.evaluate(
        """() => {
            const f = document.querySelector('form.wf-form');
            const post = () => fetch(f.action, {method: 'POST', body: new FormData(f)});
            return Promise.all([post(), post()]).then(rs => rs.map(r => r.status));
        }"""
    )
    assert statuses == [200, 200]
    page.click("button.wf-send")
    expect(page.locator(".wf-confirmation")).to_have_text(
        "Thank you, we will answer within one working day.", timeout=TIMEOUT
    )
    shot(page, artifacts, "webform-02-thanks")

    # The agent is offered the submission with the customer identified by e-mail.
    offer = agent.locator("#offer-box .offer")
    expect_text(offer, facts["customer_name"])
    expect_text(agent.locator("#card-area .card-name"), facts["customer_name"])
    shot(agent, artifacts, "webform-03-agent-pop")

    with live_server.app.app_context():
        session = db.session
        rows = session.scalars(select(Interaction).where(Interaction.channel == "webform")).all()
        assert len(rows) == 1
        assert rows[0].customer_id == facts["customer_id"]
        assert rows[0].payload is not None
        assert rows[0].payload["fields"]["name"] == SCRIPT
        assert IMG in rows[0].payload["fields"]["message"]
        session.rollback()
    assert dialogs == []
    assert not re.search(r"<script>alert", page.content())
    agent_ctx.close()
    customer_ctx.close()
