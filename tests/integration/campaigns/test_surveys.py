"""One survey, three channels, one set of results: the console's JSON API, the Twilio IVR
(signed <Gather> webhooks over HTTP) and the public web form (an HTTP POST through the
web-form channel and intake)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.survey_models import (
    CampaignSurveyAnswer,
    CampaignSurveyResponse,
    CampaignSurveyVersion,
)
from campaigns.survey_views import safe_cell
from campaigns.survey_web import slug_for
from campaigns.surveys import (
    clean_definition,
    do_create_survey,
    do_edit_survey,
    pin_current_survey_version,
    survey_results,
)
from crm_core.models import Customer, Interaction
from hub.cards import customer_card
from hub.db import db
from tests.factories import PASSWORD, make_customer, make_user
from tests.integration.campaigns.survey_helpers import (
    DEFINITION,
    Caller,
    Served,
    gather_action,
    page_tokens,
    said,
    serve_app,
    twiml,
)

DEFINITION_CLEAN = clean_definition(DEFINITION)


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[Served]:
    yield from serve_app(database_url, tmp_path)


@pytest.fixture
def ctx(served: Served) -> Iterator[Session]:
    with served.app.app_context():
        yield db.session


def login(client: FlaskClient, email: str) -> None:
    response = client.post("/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 302


def counts(results: dict[str, Any], key: str) -> dict[str, int]:
    question = next(q for q in results["questions"] if q["key"] == key)
    return {c["value"]: c["count"] for c in question["counts"]}


def test_one_survey_answered_in_console_ivr_and_web_form_lands_in_one_result(
    served: Served, ctx: Session
) -> None:
    anna = make_customer(ctx, first_name="Anna", emails=("anna@example.com",))
    piotr = make_customer(ctx, first_name="Piotr", phones=("+48 601 234 567",))
    agent = make_user(ctx, role="agent")
    survey = do_create_survey(ctx, name="NPS", definition=DEFINITION, web_enabled=True)
    ctx.commit()
    survey_id, anna_id, piotr_id = survey.id, anna.id, piotr.id

    # 1. The console: the agent drives the JSON API for Anna.
    client = served.app.test_client()
    login(client, agent.email)
    started = client.post(
        f"/campaigns/api/surveys/{survey_id}/responses", json={"customer_id": anna_id}
    )
    assert started.status_code == 201, started.get_json()
    state = started.get_json()
    assert state["next_question"]["key"] == "satisfied"
    assert "why" not in [q["key"] for q in state["questions"]]  # conditional, hidden
    rid = state["response_id"]
    answered = client.post(
        f"/campaigns/api/survey-responses/{rid}/answers",
        json={"answers": {"satisfied": "yes", "plan": "plus", "score": 5}},
    )
    assert answered.status_code == 200, answered.get_json()
    assert answered.get_json()["next_question"]["key"] == "extras"
    client.post(
        f"/campaigns/api/survey-responses/{rid}/answers",
        json={"answers": {"extras": ["TV", "Internet"], "visits": "3", "since": "2019-05-01"}},
    )
    done = client.post(f"/campaigns/api/survey-responses/{rid}/complete")
    assert done.status_code == 200 and done.get_json()["completed"] is True
    assert done.get_json()["partial"] is False

    # 2. The IVR: Piotr calls the survey's number; Twilio posts signed webhooks.
    twilio = Caller(served.base)
    call = {
        "CallSid": "CA" + "1" * 32,
        "From": "+48601234567",
        "To": "+48223070000",
        "Direction": "inbound",
        "AccountSid": "AC0123456789abcdef0123456789abcdef",
    }
    root = twiml(twilio.post(f"/webhooks/twilio/survey/{survey_id}", call))
    assert "Three quick questions." in said(root)
    assert "Are you satisfied?" in said(root)
    gather = root.find("Gather")
    assert gather is not None and gather.attrib["numDigits"] == "1"
    root = twiml(twilio.post(gather_action(root), {**call, "SpeechResult": "No."}))  # spoken
    # "why" is free text: a phone cannot answer it, so the IVR moves on to the plan.
    assert "Which plan do you have?" in said(root) and "For Basic press 1." in said(root)
    root = twiml(twilio.post(gather_action(root), {**call, "Digits": "7"}))  # no such option
    assert "not a valid answer" in said(root) and "Which plan" in said(root)
    root = twiml(twilio.post(gather_action(root), {**call, "Digits": "1"}))  # basic
    assert "Rate us" in said(root)
    root = twiml(twilio.post(gather_action(root), {**call, "Digits": "4"}))
    assert "Shop visits a year?" in said(root)  # multiple choice skipped on the phone
    gather = root.find("Gather")
    assert gather is not None and gather.attrib["finishOnKey"] == "#"
    root = twiml(twilio.post(gather_action(root), {**call, "Digits": "12#"}))
    assert root.find("Hangup") is not None and "Thank you, goodbye." in said(root)

    # 3. The web form: a visitor posts the public page over HTTP.
    http = requests.Session()
    page = http.get(f"{served.base}/forms/{slug_for(survey_id)}", timeout=30)
    assert page.status_code == 200 and "Which plan do you have?" in page.text
    posted = http.post(
        f"{served.base}/forms/{slug_for(survey_id)}",
        data={
            **page_tokens(page.text),
            "name": "Ewa Lis",
            "email": "ewa.lis@example.com",
            "q_satisfied": "Yes",
            "q_plan": "Premium",
            "q_score": "3",
            "q_extras__2": "1",
            "q_visits": "7",
        },
        timeout=30,
    )
    assert posted.status_code == 200, posted.text
    assert "Thank you, goodbye." in posted.text

    # The three answers, one set of results.
    ctx.rollback()
    results = survey_results(ctx, survey_id)
    assert results["by_channel"] == {
        "console": {"started": 1, "completed": 1},
        "ivr": {"started": 1, "completed": 1},
        "webform": {"started": 1, "completed": 1},
    }
    assert counts(results, "satisfied") == {"yes": 2, "no": 1}
    assert counts(results, "plan") == {"basic": 1, "plus": 1, "premium": 1}
    assert counts(results, "score") == {"1": 0, "2": 0, "3": 1, "4": 1, "5": 1}
    assert counts(results, "extras") == {"TV": 1, "Phone": 1, "Internet": 1}
    visits = next(q for q in results["questions"] if q["key"] == "visits")
    assert (visits["answered"], visits["min"], visits["max"]) == (3, "3", "12")
    assert results["partial"] == 1  # the call skipped "why" (required) and "extras"

    responses = {r.channel: r for r in ctx.scalars(select(CampaignSurveyResponse))}
    assert responses["console"].customer_id == anna_id
    assert responses["ivr"].customer_id == piotr_id and responses["ivr"].partial
    web = responses["webform"]
    interaction = ctx.get(Interaction, web.interaction_id)
    assert interaction is not None and interaction.channel == "webform"
    assert interaction.customer_id == web.customer_id
    ewa = ctx.get(Customer, web.customer_id)
    assert ewa is not None and ewa.display_name == "Ewa Lis"
    typed = {
        a.question_key: a
        for a in ctx.scalars(
            select(CampaignSurveyAnswer).where(CampaignSurveyAnswer.response_id == web.id)
        )
    }
    assert typed["satisfied"].value_bool is True
    assert typed["score"].value_number == 3 and typed["plan"].value_text == "premium"
    assert typed["extras"].value_choices == ["Phone"]

    # The results page shows the same counts, charted.
    html = client.get(f"/campaigns/surveys/{survey_id}/results").get_data(as_text=True)
    assert 'data-value="plus" data-count="1"' in html
    assert 'data-value="yes" data-count="2"' in html and "<svg" in html

    # Each customer's card carries their answers.
    card = customer_card(ctx, anna_id)
    section = card["sections"]["surveys"]
    assert section[0]["survey"] == "NPS" and section[0]["channel"] == "console"
    plan = {
        "key": "plan",
        "type": "single_choice",
        "question": "Which plan do you have?",
        "value": "Plus",
    }
    assert plan in section[0]["answers"]


@pytest.fixture
def agent_client(served: Served, ctx: Session) -> FlaskClient:
    agent = make_user(ctx, role="agent")
    ctx.commit()
    client = served.app.test_client()
    login(client, agent.email)
    return client


def _start(client: FlaskClient, ctx: Session) -> tuple[int, int]:
    customer = make_customer(ctx)
    survey = do_create_survey(ctx, name=f"S{customer.id}", definition=DEFINITION)
    ctx.commit()
    started = client.post(
        f"/campaigns/api/surveys/{survey.id}/responses", json={"customer_id": customer.id}
    )
    assert started.status_code == 201
    return survey.id, started.get_json()["response_id"]


def _invalid_answers_are_refused_with_each_question_named(
    agent_client: FlaskClient, ctx: Session
) -> None:
    _, rid = _start(agent_client, ctx)
    bad = agent_client.post(
        f"/campaigns/api/survey-responses/{rid}/answers",
        json={
            "answers": {
                "satisfied": "perhaps",
                "plan": "gold",
                "score": 9,
                "visits": "2.5",
                "since": "yesterday",
                "extras": ["Radio"],
                "nope": 1,
            }
        },
    )
    assert bad.status_code == 422
    body = bad.get_json()
    assert body["error"] == "validation_failed"
    assert body["fields"] == {
        "satisfied": "Answer yes or no.",
        "plan": "Choose one of the options.",
        "score": "Choose a whole number from 1 to 5.",
        "visits": "Enter a whole number.",
        "since": "Please enter a date (YYYY-MM-DD).",
        "extras": "Choose among the options only.",
        "nope": "There is no such question.",
    }
    ctx.rollback()
    assert ctx.scalars(select(CampaignSurveyAnswer)).first() is None  # nothing half-written
    # A conditional question answers only when it shows.
    hidden = agent_client.post(
        f"/campaigns/api/survey-responses/{rid}/answers",
        json={"answers": {"satisfied": "yes", "why": "slow"}},
    )
    assert hidden.status_code == 422 and "why" in hidden.get_json()["fields"]
    agent_client.post(
        f"/campaigns/api/survey-responses/{rid}/answers", json={"answers": {"satisfied": "no"}}
    )
    early = agent_client.post(f"/campaigns/api/survey-responses/{rid}/complete")
    assert early.status_code == 422
    assert set(early.get_json()["fields"]) == {"why", "plan", "score"}
    # Changing the answer hides "why" again and drops its answer.
    agent_client.post(
        f"/campaigns/api/survey-responses/{rid}/answers", json={"answers": {"why": "slow"}}
    )
    state = agent_client.post(
        f"/campaigns/api/survey-responses/{rid}/answers", json={"answers": {"satisfied": "yes"}}
    ).get_json()
    assert "why" not in state["answers"]


def _bad_definitions_are_refused_with_the_question_named(
    agent_client: FlaskClient, ctx: Session, served: Served
) -> None:
    boss = make_user(ctx, role="supervisor")
    ctx.commit()
    client = served.app.test_client()
    login(client, boss.email)

    def create(questions: list[dict[str, Any]]) -> Any:
        return client.post(
            "/campaigns/api/surveys",
            json={"name": "Bad", "definition": {"questions": questions}},
        )

    yes_no = {"key": "a", "type": "yes_no", "text": "A?"}
    unreachable = create(
        [
            yes_no,
            {
                "key": "b",
                "type": "text",
                "text": "B?",
                "show_if": {"question": "a", "in": ["maybe"]},
            },
        ]
    )
    assert unreachable.status_code == 422
    assert "'b' is unreachable" in unreachable.get_json()["message"]
    assert unreachable.get_json()["field"] == "questions.b"
    cycle = create(
        [
            {
                "key": "a",
                "type": "yes_no",
                "text": "A?",
                "show_if": {"question": "b", "in": ["yes"]},
            },
            {
                "key": "b",
                "type": "yes_no",
                "text": "B?",
                "show_if": {"question": "a", "in": ["yes"]},
            },
        ]
    )
    assert cycle.status_code == 422 and "'a' depends on 'b'" in cycle.get_json()["message"]
    assert "cycle" in cycle.get_json()["message"]
    chained = create(
        [
            yes_no,
            {"key": "b", "type": "yes_no", "text": "B?", "show_if": {"question": "a", "in": ["x"]}},
        ]
    )
    assert "'b' is unreachable" in chained.get_json()["message"]
    out_of_range = create(
        [
            {"key": "s", "type": "scale", "text": "S", "min": 1, "max": 5},
            {"key": "t", "type": "text", "text": "T", "show_if": {"question": "s", "min": 6}},
        ]
    )
    assert "'t' is unreachable" in out_of_range.get_json()["message"]
    missing = create(
        [{"key": "t", "type": "text", "text": "T", "show_if": {"question": "zz", "in": ["1"]}}]
    )
    assert "missing question 'zz'" in missing.get_json()["message"]
    # Agents may not define surveys.
    forbidden = agent_client.post(
        "/campaigns/api/surveys", json={"name": "X", "definition": DEFINITION}
    )
    assert forbidden.status_code == 403


def _editing_makes_a_new_version_and_responses_keep_theirs(
    agent_client: FlaskClient, ctx: Session
) -> None:
    survey_id, rid = _start(agent_client, ctx)
    ctx.rollback()
    first = pin_current_survey_version(ctx, survey_id)
    changed = {**DEFINITION, "questions": DEFINITION["questions"][:4]}
    survey = do_edit_survey(ctx, _survey(ctx, survey_id), definition=changed)
    ctx.commit()
    assert survey.version == 2 and pin_current_survey_version(ctx, survey_id) != first
    response = ctx.get(CampaignSurveyResponse, rid)
    assert response is not None and response.survey_version_id == first
    # The old response still offers the old version's questions.
    state = agent_client.get(f"/campaigns/api/survey-responses/{rid}").get_json()
    assert "extras" in [q["key"] for q in state["questions"]]
    # Saving the same definition again is no new version.
    again = do_edit_survey(ctx, _survey(ctx, survey_id), definition=changed)
    assert again.version == 2
    versions = ctx.scalars(
        select(CampaignSurveyVersion).where(CampaignSurveyVersion.survey_id == survey_id)
    ).all()
    assert len(versions) == 2


def _survey(ctx: Session, survey_id: int) -> Any:
    from campaigns.surveys import get_survey

    return get_survey(ctx, survey_id)


def test_ivr_refuses_unsigned_or_tampered_webhooks(served: Served, ctx: Session) -> None:
    survey = do_create_survey(ctx, name="Sig", definition=DEFINITION)
    ctx.commit()
    url = f"/webhooks/twilio/survey/{survey.id}"
    ctx.rollback()
    twilio = Caller(served.base)
    params = {"CallSid": "CA" + "2" * 32, "From": "+48601000000", "Direction": "inbound"}
    assert twilio.post(url, params, sign=False).status_code == 403
    signed_for_other = twilio.validator.compute_signature(served.base + url, params)
    tampered = twilio.http.post(
        served.base + url + "?customer_id=1",
        data=params,
        headers={"X-Twilio-Signature": signed_for_other},
        timeout=30,
    )
    assert tampered.status_code == 403
    ctx.rollback()
    assert ctx.scalars(select(CampaignSurveyResponse)).first() is None
    ctx.rollback()  # SQLite: a transaction left open here holds the write lock
    # A call we placed names its customer in the (signed) URL.
    callee = make_customer(ctx, first_name="Callee")
    ctx.commit()
    callee_id = callee.id
    ctx.rollback()
    outbound = {"CallSid": "CA" + "3" * 32, "To": "+48601999999", "Direction": "outbound-api"}
    twiml(twilio.post(f"{url}?customer_id={callee_id}", outbound))
    ctx.rollback()
    placed = ctx.scalars(
        select(CampaignSurveyResponse).where(
            CampaignSurveyResponse.external_ref == outbound["CallSid"]
        )
    ).one()
    assert placed.customer_id == callee_id and placed.channel == "ivr"
    ctx.rollback()
    # Twilio's retry of the same call resumes the same response.
    twiml(twilio.post(url, params))
    twiml(twilio.post(url, params))
    ctx.rollback()
    assert len(ctx.scalars(select(CampaignSurveyResponse)).all()) == 2  # the placed call's too


def test_web_form_refuses_a_conditional_required_answer_left_empty(
    served: Served, ctx: Session
) -> None:
    survey = do_create_survey(ctx, name="Web", definition=DEFINITION, web_enabled=True)
    hidden = do_create_survey(ctx, name="Not on the web", definition=DEFINITION)
    ctx.commit()
    survey_id, hidden_id = survey.id, hidden.id
    ctx.rollback()
    http = requests.Session()
    url = f"{served.base}/forms/{slug_for(survey_id)}"
    page = http.get(url, timeout=30)
    data = {
        **page_tokens(page.text),
        "email": "jan@example.com",
        "q_satisfied": "No",
        "q_plan": "Basic",
        "q_score": "2",
    }
    refused = http.post(url, data=data, timeout=30)
    assert refused.status_code == 422
    assert 'id="e-q_why"' in refused.text and "This question needs an answer." in refused.text
    ctx.rollback()
    assert ctx.scalars(select(Interaction)).first() is None  # nothing reached intake
    ctx.rollback()
    assert http.get(f"{served.base}/forms/{slug_for(hidden_id)}", timeout=30).status_code == 404


def _exports_neutralise_formulas(agent_client: FlaskClient, ctx: Session) -> None:
    survey_id, rid = _start(agent_client, ctx)
    agent_client.post(
        f"/campaigns/api/survey-responses/{rid}/answers",
        json={
            "answers": {
                "satisfied": "no",
                "why": '=HYPERLINK("http://x")',
                "plan": "basic",
                "score": 2,
            }
        },
    )
    assert agent_client.post(f"/campaigns/api/survey-responses/{rid}/complete").status_code == 200
    text = agent_client.get(f"/campaigns/surveys/{survey_id}/results.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    header, row = rows[0], rows[1]
    assert row[header.index("why")] == '\'=HYPERLINK("http://x")'
    assert row[header.index("plan")] == "basic" and row[header.index("channel")] == "console"
    assert safe_cell("-5") == "-5" and safe_cell("-5+cmd") == "'-5+cmd" and safe_cell("@x") == "'@x"
    xlsx = agent_client.get(f"/campaigns/surveys/{survey_id}/results.xlsx")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    assert sheet is not None
    values = [c.value for c in sheet[2]]
    assert '\'=HYPERLINK("http://x")' in values


def _console_start_respects_the_target_group(agent_client: FlaskClient, ctx: Session) -> None:
    from crm_core.services.segments import do_save_segment

    vip = make_customer(ctx, first_name="Vip", vip=True)
    plain = make_customer(ctx, first_name="Plain")
    segment = do_save_segment(ctx, name="VIPs", flt={"field": "vip", "op": "eq", "value": True})
    survey = do_create_survey(ctx, name="VIP", definition=DEFINITION, segment_id=segment.id)
    ctx.commit()
    url = f"/campaigns/api/surveys/{survey.id}/responses"
    assert agent_client.post(url, json={"customer_id": vip.id}).status_code == 201
    refused = agent_client.post(url, json={"customer_id": plain.id})
    assert refused.status_code == 422 and refused.get_json()["field"] == "customer_id"


def _pages_render_for_agents_and_supervisors(
    served: Served, ctx: Session, agent_client: FlaskClient
) -> None:
    customer = make_customer(ctx, first_name="Zofia")
    survey = do_create_survey(ctx, name="Pages", definition=DEFINITION)
    boss = make_user(ctx, role="supervisor")
    ctx.commit()
    run = agent_client.get(f"/campaigns/surveys/{survey.id}/run?customer_id={customer.id}")
    assert run.status_code == 200 and "Zofia" in run.get_data(as_text=True)
    assert agent_client.get("/campaigns/surveys").status_code == 200
    assert agent_client.get(f"/campaigns/surveys/{survey.id}/edit").status_code == 403
    client = served.app.test_client()
    login(client, boss.email)
    editor = client.get(f"/campaigns/surveys/{survey.id}/edit")
    assert editor.status_code == 200 and "Question 1" in editor.get_data(as_text=True)
    # The editor is a form: the current definition comes back as its rows and saves as it was.
    from campaigns.survey_views import question_rows

    html = editor.get_data(as_text=True)
    assert 'value="satisfied"' in html and "basic | Basic" in html
    data = {
        "name": "Pages",
        "title": "How are we doing?",
        "language": "pl",
        "intro": "",
        "thanks": "",
        "segment_id": "",
    }
    for n, row in enumerate(question_rows(DEFINITION_CLEAN)):
        data.update({f"q-{n}-{k}": v for k, v in row.items()})
    data.update({"q-7-key": "", "q-7-type": "text"})  # a blank row is dropped
    kept = client.post(f"/campaigns/surveys/{survey.id}/edit", data=data)
    assert kept.status_code == 302
    ctx.rollback()
    from campaigns.surveys import current_version

    version = current_version(ctx, survey.id)
    assert version.version == 2 and version.definition["language"] == "pl"
    assert version.definition["questions"] == DEFINITION_CLEAN["questions"]
    ctx.rollback()
    data.update({"q-0-show_on": "satisfied", "q-0-show_in": "yes"})
    looped = client.post(f"/campaigns/surveys/{survey.id}/edit", data=data)
    assert looped.status_code == 422
    page = looped.get_data(as_text=True)
    assert "depends on itself" in page and 'value="satisfied"' in page  # input kept
    data.update({"q-0-show_on": "", "q-3-show_on": "satisfied", "q-3-show_in": "maybe"})
    unreachable = client.post(f"/campaigns/surveys/{survey.id}/edit", data=data)
    assert unreachable.status_code == 422
    assert "question &#39;score&#39; is unreachable" in unreachable.get_data(as_text=True)


# The agent's and supervisor's checks share one app and one login each (keeps the suite fast).
def test_agent_api_refuses_bad_answers_keeps_versions_exports_safely_and_respects_the_segment(
    agent_client: FlaskClient, ctx: Session
) -> None:
    _invalid_answers_are_refused_with_each_question_named(agent_client, ctx)
    _editing_makes_a_new_version_and_responses_keep_theirs(agent_client, ctx)
    _exports_neutralise_formulas(agent_client, ctx)
    _console_start_respects_the_target_group(agent_client, ctx)


def test_supervisor_pages_and_bad_definitions(
    agent_client: FlaskClient, ctx: Session, served: Served
) -> None:
    _bad_definitions_are_refused_with_the_question_named(agent_client, ctx, served)
    _pages_render_for_agents_and_supervisors(served, ctx, agent_client)
