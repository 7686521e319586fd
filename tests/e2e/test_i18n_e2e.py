"""The console in Polish and in Ukrainian, in Chromium: a Polish agent in Europe/Warsaw and
a Ukrainian supervisor in Europe/Kyiv see the same interaction at their own local time.

The browsers run in UTC on purpose: the zone comes from the user's settings, not the PC.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from crm_core.models import Interaction, User
from crm_core.services.preferences import do_set_user_preferences
from hub.db import db
from hub.routing import do_add_queue_member, do_create_queue
from tests.e2e.conftest import LiveServer
from tests.e2e.test_console_e2e import TIMEOUT, expect_text, login, ring, shot
from tests.factories import make_customer, make_user

pytestmark = pytest.mark.browser

# 10:05 UTC on a Friday in November: 11:05 in Warsaw (CET), 12:05 in Kyiv (EET).
AT = dt.datetime(2026, 11, 20, 10, 5, tzinfo=dt.UTC)


def setup(app: Any) -> dict[str, Any]:
    with app.app_context(), db.transaction() as session:
        queue = do_create_queue(
            session, name="Obsługa", channels=["voice", "email"], offer_timeout_seconds=600
        )
        agent = make_user(session, name="Paulina Polska")
        do_set_user_preferences(session, agent, language="pl", timezone="Europe/Warsaw")
        do_add_queue_member(session, queue, agent)
        boss = make_user(session, role="supervisor", name="Оксана Керівник")
        do_set_user_preferences(session, boss, language="uk", timezone="Europe/Kyiv")
        customer = make_customer(
            session,
            first_name="Anna",
            last_name="Kowalska",
            phones=("+48 601 234 567",),
            emails=("anna.kowalska@example.org",),
        )
        session.add(
            Interaction(
                channel="email",
                direction="inbound",
                status="closed",
                customer_id=customer.id,
                subject="Faktura 2026/11",
                summary="Faktura 2026/11",
                created_at=AT,
            )
        )
        session.flush()
        return {
            "agent": agent.email,
            "boss": boss.email,
            "customer": customer.display_name,
            "queue_id": queue.id,
        }


def invoice_time(card: Any) -> Any:
    """The time of the customer's earlier e-mail on the card's list of last interactions."""
    return card.locator("#recent-list li", has_text="Faktura 2026/11").locator("time")


def open_card(page: Any, name: str) -> Any:
    page.fill("#search", "+48601234567")
    expect_text(page.locator("#search-results"), name)
    page.keyboard.press("Enter")
    card = page.locator("#card-area")
    expect_text(card.locator(".card-name"), name)
    return card


def test_console_in_polish_and_ukrainian_with_each_users_time_zone(
    browser: Any, live_server: LiveServer, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    facts = setup(live_server.app)

    # The Polish agent: the login page follows the browser's Accept-Language.
    pl_ctx = browser.new_context(
        viewport={"width": 1280, "height": 720}, timezone_id="UTC", locale="pl-PL"
    )
    page = pl_ctx.new_page()
    page.goto(f"{live_server.url}/login")
    expect(page.locator("html")).to_have_attribute("lang", "pl")
    expect_text(page.locator("button[type=submit]"), "Zaloguj się")
    shot(page, artifacts, "i18n-01-login-pl")
    login(page, live_server, facts["agent"], "/console")
    expect(page.locator("body")).to_have_attribute("data-connected", "1", timeout=TIMEOUT)
    expect_text(page.locator("#queues-h"), "Moje kolejki")
    expect_text(page.locator("#offer-box"), "Brak przychodzącej pracy.")
    page.select_option("#state-select", "available")
    expect_text(page.locator("#state-now .state-name"), "Dostępny")

    ring(live_server.app, "+48 601 234 567")
    offer = page.locator("#offer-box .offer")
    expect_text(offer, facts["customer"])
    expect_text(offer, "Odbierz")
    expect_text(offer, "Odrzuć")
    card = page.locator("#card-area")
    expect_text(card.locator("#recent-list"), "Faktura 2026/11")
    expect_text(card, "Ostatnie interakcje")
    # The same moment, in Warsaw: 11:05.
    expect_text(invoice_time(card), "11:05")
    pl_time = invoice_time(card).inner_text()
    shot(page, artifacts, "i18n-02-console-pl-offer")

    # The Ukrainian supervisor, in a browser asking for Ukrainian.
    uk_ctx = browser.new_context(
        viewport={"width": 1280, "height": 720}, timezone_id="UTC", locale="uk-UA"
    )
    boss = uk_ctx.new_page()
    boss.goto(f"{live_server.url}/login")
    expect(boss.locator("html")).to_have_attribute("lang", "uk")
    expect_text(boss.locator("button[type=submit]"), "Увійти")
    shot(boss, artifacts, "i18n-03-login-uk")
    login(boss, live_server, facts["boss"], "/console")
    expect(boss.locator("body")).to_have_attribute("data-connected", "1", timeout=TIMEOUT)
    expect_text(boss.locator("#queues-h"), "Мої черги")
    expect_text(boss.locator("header"), "Табло")
    uk_card = open_card(boss, facts["customer"])
    expect_text(uk_card, "Останні взаємодії")
    # The same moment, in Kyiv: 12:05.
    expect_text(invoice_time(uk_card), "12:05")
    uk_time = invoice_time(uk_card).inner_text()
    shot(boss, artifacts, "i18n-04-console-uk-card")

    # The wallboard in Ukrainian sees the Polish agent's offer.
    boss.goto(f"{live_server.url}/wallboard")
    expect_text(boss.locator("#agents-h"), "Оператори")
    expect(boss.locator(f'[data-queue-waiting="{facts["queue_id"]}"]')).to_have_text(
        "1", timeout=TIMEOUT
    )
    shot(boss, artifacts, "i18n-05-wallboard-uk", full_page=True)

    # Both show 20 November 2026, each in their own words and zone.
    assert "11:05" in pl_time and "12:05" not in pl_time
    assert "12:05" in uk_time and "11:05" not in uk_time
    assert "2026" in pl_time and "2026" in uk_time
    pl_ctx.close()
    uk_ctx.close()


def test_settings_change_the_language_and_zone_of_the_console(
    browser: Any, live_server: LiveServer, artifacts: Path
) -> None:
    facts = setup(live_server.app)
    ctx = browser.new_context(viewport={"width": 1280, "height": 720}, timezone_id="UTC")
    page = ctx.new_page()
    login(page, live_server, facts["agent"], "/console")
    page.click("a[href='/console/settings']")
    expect_text(page.locator("h1"), "Moje ustawienia")
    page.select_option("#language", "uk")
    page.select_option("#timezone", "Europe/Kyiv")
    shot(page, artifacts, "i18n-06-settings-pl")
    page.click("form button[type=submit]")
    expect_text(page.locator(".flash"), "Налаштування збережено.")
    expect_text(page.locator("h1"), "Мої налаштування")
    shot(page, artifacts, "i18n-07-settings-uk")
    page.goto(f"{live_server.url}/console")
    open_card(page, facts["customer"])
    expect_text(invoice_time(page.locator("#card-area")), "12:05")
    with live_server.app.app_context():
        user = db.session.query(User).filter_by(email=facts["agent"]).one()
        assert (user.language, user.timezone) == ("uk", "Europe/Kyiv")
    ctx.close()
