"""Products, owned products, warranties, contracts, coverage and complaints through the API,
on both backends: a complaint on a product in warranty shows its coverage; the complaint
process and its bad input; the report sums costs by product and reason."""

from __future__ import annotations

import datetime as dt
import decimal
import io
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.models import Ticket
from crm_core.models.service import Complaint, OwnedProduct, Product, TicketSubject
from crm_core.services import service as service_svc
from crm_core.services.users import get_or_create_team
from tests.factories import bearer, make_customer, make_user

API = "/api/v1"
TODAY = dt.datetime.now(dt.UTC).date()


@dataclass
class World:
    customer_id: int
    sup: dict[str, str]
    agent: dict[str, str]
    outsider: dict[str, str]
    team_id: int
    washer_id: int
    dryer_id: int


@pytest.fixture
def world(session: Session) -> World:
    team = get_or_create_team(session, "Service")
    supervisor = make_user(session, role="supervisor")
    agent = make_user(session, role="agent", teams=("Service",))
    outsider = make_user(session, role="agent", teams=("Sales",))
    customer = make_customer(session)
    w = World(
        customer_id=customer.id,
        sup=bearer(session, supervisor),
        agent=bearer(session, agent),
        outsider=bearer(session, outsider),
        team_id=team.id,
        washer_id=0,
        dryer_id=0,
    )
    session.commit()
    return w


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.get_data(as_text=True)
    return response.json


def _catalogue(client: FlaskClient, w: World) -> None:
    w.washer_id = _ok(
        client.post(
            f"{API}/products",
            json={"sku": "WM-100", "name": "Washer WM-100", "warranty_months": 24},
            headers=w.sup,
        ),
        201,
    )["id"]
    w.dryer_id = _ok(
        client.post(f"{API}/products", json={"sku": "DR-7", "name": "Dryer DR-7"}, headers=w.sup),
        201,
    )["id"]


def _own(client: FlaskClient, w: World, product_id: int, **extra: Any) -> dict[str, Any]:
    body = {"product_id": product_id, **extra}
    return _ok(  # type: ignore[no-any-return]
        client.post(f"{API}/customers/{w.customer_id}/owned-products", json=body, headers=w.agent),
        201,
    )


def test_catalogue_is_changed_by_supervisors_only(client: FlaskClient, world: World) -> None:
    r = client.post(f"{API}/products", json={"sku": "X", "name": "X"}, headers=world.agent)
    assert r.status_code == 403
    _catalogue(client, world)
    dup = client.post(f"{API}/products", json={"sku": "WM-100", "name": "Y"}, headers=world.sup)
    assert dup.status_code == 409 and dup.json["field"] == "sku"
    page = _ok(client.get(f"{API}/products?q=wm-", headers=world.agent))
    assert [p["sku"] for p in page["items"]] == ["WM-100"]


def test_sales_document_owned_product_and_warranty_from_months(
    client: FlaskClient, world: World
) -> None:
    _catalogue(client, world)
    bought = TODAY - dt.timedelta(days=100)
    doc = _ok(
        client.post(
            f"{API}/sales-documents",
            json={
                "number": "FV/2026/001",
                "issued_on": bought.isoformat(),
                "currency": "PLN",
                "customer_id": world.customer_id,
                "lines": [
                    {"product_id": world.washer_id, "quantity": "1", "unit_price": "1999.99"},
                    {"product_id": world.dryer_id, "quantity": "2", "unit_price": "0.10"},
                ],
            },
            headers=world.agent,
        ),
        201,
    )
    assert decimal.Decimal(doc["total"]) == decimal.Decimal("2000.19")
    owned = _own(
        client,
        world,
        world.washer_id,
        serial_number="SN-42",
        purchased_on=bought.isoformat(),
        sales_document_id=doc["id"],
    )
    expected = service_svc.add_months(bought, 24) - dt.timedelta(days=1)
    assert owned["in_warranty"] is True
    assert owned["warranty_until"] == expected.isoformat()
    assert owned["sales_document_number"] == "FV/2026/001"


