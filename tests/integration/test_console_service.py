"""The console's service desk endpoints: coverage on the card (the screen-pop dict), the
ticket's service panel, complaint moves, KB insert counting, the complaint report page."""

from __future__ import annotations

import datetime as dt

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from crm_core.services import complaints as complaints_svc
from crm_core.services import kb as kb_svc
from crm_core.services import service as service_svc
from crm_core.services.users import get_or_create_team
from hub.cards import customer_card
from tests.factories import PASSWORD, make_customer, make_user

TODAY = dt.datetime.now(dt.UTC).date()
JSON = {"Accept": "application/json"}  # what the page's fetch sends: errors come as JSON


def _login(client: FlaskClient, email: str) -> None:
    r = client.post("/login", data={"email": email, "password": PASSWORD})
    assert r.status_code == 302


def _world(session: Session) -> dict[str, int | str]:
    team = get_or_create_team(session, "Service")
    agent = make_user(session, teams=("Service",))
    outsider = make_user(session, teams=("Sales",))
    customer = make_customer(session)
    product = service_svc.do_create_product(session, sku="TV-1", name="Telewizor TV-1")
    owned = service_svc.do_register_owned_product(
        session,
        customer_id=customer.id,
        product_id=product.id,
        serial_number="TV123",
        purchased_on=TODAY - dt.timedelta(days=10),
        warranty_until=TODAY + dt.timedelta(days=720),
    )
    ticket = complaints_svc.do_register_complaint(
        session,
        subject="Telewizor nie włącza się",
        customer_id=customer.id,
        reason="defect",
        owned_product_id=owned.id,
        team_id=team.id,
        cost_amount=None,
    )
    article = kb_svc.do_create_article(
        session, title="Telewizor nie włącza się", body="Sprawdź zasilacz.", keywords=["tv"]
    )
    session.commit()
    return {
        "agent": agent.email,
        "outsider": outsider.email,
        "customer": customer.id,
        "ticket": ticket.id,
        "article": article.id,
        "owned": owned.id,
    }


def test_card_carries_the_coverage(session: Session) -> None:
    w = _world(session)
    card = customer_card(session, int(w["customer"]))
    product = card["coverage"]["products"][0]
    assert product["serial_number"] == "TV123" and product["in_warranty"] is True
    assert product["warranty_until"] == (TODAY + dt.timedelta(days=720)).isoformat()


def test_service_panel_complaint_moves_and_kb_insert(client: FlaskClient, session: Session) -> None:
    w = _world(session)
    _login(client, str(w["agent"]))
    panel = client.get(f"/console/api/tickets/{w['ticket']}/service").get_json()
    assert panel["coverage"]["product"]["in_warranty"] is True
    assert panel["complaint"]["allowed_transitions"] == ["under_review"]
    assert [a["id"] for a in panel["suggestions"]] == [w["article"]]
    assert panel["owned_products"][0]["id"] == w["owned"]

    r = client.patch(
        f"/console/api/tickets/{w['ticket']}/complaint", json={"status": "under_review"}
    )
    assert r.status_code == 200
    r = client.patch(
        f"/console/api/tickets/{w['ticket']}/complaint", json={"status": "accepted"}, headers=JSON
    )
    assert r.status_code == 422 and r.get_json()["field"] == "decision_reason"
    r = client.patch(
        f"/console/api/tickets/{w['ticket']}/complaint",
        json={"cost_amount": "12,5", "cost_currency": "PLN"},
    )
    assert r.status_code == 200 and r.get_json()["complaint"]["cost_amount"] == "12.50"
    r = client.patch(f"/console/api/tickets/{w['ticket']}/complaint", json={"cost_amount": "lots"})
    assert r.status_code == 422

    inserted = client.post(f"/console/api/kb/articles/{w['article']}/insert", json={})
    assert inserted.get_json()["body"] == "Sprawdź zasilacz."
    assert inserted.get_json()["insert_count"] == 1
    found = client.get("/console/api/kb/search?q=zasilacz").get_json()["items"]
    assert [a["id"] for a in found] == [w["article"]]


def test_outsider_cannot_see_the_complaint_panel(client: FlaskClient, session: Session) -> None:
    w = _world(session)
    _login(client, str(w["outsider"]))
    assert client.get(f"/console/api/tickets/{w['ticket']}/service").status_code == 404
    r = client.patch(
        f"/console/api/tickets/{w['ticket']}/complaint", json={"status": "under_review"}
    )
    assert r.status_code == 404


def test_report_page_shows_sums_in_the_users_locale(client: FlaskClient, session: Session) -> None:
    w = _world(session)
    ticket = session.get(complaints_svc.Ticket, int(w["ticket"]))
    assert ticket is not None
    complaints_svc.do_update_complaint(
        session,
        ticket,
        {"cost_amount": service_svc.decimal.Decimal("1234.50"), "cost_currency": "PLN"},
    )
    session.commit()
    _login(client, str(w["agent"]))
    page = client.get("/console/complaints/report").get_data(as_text=True)
    assert "Telewizor TV-1" in page and "1,234.50" in page
    assert client.get("/console/complaints/report?date_from=2026-02-30").status_code == 422
