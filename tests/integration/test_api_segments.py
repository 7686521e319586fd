"""Segments through the API: filters over custom fields and tags, CRUD, members, preview."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from crm_core.services.custom_fields import define_field
from tests.factories import bearer, make_customer, make_user

API = "/api/v1"


@pytest.fixture
def people(session: Session) -> dict[str, int]:
    define_field(session, key="loyalty_points", label="Loyalty points", field_type="number")
    define_field(session, key="contract_start", label="Contract start", field_type="date")
    define_field(session, key="plan", label="Plan", field_type="choice", choices=["basic", "gold"])
    define_field(session, key="newsletter", label="Newsletter", field_type="boolean")
    define_field(session, key="account_ref", label="Account", field_type="text")
    rows = {
        "ala": make_customer(
            session,
            first_name="Ala",
            tags=["vip-line"],
            custom_fields={
                "loyalty_points": 150,
                "contract_start": "2023-05-01",
                "plan": "gold",
                "newsletter": True,
                "account_ref": "ACME-001",
            },
        ),
        "bob": make_customer(
            session,
            first_name="Bob",
            tags=["newsletter"],
            custom_fields={
                "loyalty_points": 99.5,
                "contract_start": "2024-02-10",
                "plan": "basic",
                "newsletter": False,
                "account_ref": "acme-002",
            },
        ),
        "cyd": make_customer(
            session,
            first_name="Cyd",
            tags=["vip-line", "newsletter"],
            custom_fields={"loyalty_points": 100, "plan": "gold"},
        ),
        "dan": make_customer(session, first_name="Dan"),
    }
    session.commit()
    return {k: v.id for k, v in rows.items()}


@pytest.fixture
def headers(session: Session) -> dict[str, str]:
    h = bearer(session, make_user(session, role="supervisor"))
    session.commit()
    return h


def _preview(client: FlaskClient, headers: dict[str, str], flt: dict[str, Any]) -> set[int]:
    r = client.post(f"{API}/segments/preview", json={"filter": flt, "limit": 200}, headers=headers)
    assert r.status_code == 200, r.json
    assert r.json["count"] == len(r.json["items"])
    return {c["id"] for c in r.json["items"]}


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"field": "custom.loyalty_points", "op": "gte", "value": 100}, {"ala", "cyd"}),
        ({"field": "custom.loyalty_points", "op": "lt", "value": 100}, {"bob"}),
        ({"field": "custom.contract_start", "op": "gte", "value": "2024-01-01"}, {"bob"}),
        ({"field": "custom.contract_start", "op": "lt", "value": "2024-01-01"}, {"ala"}),
        ({"field": "custom.contract_start", "op": "not_set"}, {"cyd", "dan"}),
        ({"field": "custom.plan", "op": "eq", "value": "gold"}, {"ala", "cyd"}),
        ({"field": "custom.plan", "op": "in", "value": ["basic"]}, {"bob"}),
        ({"field": "custom.newsletter", "op": "eq", "value": True}, {"ala"}),
        ({"field": "custom.newsletter", "op": "eq", "value": False}, {"bob"}),
        ({"field": "custom.account_ref", "op": "contains", "value": "acme"}, {"ala", "bob"}),
        ({"field": "tag", "op": "has", "value": "vip-line"}, {"ala", "cyd"}),
        ({"field": "tag", "op": "has_not", "value": "newsletter"}, {"ala", "dan"}),
        (
            {
                "all": [
                    {"field": "tag", "op": "has", "value": "newsletter"},
                    {"field": "custom.loyalty_points", "op": "gte", "value": 100},
                ]
            },
            {"cyd"},
        ),
        (
            {
                "any": [
                    {"field": "custom.plan", "op": "eq", "value": "basic"},
                    {"not": {"field": "custom.loyalty_points", "op": "is_set"}},
                ]
            },
            {"bob", "dan"},
        ),
    ],
)
def test_filters_on_custom_fields_and_tags(
    client: FlaskClient,
    headers: dict[str, str],
    people: dict[str, int],
    flt: dict[str, Any],
    expected: set[str],
) -> None:
    assert _preview(client, headers, flt) == {people[n] for n in expected}


@pytest.mark.parametrize(
    ("flt", "path"),
    [
        (
            {
                "all": [
                    {"field": "tag", "op": "has", "value": "x"},
                    {"field": "custom.loyalty_points", "op": "gte", "value": "many"},
                ]
            },
            "filter.all[1].value",
        ),
        (
            {"any": [{"field": "custom.no_such_field", "op": "eq", "value": 1}]},
            "filter.any[0].field",
        ),
        ({"field": "city", "op": "resembles", "value": "Kraków"}, "filter.op"),
        (
            {"all": [{"not": {"field": "custom.contract_start", "op": "gt", "value": "soon"}}]},
            "filter.all[0].not.value",
        ),
        ({"field": "created_at", "op": "gt", "value": "9999-12-31T23:00:00-05:00"}, "filter.value"),
        ({"all": "everything"}, "filter.all"),
    ],
)
def test_bad_filter_names_the_node(
    client: FlaskClient,
    headers: dict[str, str],
    people: dict[str, int],
    flt: dict[str, Any],
    path: str,
) -> None:
    for url, body in (
        (f"{API}/segments/preview", {"filter": flt}),
        (f"{API}/segments", {"name": "Bad", "filter": flt}),
    ):
        r = client.post(url, json=body, headers=headers)
        assert r.status_code == 422, r.json
        assert r.json["field"] == path, r.json


def test_segment_crud_and_members(
    client: FlaskClient, headers: dict[str, str], people: dict[str, int], session: Session
) -> None:
    flt = {"field": "custom.plan", "op": "eq", "value": "gold"}
    r = client.post(f"{API}/segments", json={"name": "Gold", "filter": flt}, headers=headers)
    assert r.status_code == 201, r.json
    sid = r.json["id"]
    assert (
        client.post(
            f"{API}/segments", json={"name": "Gold", "filter": flt}, headers=headers
        ).status_code
        == 409
    )

    page1 = client.get(f"{API}/segments/{sid}/customers?limit=1", headers=headers).json
    page2 = client.get(f"{API}/segments/{sid}/customers?limit=1&offset=1", headers=headers).json
    assert page1["has_more"] is True and page2["has_more"] is False
    assert {page1["items"][0]["id"], page2["items"][0]["id"]} == {people["ala"], people["cyd"]}

    r = client.patch(
        f"{API}/segments/{sid}",
        json={"filter": {"field": "tag", "op": "has", "value": "newsletter"}},
        headers=headers,
    )
    assert r.status_code == 200, r.json
    assert r.json["name"] == "Gold"
    members = client.get(f"{API}/segments/{sid}/customers", headers=headers).json["items"]
    assert {c["id"] for c in members} == {people["bob"], people["cyd"]}
    # Customers can be filtered by the segment too.
    listed = client.get(f"{API}/customers?segment_id={sid}", headers=headers).json["items"]
    assert {c["id"] for c in listed} == {people["bob"], people["cyd"]}

    assert client.get(f"{API}/segments", headers=headers).json["items"][0]["id"] == sid
    assert client.delete(f"{API}/segments/{sid}", headers=headers).status_code == 204
    assert client.get(f"{API}/segments/{sid}", headers=headers).status_code == 404


def test_agents_read_but_do_not_write_segments(
    client: FlaskClient, session: Session, people: dict[str, int]
) -> None:
    agent = bearer(session, make_user(session, role="agent"))
    session.commit()
    flt = {"field": "tag", "op": "has", "value": "vip-line"}
    assert (
        client.post(f"{API}/segments", json={"name": "V", "filter": flt}, headers=agent).status_code
        == 403
    )
    assert client.get(f"{API}/segments", headers=agent).status_code == 200
    assert _preview(client, agent, flt) == {people["ala"], people["cyd"]}