def test_bad_input_is_refused_clearly(client: FlaskClient, world: World) -> None:
    _catalogue(client, world)
    r = client.post(
        f"{API}/customers/{world.customer_id}/owned-products",
        json={"product_id": 999_999},
        headers=world.agent,
    )
    assert r.status_code == 422 and r.json["field"] == "product_id"
    assert "product 999999 does not exist" in r.json["message"]
    r = client.post(
        f"{API}/sales-documents",
        json={
            "number": "X1",
            "issued_on": "2026-01-01",
            "currency": "PLN",
            "lines": [{"product_id": 999_999, "unit_price": "1"}],
        },
        headers=world.agent,
    )
    assert r.status_code == 422 and r.json["field"] == "lines.0.product_id"
    r = client.post(
        f"{API}/customers/{world.customer_id}/contracts",
        json={
            "number": "SC-1",
            "coverage": "Parts and labour",
            "starts_on": "2026-06-01",
            "ends_on": "2026-05-31",
        },
        headers=world.agent,
    )
    assert r.status_code == 422 and r.json["field"] == "ends_on"
    assert "before the start date" in r.json["message"]
    r = client.post(
        f"{API}/customers/{world.customer_id}/contracts",
        json={
            "number": "SC-1",
            "coverage": "x",
            "starts_on": "2026-02-30",
            "ends_on": "2027-01-01",
        },
        headers=world.agent,
    )
    assert r.status_code == 422
    owned = _own(client, world, world.dryer_id)
    r = client.post(
        f"{API}/owned-products/{owned['id']}/warranties",
        json={"starts_on": "2026-01-10", "ends_on": "2026-01-09"},
        headers=world.agent,
    )
    assert r.status_code == 422 and r.json["field"] == "ends_on"


def test_complaint_on_a_product_in_warranty_shows_coverage_and_follows_its_process(
    client: FlaskClient, world: World, session: Session
) -> None:
    _catalogue(client, world)
    owned = _own(
        client,
        world,
        world.washer_id,
        serial_number="SN-7",
        purchased_on=(TODAY - dt.timedelta(days=30)).isoformat(),
        warranty_until=(TODAY + dt.timedelta(days=300)).isoformat(),
    )
    contract = _ok(
        client.post(
            f"{API}/customers/{world.customer_id}/contracts",
            json={
                "number": "SC-9",
                "coverage": "On-site repair",
                "starts_on": (TODAY - dt.timedelta(days=10)).isoformat(),
                "ends_on": (TODAY + dt.timedelta(days=20)).isoformat(),
                "response_hours": 24,
                "owned_product_ids": [owned["id"]],
            },
            headers=world.agent,
        ),
        201,
    )
    created = _ok(
        client.post(
            f"{API}/complaints",
            json={
                "subject": "Washer leaks",
                "customer_id": world.customer_id,
                "reason": "defect",
                "owned_product_id": owned["id"],
                "team_id": world.team_id,
            },
            headers=world.agent,
        ),
        201,
    )
    tid = created["ticket_id"]
    assert created["status"] == "registered"
    product = created["concerns"]["product"]
    assert product["in_warranty"] is True
    assert product["warranty_until"] == (TODAY + dt.timedelta(days=300)).isoformat()
    assert [c["number"] for c in product["contracts"]] == ["SC-9"]
    assert product["contracts"][0]["response_hours"] == 24
    ticket = _ok(client.get(f"{API}/tickets/{tid}", headers=world.agent))
    assert ticket["ticket_type"] == "complaint"
    cov = _ok(client.get(f"{API}/tickets/{tid}/coverage", headers=world.agent))
    assert cov["product"]["serial_number"] == "SN-7"
    card = _ok(client.get(f"{API}/customers/{world.customer_id}/coverage", headers=world.agent))
    assert card["products"][0]["in_warranty"] and card["contracts"][0]["id"] == contract["id"]

    # Another team's agent does not see it (the ticket's rule: 404).
    assert client.get(f"{API}/complaints/{tid}", headers=world.outsider).status_code == 404

    # The process: an illegal jump is a 409 naming what is allowed.
    r = client.patch(f"{API}/complaints/{tid}", json={"status": "resolved"}, headers=world.agent)
    assert r.status_code == 409 and r.json["detail"]["allowed"] == ["under_review"]
    done = _ok(
        client.patch(
            f"{API}/complaints/{tid}", json={"status": "under_review"}, headers=world.agent
        )
    )
    assert done["ticket_status"] == "open"
    r = client.patch(f"{API}/complaints/{tid}", json={"status": "rejected"}, headers=world.agent)
    assert r.status_code == 422 and r.json["field"] == "decision_reason"
    r = client.patch(
        f"{API}/complaints/{tid}",
        json={"status": "rejected", "decision_reason": "   "},
        headers=world.agent,
    )
    assert r.status_code == 422 and r.json["field"] == "decision_reason"
    still = _ok(client.get(f"{API}/complaints/{tid}", headers=world.agent))
    assert still["status"] == "under_review"
    decided = _ok(
        client.patch(
            f"{API}/complaints/{tid}",
            json={
                "status": "accepted",
                "decision_reason": "Seal defect confirmed",
                "cost_amount": "150.50",
                "cost_currency": "pln",
            },
            headers=world.agent,
        )
    )
    assert decided["status"] == "accepted" and decided["decision_reason"] == "Seal defect confirmed"
    assert decided["cost_amount"] == "150.50" and decided["cost_currency"] == "PLN"
    resolved = _ok(
        client.patch(f"{API}/complaints/{tid}", json={"status": "resolved"}, headers=world.agent)
    )
    assert resolved["ticket_status"] == "solved" and resolved["resolved_at"]
    row = session.get(Complaint, tid)
    session.refresh(row)
    assert row is not None and row.cost_amount == decimal.Decimal("150.50")


