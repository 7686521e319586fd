"""Customers through the API: typed custom fields and merging."""

from __future__ import annotations

import datetime as dt

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_core.models import ContactPoint, Interaction
from crm_core.services.custom_fields import define_field
from tests.factories import bearer, make_customer, make_user

API = "/api/v1"


def _fields(session: Session) -> None:
    define_field(session, key="loyalty_points", label="Loyalty points", field_type="number")
    define_field(session, key="contract_start", label="Contract start", field_type="date")
    define_field(session, key="plan", label="Plan", field_type="choice", choices=["basic", "gold"])
    define_field(session, key="newsletter", label="Newsletter", field_type="boolean")
    define_field(session, key="account_ref", label="Account", field_type="text")


def test_custom_fields_are_typed(client: FlaskClient, session: Session) -> None:
    _fields(session)
    headers = bearer(session, make_user(session, role="agent"))
    session.commit()
    good = {
        "first_name": "Ewa",
        "last_name": "Nowak",
        "custom_fields": {
            "loyalty_points": 120,
            "contract_start": "2024-03-01",
            "plan": "gold",
            "newsletter": True,
            "account_ref": "ACC-7",
        },
    }
    r = client.post(f"{API}/customers", json=good, headers=headers)
    assert r.status_code == 201, r.json
    assert r.json["custom_fields"] == good["custom_fields"]
    cid = r.json["id"]

    wrong = [
        ("loyalty_points", "lots"),
        ("contract_start", "first of March"),
        ("plan", "platinum"),
        ("newsletter", "yes"),
        ("account_ref", 12),
    ]
    for key, value in wrong:
        r = client.patch(
            f"{API}/customers/{cid}", json={"custom_fields": {key: value}}, headers=headers
        )
        assert r.status_code == 422, (key, r.json)
        assert r.json["field"] == f"custom_fields.{key}", r.json
        assert r.json["error"] == "validation_failed"
    # Nothing of the refused changes was written.
    assert (
        client.get(f"{API}/customers/{cid}", headers=headers).json["custom_fields"]
        == (good["custom_fields"])
    )


def test_unknown_custom_field_is_refused(client: FlaskClient, session: Session) -> None:
    _fields(session)
    headers = bearer(session, make_user(session))
    session.commit()
    r = client.post(
        f"{API}/customers",
        json={"last_name": "Nowak", "custom_fields": {"shoe_size": 42}},
        headers=headers,
    )
    assert r.status_code == 422, r.json
    assert r.json["field"] == "custom_fields.shoe_size"
    assert "unknown custom field" in r.json["message"]


def test_merge_keeps_every_interaction_and_contact_point(
    client: FlaskClient, session: Session
) -> None:
    supervisor = make_user(session, role="supervisor")
    headers = bearer(session, supervisor)
    survivor = make_customer(
        session, first_name="Jan", phones=("+48 601 234 567",), emails=("jan@example.com",)
    )
    merged = make_customer(
        session,
        first_name="Janek",
        phones=("+48 601 234 567", "+44 20 7946 0018"),
        emails=("janek@example.com",),
    )
    now = dt.datetime.now(dt.UTC)
    for i, owner in enumerate([survivor, survivor, merged, merged, merged]):
        session.add(
            Interaction(
                channel="voice" if i % 2 else "email",
                direction="inbound",
                status="closed",
                customer_id=owner.id,
                external_id=f"merge-{i}",
                created_at=now - dt.timedelta(minutes=i),
            )
        )
    session.commit()
    before_ids = set(session.scalars(select(Interaction.id)))

    r = client.post(
        f"{API}/customers/{survivor.id}/merge", json={"merged_id": merged.id}, headers=headers
    )
    assert r.status_code == 200, r.json
    points = {(p["kind"], p["value"]) for p in r.json["contact_points"]}
    assert points == {
        ("phone", "+48601234567"),
        ("phone", "+442079460018"),
        ("email", "jan@example.com"),
        ("email", "janek@example.com"),
    }
    history = client.get(f"{API}/customers/{survivor.id}/history?limit=50", headers=headers)
    assert history.status_code == 200
    assert {i["id"] for i in history.json["items"]} == before_ids
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Interaction)) == 5
    assert (
        session.scalar(
            select(func.count())
            .select_from(ContactPoint)
            .where(ContactPoint.customer_id == survivor.id)
        )
        == 4
    )
    tomb = client.get(f"{API}/customers/{merged.id}", headers=headers).json
    assert tomb["merged_into_id"] == survivor.id
    # A second merge of the same card is a conflict, not a silent no-op.
    again = client.post(
        f"{API}/customers/{survivor.id}/merge", json={"merged_id": merged.id}, headers=headers
    )
    assert again.status_code == 409


def test_agents_may_not_merge(client: FlaskClient, session: Session) -> None:
    headers = bearer(session, make_user(session, role="agent"))
    a, b = make_customer(session), make_customer(session)
    session.commit()
    r = client.post(f"{API}/customers/{a.id}/merge", json={"merged_id": b.id}, headers=headers)
    assert r.status_code == 403
