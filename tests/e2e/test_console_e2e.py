"""An agent's shift in Chromium: available, a call pops the card, accept, note, wrap-up;
a supervisor's wallboard follows along. Plus: text from outside is shown, never run."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from pathlib import Path
from typing import Any

import pytest

from crm_core.models import Interaction
from crm_core.services.tickets import do_create_ticket
from hub.db import db
from hub.intake import InboundEvent, receive
from hub.routing import do_add_queue_member, do_create_queue
from tests.e2e.conftest import LiveServer
from tests.factories import PASSWORD, make_customer, make_user

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=alert(1)>"
TIMEOUT = 15_000  # ms: how long to wait for the page to show what the server sent
_calls = itertools.count(1)


def setup_centre(app: Any, *, customer_name: tuple[str, str] = ("Anna", "Kowalska")) -> dict:
    """A voice queue, an agent in it, a supervisor, a customer with an earlier e-mail."""
    with app.app_context(), db.transaction() as session:
        queue = do_create_queue(
            session,
            name="Support",
            channels=["voice", "email"],
            wrap_up_seconds=300,
            offer_timeout_seconds=600,
            sla_targets={"voice": {"seconds": 20, "percent": 80}},
        )
        agent = make_user(session, name="Agnieszka Agent")
        do_add_queue_member(session, queue, agent)
        boss = make_user(session, role="supervisor", name="Stefan Supervisor")
        customer = make_customer(
            session,
            first_name=customer_name[0],
            last_name=customer_name[1],
            phones=("+48 601 234 567",),
            emails=("anna.kowalska@example.org",),
            vip=True,
            no_calls=False,
            no_mail=True,
            tags=("reseller",),
        )
        session.add(
            Interaction(
                channel="email",
                direction="inbound",
                status="closed",
                customer_id=customer.id,
                subject="Invoice 2026/11 question",
                summary="Invoice 2026/11 question",
                created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=2),
            )
        )
        session.flush()
        return {
            "agent_email": agent.email,
            "boss_email": boss.email,
            "customer_id": customer.id,
            "customer_name": customer.display_name,
            "agent_id": agent.id,
            "queue_id": queue.id,
        }


def ring(app: Any, number: str) -> int:
    """A call arrives through the one door, as the voice channel would deliver it."""
    with app.app_context():
        interaction = receive(
            InboundEvent(
                channel="voice",
                external_id=f"CAe2e{next(_calls):030d}",
                from_address=number,
                to_address="+48 22 100 20 30",
            )
        )
    return interaction.id


def login(page: Any, server: LiveServer, email: str, then: str) -> None:
    page.goto(f"{server.url}/login?next={then}")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(then) + r"(\?.*)?$"))


def shot(page: Any, artifacts: Path, name: str, *, full_page: bool = False) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=full_page)


def expect_text(locator: Any, text: str | re.Pattern[str]) -> None:
    from playwright.sync_api import expect

    expect(locator).to_contain_text(text, timeout=TIMEOUT)


def test_agent_takes_a_call_while_the_supervisor_watches(
    browser: Any, live_server: LiveServer, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    facts = setup_centre(live_server.app)
    dialogs: list[str] = []

    boss_ctx = browser.new_context(viewport={"width": 1280, "height": 720}, timezone_id="UTC")
    wall = boss_ctx.new_page()
    wall.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(wall, live_server, facts["boss_email"], "/wallboard")
    waiting = wall.locator(f'[data-queue-waiting="{facts["queue_id"]}"]')
    expect(waiting).to_have_text("0", timeout=TIMEOUT)
    agent_row = wall.locator(f'tr[data-agent-id="{facts["agent_id"]}"]')
    expect(agent_row.locator(".agent-state")).to_have_attribute("data-state", "offline")

    agent_ctx = browser.new_context(viewport={"width": 1280, "height": 720}, timezone_id="UTC")
    page = agent_ctx.new_page()
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(page, live_server, facts["agent_email"], "/console")
    expect(page.locator("body")).to_have_attribute("data-connected", "1", timeout=TIMEOUT)
    page.select_option("#state-select", "available")
    expect(page.locator("#state-now")).to_have_attribute("data-state", "available", timeout=TIMEOUT)
    expect(agent_row.locator(".agent-state")).to_have_attribute(
        "data-state", "available", timeout=TIMEOUT
    )
    shot(page, artifacts, "01-agent-available")

    # The demo customer calls, the number written the way a carrier might send it.
    ring(live_server.app, "0048 601-234-567")
    offer = page.locator("#offer-box .offer")
    expect_text(offer, facts["customer_name"])
    card = page.locator("#card-area")
    expect_text(card.locator(".card-name"), facts["customer_name"])
    expect_text(card.locator("#recent-list"), "Invoice 2026/11 question")
    expect_text(card, "VIP")
    expect_text(card, "No mail")
    expect(waiting).to_have_text("1", timeout=TIMEOUT)
    shot(page, artifacts, "02-agent-offer-and-card")
    shot(wall, artifacts, "03-wallboard-waiting")

    page.keyboard.press("Alt+A")  # the keyboard shortcut for Accept
    expect(offer).to_have_count(0, timeout=TIMEOUT)
    expect(page.locator("#state-now")).to_have_attribute("data-state", "busy", timeout=TIMEOUT)
    expect(waiting).to_have_text("0", timeout=TIMEOUT)
    expect(agent_row.locator(".agent-state")).to_have_attribute(
        "data-state", "busy", timeout=TIMEOUT
    )

    page.fill("#note-body", "Customer asks for a copy of invoice 2026/11 by post.")
    page.click(".note-form button[type=submit]")
    expect_text(page.locator("#note-list"), "copy of invoice 2026/11")
    page.select_option("#disposition", "resolved")
    shot(page, artifacts, "04-agent-on-call")
    page.click("#wrap-up")
    expect(page.locator("#state-now")).to_have_attribute("data-state", "wrap_up", timeout=TIMEOUT)
    expect_text(page.locator(".wrapup-left"), "left")
    expect(agent_row.locator(".agent-state")).to_have_attribute(
        "data-state", "wrap_up", timeout=TIMEOUT
    )
    shot(page, artifacts, "05-agent-wrap-up")
    shot(wall, artifacts, "06-wallboard-agent-wrap-up")

    page.click("#finish-wrap-up")
    expect(page.locator("#state-now")).to_have_attribute("data-state", "available", timeout=TIMEOUT)
    expect(agent_row.locator(".agent-state")).to_have_attribute(
        "data-state", "available", timeout=TIMEOUT
    )

    # The note is in the customer's history, next to the call it belongs to.
    page.click("#tab-history")
    history = page.locator("#history-list")
    expect_text(history, "copy of invoice 2026/11")
    expect_text(history, "Invoice 2026/11 question")
    shot(page, artifacts, "07-agent-history")
    shot(wall, artifacts, "08-wallboard-after", full_page=True)

    # The supervisor writes to the agent from the wallboard; it shows at once, as text.
    agent_row.locator("button.msg-agent").click()
    expect(wall.locator("#msg-dialog")).to_be_visible(timeout=TIMEOUT)
    wall.fill("#msg-text", "Great call. <b>Next</b>: the Polish queue, please.")
    with wall.expect_response(lambda r: r.url.endswith("/message") and r.status == 201):
        wall.click("#msg-dialog button[type=submit]")
    expect(wall.locator("#msg-dialog")).to_be_hidden(timeout=TIMEOUT)
    note = page.locator("#agent-messages .agent-message")
    expect_text(note, "Great call. <b>Next</b>: the Polish queue, please.")
    expect_text(note, "Stefan Supervisor")
    shot(page, artifacts, "08b-agent-message")
    note.locator("button").click()
    expect(note).to_have_count(0, timeout=TIMEOUT)
    tv = boss_ctx.new_page()
    tv.goto(f"{live_server.url}/wallboard?tv=1")
    expect(tv.locator(f'[data-queue-waiting="{facts["queue_id"]}"]')).to_have_text(
        "0", timeout=TIMEOUT
    )
    expect(tv.locator("#agents .controls").first).to_be_hidden()
    shot(tv, artifacts, "09-wallboard-tv")
    assert dialogs == []
    agent_ctx.close()
    boss_ctx.close()


def test_text_from_outside_is_shown_not_run(
    browser: Any, live_server: LiveServer, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    facts = setup_centre(live_server.app, customer_name=(XSS, "<b>bold</b>"))
    with live_server.app.app_context(), db.transaction() as session:
        do_create_ticket(
            session,
            subject=f"Broken {XSS}",
            customer_id=facts["customer_id"],
            assignee_id=facts["agent_id"],
        )
    dialogs: list[str] = []
    ctx = browser.new_context(viewport={"width": 1280, "height": 720})
    page = ctx.new_page()
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(page, live_server, facts["agent_email"], "/console")
    expect(page.locator("body")).to_have_attribute("data-connected", "1", timeout=TIMEOUT)
    page.select_option("#state-select", "available")
    expect(page.locator("#state-now")).to_have_attribute("data-state", "available", timeout=TIMEOUT)
    ring(live_server.app, "+48601234567")
    expect_text(page.locator("#offer-box .offer"), XSS)
    expect_text(page.locator("#card-area .card-name"), f"{XSS} <b>bold</b>")
    expect_text(page.locator("#card-area"), f"Broken {XSS}")
    # Search as you type shows the same name as text.
    page.fill("#search", "601 234 567")
    expect_text(page.locator("#search-results"), XSS)
    shot(page, artifacts, "10-escaped-names")
    assert page.locator("#offer-box img, #card-area img, #search-results img, b").count() == 0
    page.keyboard.press("Escape")
    page.click("#tab-tickets")
    expect_text(page.locator("#ticket-area"), f"Broken {XSS}")
    assert page.locator("#ticket-area img").count() == 0
    assert dialogs == []
    ctx.close()


def go_available(page: Any, server: LiveServer, email: str) -> None:
    from playwright.sync_api import expect

    login(page, server, email, "/console")
    expect(page.locator("body")).to_have_attribute("data-connected", "1", timeout=TIMEOUT)
    page.select_option("#state-select", "available")
    expect(page.locator("#state-now")).to_have_attribute("data-state", "available", timeout=TIMEOUT)


def test_unknown_caller_create_customer_and_link_to_existing(
    browser: Any, live_server: LiveServer, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    facts = setup_centre(live_server.app)
    ctx = browser.new_context(viewport={"width": 1280, "height": 720})
    page = ctx.new_page()
    go_available(page, live_server, facts["agent_email"])

    ring(live_server.app, "+48 22 555 01 02")
    expect_text(page.locator("#offer-box .offer"), "22 555 01 02")
    expect_text(page.locator("#card-area"), "Unknown caller")
    page.click("#offer-box button.accept")
    expect(page.locator("#state-now")).to_have_attribute("data-state", "busy", timeout=TIMEOUT)
    page.fill("#new-first", "Piotr")
    page.fill("#new-last", "Nowicki")
    shot(page, artifacts, "11-unknown-caller")
    page.click(".unknown-create button[type=submit]")
    expect_text(page.locator("#card-area .card-name"), "Piotr Nowicki")
    expect_text(page.locator("#card-area .contacts"), "22 555 01 02")
    page.select_option("#disposition", "resolved")
    page.keyboard.press("Alt+W")  # wrap up
    expect(page.locator("#state-now")).to_have_attribute("data-state", "wrap_up", timeout=TIMEOUT)
    expect(page.locator("#finish-wrap-up")).to_be_visible(timeout=TIMEOUT)
    page.keyboard.press("Alt+W")  # finish
    expect(page.locator("#state-now")).to_have_attribute("data-state", "available", timeout=TIMEOUT)

    # A second unknown number: the caller is Anna from another phone; link her card.
    ring(live_server.app, "+48 22 555 09 09")
    expect_text(page.locator("#offer-box .offer"), "22 555 09 09")
    page.keyboard.press("Alt+A")
    expect(page.locator("#state-now")).to_have_attribute("data-state", "busy", timeout=TIMEOUT)
    page.fill("#link-search", "Kowal")
    page.click("#link-search-list button")
    expect_text(page.locator("#card-area .card-name"), facts["customer_name"])
    expect_text(page.locator("#my-interactions"), facts["customer_name"])
    shot(page, artifacts, "12-linked-to-existing")
    ctx.close()


def test_dropped_link_and_reload_keep_the_work(
    browser: Any, live_server: LiveServer, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    facts = setup_centre(live_server.app)
    ctx = browser.new_context(viewport={"width": 1280, "height": 720})
    page = ctx.new_page()
    go_available(page, live_server, facts["agent_email"])
    ring(live_server.app, "601 234 567")
    page.click("#offer-box button.accept")
    expect(page.locator("#state-now")).to_have_attribute("data-state", "busy", timeout=TIMEOUT)
    expect(page.locator("#offer-box .offer")).to_have_count(0, timeout=TIMEOUT)
    expect(page.locator("#wrap-up")).to_be_visible(timeout=TIMEOUT)

    # The connection drops: a banner says so, the client reconnects by itself and the
    # snapshot brings back the same state and interaction.
    page.evaluate("window.SBConsole.socket().io.engine.close()")
    expect(page.locator("#conn-banner")).to_be_visible(timeout=TIMEOUT)
    shot(page, artifacts, "13-disconnected-banner")
    expect(page.locator("#conn-banner")).to_be_hidden(timeout=TIMEOUT)
    expect(page.locator("#state-now")).to_have_attribute("data-state", "busy", timeout=TIMEOUT)

    page.reload()
    expect(page.locator("#state-now")).to_have_attribute("data-state", "busy", timeout=TIMEOUT)
    expect_text(page.locator("#my-interactions"), facts["customer_name"])
    expect_text(page.locator("#card-area .card-name"), facts["customer_name"])
    expect(page.locator("#wrap-up")).to_be_visible(timeout=TIMEOUT)

    # A break in the middle of a call is refused: the page says why and shows the truth.
    page.select_option("#state-select", "break:lunch")
    expect(page.locator("#toast")).to_contain_text("busy", timeout=TIMEOUT)
    expect(page.locator("#state-select")).to_have_value("available", timeout=TIMEOUT)
    expect(page.locator("#state-now")).to_have_attribute("data-state", "busy")
    ctx.close()


def test_tickets_on_a_tablet(browser: Any, live_server: LiveServer, artifacts: Path) -> None:
    from playwright.sync_api import expect

    facts = setup_centre(live_server.app)
    with live_server.app.app_context(), db.transaction() as session:
        ticket = do_create_ticket(
            session,
            subject="Router keeps rebooting",
            customer_id=facts["customer_id"],
            assignee_id=facts["agent_id"],
            priority="high",
        )
        session.add(
            Interaction(
                channel="email",
                direction="inbound",
                status="closed",
                ticket_id=ticket.id,
                customer_id=facts["customer_id"],
                from_address="anna.kowalska@example.org",
                subject="Router keeps rebooting",
                body_text="It reboots every hour.\n\n> earlier quoted text",
            )
        )
        number = ticket.number
    ctx = browser.new_context(viewport={"width": 820, "height": 1180}, has_touch=True)
    page = ctx.new_page()
    login(page, live_server, facts["agent_email"], "/console")
    page.click("#tab-tickets")
    expect_text(page.locator("#ticket-area"), "Router keeps rebooting")
    page.click("#ticket-area button.linklike")
    expect_text(page.locator("#ticket-area .thread"), "It reboots every hour.")
    with page.expect_response(lambda r: r.request.method == "PATCH" and "/tickets/" in r.url):
        page.select_option("#tk-priority", "urgent")
    expect(page.locator("#tk-priority")).to_have_value("urgent", timeout=TIMEOUT)
    page.fill("#reply-body", "Please unplug it for ten seconds.")
    page.select_option("#reply-status", "pending")
    page.click(".reply button[type=submit]")
    expect_text(page.locator("#ticket-area .thread"), "Please unplug it for ten seconds.")
    expect(page.locator("#tk-status")).to_have_value("pending", timeout=TIMEOUT)
    shot(page, artifacts, "14-tablet-ticket")
    page.fill("#search", number)
    expect_text(page.locator("#search-results"), "Router keeps rebooting")
    ctx.close()


def test_search_and_edit_a_card(browser: Any, live_server: LiveServer, artifacts: Path) -> None:

    from crm_core.services.custom_fields import define_field

    facts = setup_centre(live_server.app)
    with live_server.app.app_context(), db.transaction() as session:
        define_field(session, key="contract", label="Contract no.", field_type="text")
        define_field(
            session, key="plan", label="Plan", field_type="choice", choices=["basic", "pro"]
        )
        make_customer(session, kind="organisation", organisation_name="Acme Sp. z o.o.")
    ctx = browser.new_context(viewport={"width": 1280, "height": 720})
    page = ctx.new_page()
    login(page, live_server, facts["agent_email"], "/console")
    page.fill("#search", "+48601234567")
    expect_text(page.locator("#search-results"), facts["customer_name"])
    page.keyboard.press("Enter")
    expect_text(page.locator("#card-area .card-name"), facts["customer_name"])
    page.click("#card-area .card-actions button:first-child")
    page.fill("#ed-last_name", "Kowalska-Nowak")
    page.fill("#cf-contract", "C-2026-17")
    page.select_option("#cf-plan", "pro")
    page.check("#ed-no_calls")
    shot(page, artifacts, "15-card-edit")
    page.click(".card-edit button[type=submit]")
    expect_text(page.locator("#card-area .card-name"), "Anna Kowalska-Nowak")
    expect_text(page.locator("#card-area .fields"), "C-2026-17")
    expect_text(page.locator("#card-area .flags"), "No calls")

    page.click("#card-area .card-actions button:first-child")
    page.select_option("#rel-type", "works_for")
    page.fill("#rel-search", "Acme")
    page.click("#rel-search-list button")
    expect_text(page.locator("#rel-list"), "Acme Sp. z o.o.")
    page.click(".card-edit .card-actions button.secondary")  # back to the card
    expect_text(page.locator("#card-area .card-org"), "Acme Sp. z o.o.")
    shot(page, artifacts, "16-card-after-edit")
    ctx.close()


HOSTILE_HTML = """\
<p onclick="top.document.title='pwned-onclick'">Hi <b>there</b>, my router reboots.</p>
<script>top.document.title='pwned-script'; alert('script')</script>
<img src="x" onerror="top.document.title='pwned-onerror'; alert('onerror')">
<a id="js-link" href="javascript:top.document.title='pwned-link'">click me</a>
<img src="http://tracker.invalid/pixel.gif" alt="">
<div style="background:url(http://tracker.invalid/bg.png); width: expression(alert(3))">styled</div>
<svg onload="alert('svg')"><circle r="1"/></svg>
<iframe src="http://evil.invalid/"></iframe>
<form action="http://evil.invalid/"><input name="x"><button>Send</button></form>
<meta http-equiv="refresh" content="0;url=http://evil.invalid/">
"""


def test_hostile_email_html_is_shown_not_run(
    browser: Any, live_server: LiveServer, artifacts: Path
) -> None:
    """A customer's HTML e-mail with scripts, handlers, javascript: links, remote images
    and frames goes through the real e-mail pipeline; the console shows its text, runs
    none of it and fetches nothing from outside."""
    from email.message import EmailMessage

    from playwright.sync_api import expect

    from channels.email.ingest import Envelope, ingest
    from crm_core.models import Ticket

    facts = setup_centre(live_server.app)
    mail = EmailMessage()
    mail["From"] = "Anna Kowalska <anna.kowalska@example.org>"
    mail["To"] = "support@example.test"
    mail["Subject"] = "Router keeps rebooting"
    mail["Message-ID"] = "<hostile-1@example.org>"
    mail.set_content("Hi there, my router reboots.")
    mail.add_alternative(HOSTILE_HTML, subtype="html")
    with live_server.app.app_context():
        result = ingest(
            mail.as_bytes(),
            Envelope(
                source="smtp:test",
                mail_from="anna.kowalska@example.org",
                rcpt_tos=("support@example.test",),
            ),
        )
        assert result.ticket_id is not None, result
    with live_server.app.app_context(), db.transaction() as session:
        ticket = session.get(Ticket, result.ticket_id)
        assert ticket is not None
        ticket.assignee_id = facts["agent_id"]

    dialogs: list[str] = []
    outside: list[str] = []
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    ctx.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith(live_server.url) else None,
    )
    page = ctx.new_page()
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(page, live_server, facts["agent_email"], "/console")
    title = page.title()
    page.click("#tab-tickets")
    expect_text(page.locator("#ticket-area"), "Router keeps rebooting")
    page.click("#ticket-area button.linklike")
    mail_frame = page.frame_locator("#ticket-area iframe.mailframe")
    expect(mail_frame.locator("body")).to_contain_text("my router reboots", timeout=TIMEOUT)
    # Clicking the paragraph with the handler and the javascript: link does nothing.
    mail_frame.locator("p").first.click()
    if mail_frame.locator("#js-link").count():
        mail_frame.locator("#js-link").click()
    shot(page, artifacts, "15-hostile-email")
    assert page.title() == title
    assert not page.title().startswith("pwned")
    assert dialogs == []
    assert [u for u in outside if not u.startswith(("data:", "about:"))] == []
    ctx.close()