def test_complaint_needs_what_it_concerns_and_a_currency(client: FlaskClient, world: World) -> None:
    body = {"subject": "Broken", "customer_id": world.customer_id, "reason": "defect"}
    r = client.post(f"{API}/complaints", json=body, headers=world.agent)
    assert r.status_code == 422 and r.json["field"] == "owned_product_id"
    r = client.post(
        f"{API}/complaints", json={**body, "owned_product_id": 999_999}, headers=world.agent
    )
    assert r.status_code == 422 and "does not exist" in r.json["message"]
    _catalogue(client, world)
    owned = _own(client, world, world.dryer_id)
    r = client.post(
        f"{API}/complaints",
        json={**body, "owned_product_id": owned["id"], "cost_amount": "10"},
        headers=world.agent,
    )
    assert r.status_code == 422 and r.json["field"] == "cost_currency"


def test_report_sums_costs_by_product_and_reason(
    client: FlaskClient, world: World, session: Session
) -> None:
    _catalogue(client, world)
    washer = _own(client, world, world.washer_id)
    dryer = _own(client, world, world.dryer_id)
    cases = [
        (washer, "defect", "100.10", "PLN"),
        (washer, "defect", "0.20", "PLN"),
        (washer, "noise", "33.33", "PLN"),
        (washer, "defect", "12.00", "EUR"),
        (dryer, "defect", "7.77", "PLN"),
        (dryer, "transport", None, None),
    ]
    for owned, reason, amount, currency in cases:
        body: dict[str, Any] = {
            "subject": f"{reason} case",
            "customer_id": world.customer_id,
            "reason": reason,
            "owned_product_id": owned["id"],
            "team_id": world.team_id,
        }
        if amount is not None:
            body |= {"cost_amount": amount, "cost_currency": currency}
        _ok(client.post(f"{API}/complaints", json=body, headers=world.agent), 201)
    report = _ok(client.get(f"{API}/complaints/report", headers=world.agent))

    # An independent count from the raw rows.
    sums: dict[tuple[str, str | None], decimal.Decimal] = defaultdict(decimal.Decimal)
    counts: Counter[tuple[str, str | None]] = Counter()
    reasons: dict[tuple[str, str | None], decimal.Decimal] = defaultdict(decimal.Decimal)
    rows = session.execute(
        select(Product.name, Complaint.reason, Complaint.cost_amount, Complaint.cost_currency)
        .join(TicketSubject, TicketSubject.ticket_id == Complaint.ticket_id)
        .join(OwnedProduct, OwnedProduct.id == TicketSubject.owned_product_id)
        .join(Product, Product.id == OwnedProduct.product_id)
    ).all()
    assert len(rows) == len(cases)
    for name, reason, amount, currency in rows:
        sums[(name, currency)] += amount or 0
        counts[(name, currency)] += 1
        reasons[(reason, currency)] += amount or 0
    got = {
        (r["product_name"], r["currency"]): (r["count"], decimal.Decimal(r["cost"]))
        for r in report["by_product"]
    }
    assert got == {key: (counts[key], sums[key]) for key in counts}
    assert got[("Washer WM-100", "PLN")] == (3, decimal.Decimal("133.63"))
    by_reason = {
        (r["reason"], r["currency"]): decimal.Decimal(r["cost"]) for r in report["by_reason"]
    }
    assert by_reason == dict(reasons)
    assert report["by_status"] == {"registered": 6}
    totals = {t["currency"]: decimal.Decimal(t["cost"]) for t in report["totals"]}
    assert totals == {"PLN": decimal.Decimal("141.40"), "EUR": decimal.Decimal("12.00"), None: 0}
    # The outsider sees none of these tickets, so their report is empty.
    assert _ok(client.get(f"{API}/complaints/report", headers=world.outsider))["totals"] == []
    assert session.scalar(select(Ticket.ticket_type).limit(1)) == "complaint"


