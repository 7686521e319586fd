"""The service desk in Chromium: an agent opens a complaint about a washer in warranty,
sees the coverage on the ticket and on the card, sees a suggested article, inserts it into
the reply and sends it; the complaint is moved with a reason; text stays text."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from babel.dates import format_date

from crm_core.models import Interaction
from crm_core.services import complaints as complaints_svc
from crm_core.services import kb as kb_svc
from crm_core.services import service as service_svc
from hub.db import db
from tests.e2e.conftest import LiveServer
from tests.factories import PASSWORD, make_customer, make_user

pytestmark = pytest.mark.browser

TIMEOUT = 20_000  # ms; the machine is shared
XSS = "<img src=x onerror=alert(1)>"
ARTICLE_BODY = "Clean the drain pump filter behind the lower front panel, then run a rinse."


def _login(page: Any, server: LiveServer, email: str) -> None:
    page.goto(f"{server.url}/login?next=/console")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/console(\?.*)?$"))


def _setup(app: Any) -> dict[str, Any]:
    today = dt.datetime.now(dt.UTC).date()
    with app.app_context(), db.transaction() as session:
        agent = make_user(session, name="Olena Agent")
        agent.language = "pl"
        agent.timezone = "Europe/Warsaw"
        customer = make_customer(
            session, first_name="Jan", last_name="Nowak", emails=("jan.nowak@example.org",)
        )
        washer = service_svc.do_create_product(
            session, sku="WM-100", name="Pralka WM-100", warranty_months=24
        )
        owned = service_svc.do_register_owned_product(
            session,
            customer_id=customer.id,
            product_id=washer.id,
            serial_number="SN-" + XSS,
            purchased_on=dt.date(today.year - 1, 3, 15),
            warranty_until=dt.date(today.year + 1, 3, 14),
        )
        service_svc.do_create_contract(
            session,
            number="SC-77",
            customer_id=customer.id,
            coverage="Naprawa w domu klienta",
            starts_on=today - dt.timedelta(days=30),
            ends_on=dt.date(today.year + 2, 6, 30),
            response_hours=48,
        )
        kb_svc.do_create_article(
            session,
            title="Pralka nie odpompowuje wody",
            body=ARTICLE_BODY,
            keywords=["pralka", "pompa", "filtr"],
        )
        kb_svc.do_create_article(
            session,
            title="Faktura korygująca " + XSS,
            body="Invoice corrections.",
            keywords=["faktura"],
        )
        ticket = complaints_svc.do_register_complaint(
            session,
            subject="Pralka nie odpompowuje wody",
            customer_id=customer.id,
            reason="defect",
            owned_product_id=owned.id,
            assignee_id=agent.id,
        )
        session.add(
            Interaction(
                channel="email",
                direction="inbound",
                status="closed",
                ticket_id=ticket.id,
                customer_id=customer.id,
                from_address="jan.nowak@example.org",
                subject="Pralka nie odpompowuje wody",
                body_text="Po praniu w bębnie zostaje woda, pompa chyba nie działa.",
            )
        )
        session.flush()
        return {
            "agent_email": agent.email,
            "ticket_id": ticket.id,
            "customer_id": customer.id,
            "warranty_until": dt.date(today.year + 1, 3, 14),
        }


def test_agent_inserts_a_suggested_article_into_a_complaint_reply(
    browser: Any, live_server: LiveServer, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    facts = _setup(live_server.app)
    dialogs: list[str] = []
    ctx = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="pl-PL", timezone_id="Europe/Warsaw"
    )
    page = ctx.new_page()
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    _login(page, live_server, facts["agent_email"])
    page.click("#tab-tickets")
    expect(page.locator("#ticket-area")).to_contain_text("Pralka nie odpompowuje", timeout=TIMEOUT)
    with page.expect_response(lambda r: f"/tickets/{facts['ticket_id']}/service" in r.url):
        page.click("#ticket-area table button.linklike")
    panel = page.locator("#svc-panel")
    # Coverage on the ticket, the date in the agent's locale (Polish, CLDR medium: the
    # browser's Intl and Babel share the CLDR data: "14 mar 2027").
    polish = format_date(facts["warranty_until"], "medium", locale="pl")
    expect(panel.locator("#svc-ticket-coverage")).to_contain_text(
        "Na gwarancji do " + polish, timeout=TIMEOUT
    )
    expect(panel.locator("#svc-ticket-coverage")).to_contain_text("SC-77")
    expect(panel.locator("#svc-ticket-coverage")).to_contain_text("SN-" + XSS)
    expect(panel.locator("#svc-complaint-status")).to_have_text("Zarejestrowana")
    # The coverage on the card, too.
    expect(page.locator("#svc-coverage")).to_contain_text(polish, timeout=TIMEOUT)

    # A suggested article, inserted into the reply, then sent.
    suggestion = panel.locator("#kb-suggestions li").first
    expect(suggestion).to_contain_text("Pralka nie odpompowuje wody", timeout=TIMEOUT)
    with page.expect_response(lambda r: r.url.endswith("/insert") and r.status == 200):
        suggestion.locator("button.kb-insert").click()
    expect(page.locator("#reply-body")).to_have_value(ARTICLE_BODY, timeout=TIMEOUT)
    shot_path = artifacts / "kb-01-suggested-article-inserted.png"
    page.screenshot(path=str(shot_path), full_page=True)
    with page.expect_response(lambda r: r.url.endswith("/reply") and r.status == 201):
        page.click(".reply button[type=submit]")
    expect(page.locator("#ticket-area .thread")).to_contain_text(ARTICLE_BODY, timeout=TIMEOUT)

    # Search by keyword; markup in a title stays text.
    page.fill("#kb-q", "faktura")
    with page.expect_response(lambda r: "/kb/search" in r.url):
        page.click(".kb-search button[type=submit]")
    expect(page.locator("#kb-results")).to_contain_text("Faktura korygująca " + XSS)

    # The complaint's process: under review, then rejecting needs a reason.
    with page.expect_response(lambda r: r.url.endswith("/complaint") and r.status == 200):
        page.click("button[data-move=under_review]")
    expect(page.locator("#svc-complaint-status")).to_have_text("W trakcie rozpatrywania")
    page.click("button[data-move=rejected]")  # no reason yet: refused in the page
    expect(page.locator("#svc-complaint-status")).to_have_text("W trakcie rozpatrywania")
    page.fill("#svc-decision", "Uszkodzenie mechaniczne z winy użytkownika")
    with page.expect_response(lambda r: r.url.endswith("/complaint") and r.status == 200):
        page.click("button[data-move=rejected]")
    expect(page.locator("#svc-complaint-status")).to_have_text("Odrzucona", timeout=TIMEOUT)
    expect(page.locator("#svc-decision-shown")).to_have_text(
        "Uszkodzenie mechaniczne z winy użytkownika"
    )
    page.screenshot(path=str(artifacts / "kb-02-complaint-rejected.png"), full_page=True)
    assert dialogs == []
    ctx.close()

    with live_server.app.app_context():
        from crm_core.models.kb import KbArticle

        counts = {a.title: a.insert_count for a in db.session.query(KbArticle)}
    assert counts["Pralka nie odpompowuje wody"] == 1
