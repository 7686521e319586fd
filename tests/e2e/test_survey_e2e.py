"""An agent runs a survey for a customer in Chromium: the conditional question appears
when the answer calls for it, a wrong answer is refused next to its question, completing
stores the response. A visitor answers the same survey on its public web form, and the
results page counts both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from campaigns.survey_models import CampaignSurveyResponse
from campaigns.survey_web import slug_for
from campaigns.surveys import do_create_survey
from hub.db import db
from tests.e2e.conftest import LiveServer
from tests.e2e.test_console_e2e import TIMEOUT, expect_text, login, shot
from tests.factories import make_customer, make_user
from tests.integration.campaigns.survey_helpers import DEFINITION

pytestmark = pytest.mark.browser


def setup_survey(app: Any) -> dict[str, Any]:
    with app.app_context(), db.transaction() as session:
        agent = make_user(session, name="Tomasz Telemarketer")
        customer = make_customer(session, first_name="Anna", last_name="<b>Kowalska</b>")
        survey = do_create_survey(
            session, name="Satisfaction", definition=DEFINITION, web_enabled=True
        )
        return {"agent": agent.email, "customer_id": customer.id, "survey_id": survey.id}


def test_agent_runs_a_survey_and_the_results_count_console_and_web(
    browser: Any, live_server: LiveServer, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    facts = setup_survey(live_server.app)
    sid, cid = facts["survey_id"], facts["customer_id"]
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="UTC")
    page = ctx.new_page()
    run = f"/campaigns/surveys/{sid}/run"
    login(page, live_server, facts["agent"], run)
    page.goto(f"{live_server.url}{run}?customer_id={cid}")
    expect(page.locator("#sv-customer-name")).to_have_text("Anna <b>Kowalska</b>")  # as text

    def answering(action: Any, url_part: str = "/answers") -> None:
        with page.expect_response(lambda r: url_part in r.url, timeout=TIMEOUT):
            action()

    answering(lambda: page.click("#sv-start"), "/responses")
    questions = page.locator("#sv-questions")
    expect_text(questions, "Are you satisfied?")
    expect(page.locator('fieldset[data-key="why"]')).to_have_count(0)

    answering(lambda: page.get_by_label("No", exact=True).check())
    why = page.locator('fieldset[data-key="why"] textarea')
    expect(why).to_be_visible(timeout=TIMEOUT)  # shown by the answer "no"
    answering(lambda: (why.fill("Faster delivery, please"), why.blur()))
    answering(lambda: page.get_by_label("Premium", exact=True).check())
    answering(lambda: page.locator('fieldset[data-key="score"]').get_by_label("4").check())

    visits = page.locator("#q-visits")
    answering(lambda: (visits.fill("lots"), visits.blur()))
    expect(page.locator("#e-visits")).to_have_text("Enter a number.", timeout=TIMEOUT)
    expect(page.locator("#sv-problem")).to_be_visible()
    answering(lambda: (page.locator("#q-visits").fill("4"), page.locator("#q-visits").blur()))
    expect(page.locator("#e-visits")).to_have_count(0)
    shot(page, artifacts, "survey-console-answering", full_page=True)

    answering(lambda: page.click("#sv-complete"), "/complete")
    expect(page.locator("#sv-status")).to_have_text(
        "Completed: the answers are saved.", timeout=TIMEOUT
    )

    # The answers are on the customer's card in the console.
    page.goto(f"{live_server.url}/console")
    page.fill("#search", "Kowalska")
    expect_text(page.locator("#search-results"), "Kowalska")
    page.keyboard.press("Enter")
    surveys = page.locator("#card-area .card-surveys")
    expect_text(surveys, "Satisfaction")
    expect_text(surveys, "Which plan do you have?")
    expect_text(surveys, "Premium")
    expect(page.locator("#card-area .card-actions a")).to_have_attribute(
        "href", f"/campaigns/surveys?customer_id={cid}"
    )
    shot(page, artifacts, "survey-on-card")

    # The same survey on its public web form, in Polish, on a phone.
    visitor = browser.new_context(viewport={"width": 390, "height": 844}, locale="pl-PL")
    form = visitor.new_page()
    form.goto(f"{live_server.url}/forms/{slug_for(sid)}?lang=pl")
    form.fill("#f-email", "ewa.lis@example.com")
    form.select_option("#f-q_satisfied", "Tak")
    form.select_option("#f-q_plan", "Premium")
    form.select_option("#f-q_score", "5")
    form.click("button[type=submit]")
    expect_text(form.locator("body"), "Thank you, goodbye.")
    visitor.close()

    page.goto(f"{live_server.url}/campaigns/surveys/{sid}/results")
    plan = page.locator('section[data-question="plan"] g[data-value="premium"]')
    expect(plan).to_have_attribute("data-count", "2", timeout=TIMEOUT)
    expect(page.locator('#sv-channels tr[data-channel="console"] td').nth(2)).to_have_text("1")
    expect(page.locator('#sv-channels tr[data-channel="webform"] td').nth(2)).to_have_text("1")
    shot(page, artifacts, "survey-results", full_page=True)
    ctx.close()

    with live_server.app.app_context():
        channels = sorted(r.channel for r in db.session.scalars(select(CampaignSurveyResponse)))
    assert channels == ["console", "webform"]