def test_ticket_subject_must_be_the_customers_product(
    client: FlaskClient, world: World, session: Session
) -> None:
    _catalogue(client, world)
    other = make_customer(session)
    session.commit()
    theirs = _ok(
        client.post(
            f"{API}/customers/{other.id}/owned-products",
            json={"product_id": world.washer_id},
            headers=world.agent,
        ),
        201,
    )
    ticket = _ok(
        client.post(
            f"{API}/tickets",
            json={"subject": "Noise", "customer_id": world.customer_id, "team_id": world.team_id},
            headers=world.agent,
        ),
        201,
    )
    r = client.put(
        f"{API}/tickets/{ticket['id']}/subject",
        json={"owned_product_id": theirs["id"]},
        headers=world.agent,
    )
    assert r.status_code == 422 and r.json["field"] == "owned_product_id"
    mine = _own(
        client,
        world,
        world.washer_id,
        warranty_until=(TODAY - dt.timedelta(days=1)).isoformat(),
        purchased_on=(TODAY - dt.timedelta(days=400)).isoformat(),
    )
    cov = _ok(
        client.put(
            f"{API}/tickets/{ticket['id']}/subject",
            json={"owned_product_id": mine["id"]},
            headers=world.agent,
        )
    )
    assert cov["product"]["in_warranty"] is False
    assert cov["product"]["last_warranty_until"] == (TODAY - dt.timedelta(days=1)).isoformat()


def test_complaint_attachments_inherit_the_cases_rights(client: FlaskClient, world: World) -> None:
    _catalogue(client, world)
    owned = _own(client, world, world.washer_id)
    tid = _ok(
        client.post(
            f"{API}/complaints",
            json={
                "subject": "Drum scratched",
                "customer_id": world.customer_id,
                "reason": "damaged_in_transport",
                "owned_product_id": owned["id"],
                "team_id": world.team_id,
            },
            headers=world.agent,
        ),
        201,
    )["ticket_id"]
    link = _ok(
        client.post(
            f"{API}/tickets/{tid}/links",
            json={
                "url": "https://photos.example.org/drum-42",
                "category": "photo",
                "keywords": "drum scratch",
            },
            headers=world.agent,
        ),
        201,
    )
    upload = client.post(
        f"{API}/tickets/{tid}/attachments",
        data={"file": (io.BytesIO(b"delivery note"), "note.txt"), "category": "delivery"},
        headers=world.agent,
        content_type="multipart/form-data",
    )
    file = _ok(upload, 201)
    found = _ok(client.get(f"{API}/attachments?q=photos.example", headers=world.agent))["items"]
    assert [a["id"] for a in found] == [link["id"]]
    found = _ok(client.get(f"{API}/attachments?q=delivery", headers=world.agent))["items"]
    assert [a["id"] for a in found] == [file["id"]]
    # An agent of another team may not see the complaint, so not its attachments either.
    assert client.get(f"{API}/attachments/{link['id']}", headers=world.outsider).status_code == 403
    r = client.get(f"{API}/attachments/{file['id']}/content", headers=world.outsider)
    assert r.status_code == 403
    assert _ok(client.get(f"{API}/attachments?q=drum", headers=world.outsider))["items"] == []
    assert client.get(f"{API}/attachments/{file['id']}/content", headers=world.agent).data == (
        b"delivery note"
    )


def test_task_attachments_inherit_the_tasks_rights(
    client: FlaskClient, world: World, session: Session
) -> None:
    from crm_core.models import User
    from crm_core.services.tasks import do_create_task

    owner = session.scalars(select(User).where(User.role == "agent").order_by(User.id)).first()
    assert owner is not None
    task = do_create_task(
        session, owner, {"title": "Bring the spare pump", "customer_id": world.customer_id}
    )
    session.commit()
    headers = bearer(session, owner)
    session.commit()
    link = _ok(
        client.post(
            f"{API}/tasks/{task.id}/links",
            json={"url": "https://parts.example.org/pump", "category": "parts"},
            headers=headers,
        ),
        201,
    )
    assert link["task_id"] == task.id and link["customer_id"] == world.customer_id
    upload = client.post(
        f"{API}/tasks/{task.id}/attachments",
        data={"file": (io.BytesIO(b"pump manual"), "manual.txt"), "keywords": "pump manual"},
        headers=headers,
        content_type="multipart/form-data",
    )
    file = _ok(upload, 201)
    mine = _ok(client.get(f"{API}/attachments?task_id={task.id}", headers=headers))["items"]
    assert {a["id"] for a in mine} == {link["id"], file["id"]}
    assert client.get(f"{API}/attachments/{file['id']}", headers=world.outsider).status_code == 403
    r = client.post(
        f"{API}/tasks/{task.id}/links", json={"url": "https://x.example"}, headers=world.outsider
    )
    assert r.status_code == 404
