"""Tickets through the API: create, filter, change, notes, the transition table, record rules."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from crm_core.models import Team, Ticket, User
from crm_core.services.tickets import do_create_ticket
from crm_core.services.users import get_or_create_team
from tests.factories import bearer, make_customer, make_user

API = "/api/v1"


@dataclass
class World:
    sales: Team
    support: Team
    agent: User
    agent_h: dict[str, str]
    other_h: dict[str, str]
    supervisor_h: dict[str, str]
    sales_ticket: Ticket
    support_ticket: Ticket
    mine: Ticket


@pytest.fixture
def world(session: Session) -> World:
    sales = get_or_create_team(session, "Sales")
    support = get_or_create_team(session, "Support")
    agent = make_user(session, role="agent", teams=("Sales",))
    other = make_user(session, role="agent", teams=("Support",))
    supervisor = make_user(session, role="supervisor")
    customer = make_customer(session)
    sales_ticket = do_create_ticket(
        session,
        subject="Invoice missing",
        team_id=sales.id,
        customer_id=customer.id,
        priority="high",
    )
    support_ticket = do_create_ticket(
        session,
        subject="Router broken",
        team_id=support.id,
        customer_id=customer.id,
        ticket_type="incident",
    )
    # Assigned to the agent personally, in a team they are not in.
    mine = do_create_ticket(
        session, subject="Call back Mrs Kowalska", team_id=support.id, assignee_id=agent.id
    )
    w = World(
        sales,
        support,
        agent,
        bearer(session, agent),
        bearer(session, other),
        bearer(session, supervisor),
        sales_ticket,
        support_ticket,
        mine,
    )
    session.commit()
    return w


def _ids(client: FlaskClient, url: str, headers: dict[str, str]) -> set[int]:
    r = client.get(url, headers=headers)
    assert r.status_code == 200, r.json
    return {t["id"] for t in r.json["items"]}


def test_agent_sees_own_and_team_tickets_only(client: FlaskClient, world: World) -> None:
    assert _ids(client, f"{API}/tickets", world.agent_h) == {world.sales_ticket.id, world.mine.id}
    # Asking for the other team explicitly does not help.
    assert _ids(client, f"{API}/tickets?team_id={world.support.id}", world.agent_h) == {
        world.mine.id
    }
    r = client.get(f"{API}/tickets/{world.support_ticket.id}", headers=world.agent_h)
    assert r.status_code == 404
    assert r.json["error"] == "not_found"
    assert (
        client.get(f"{API}/tickets/{world.sales_ticket.id}", headers=world.agent_h).status_code
        == 200
    )


def test_agent_cannot_write_invisible_ticket(client: FlaskClient, world: World) -> None:
    tid = world.support_ticket.id
    assert (
        client.patch(
            f"{API}/tickets/{tid}", json={"priority": "urgent"}, headers=world.agent_h
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"{API}/tickets/{tid}/notes", json={"body": "sneaky"}, headers=world.agent_h
        ).status_code
        == 404
    )
    r = client.get(f"{API}/tickets/{tid}", headers=world.supervisor_h)
    assert r.json["priority"] == "normal" and r.json["interactions"] == []


def test_supervisor_sees_everything(client: FlaskClient, world: World) -> None:
    assert _ids(client, f"{API}/tickets", world.supervisor_h) == {
        world.sales_ticket.id,
        world.support_ticket.id,
        world.mine.id,
    }
    assert (
        client.get(
            f"{API}/tickets/{world.support_ticket.id}", headers=world.supervisor_h
        ).status_code
        == 200
    )


def test_filters_and_pagination(client: FlaskClient, world: World) -> None:
    h = world.supervisor_h
    assert _ids(client, f"{API}/tickets?priority=high", h) == {world.sales_ticket.id}
    assert _ids(client, f"{API}/tickets?ticket_type=incident,request", h) == {
        world.support_ticket.id
    }
    assert _ids(client, f"{API}/tickets?assignee_id={world.agent.id}", h) == {world.mine.id}
    assert _ids(client, f"{API}/tickets?customer_id={world.sales_ticket.customer_id}", h) == {
        world.sales_ticket.id,
        world.support_ticket.id,
    }
    assert _ids(client, f"{API}/tickets?q=router", h) == {world.support_ticket.id}
    assert _ids(client, f"{API}/tickets?q={world.mine.number}", h) == {world.mine.id}
    assert _ids(client, f"{API}/tickets?q=100%25", h) == set()
    assert _ids(client, f"{API}/tickets?status=new", h) == {
        world.sales_ticket.id,
        world.support_ticket.id,
        world.mine.id,
    }
    first = client.get(f"{API}/tickets?limit=2", headers=h).json
    rest = client.get(f"{API}/tickets?limit=2&offset=2", headers=h).json
    assert first["has_more"] and not rest["has_more"]
    assert len({t["id"] for t in first["items"] + rest["items"]}) == 3
    bad = client.get(f"{API}/tickets?status=lost", headers=h)
    assert bad.status_code == 422 and bad.json["detail"][0]["field"].startswith("status")


def test_create_change_and_note(client: FlaskClient, world: World, session: Session) -> None:
    customer = make_customer(session)
    session.commit()
    r = client.post(
        f"{API}/tickets",
        headers=world.agent_h,
        json={
            "subject": "  Parcel lost  ",
            "customer_id": customer.id,
            "team_id": world.sales.id,
            "priority": "urgent",
            "ticket_type": "complaint",
            "due_at": "2030-01-02T10:00:00+01:00",
        },
    )
    assert r.status_code == 201, r.json
    t = r.json
    assert t["subject"] == "Parcel lost" and t["status"] == "new"
    assert t["number"].startswith("SB-")
    assert t["due_at"].startswith("2030-01-02T09:00:00")
    tid = t["id"]

    r = client.patch(
        f"{API}/tickets/{tid}",
        headers=world.agent_h,
        json={"status": "open", "assignee_id": world.agent.id, "due_at": None},
    )
    assert r.status_code == 200, r.json
    assert r.json["status"] == "open" and r.json["assignee_id"] == world.agent.id
    assert r.json["due_at"] is None

    r = client.post(
        f"{API}/tickets/{tid}/notes",
        headers=world.agent_h,
        json={"body": "Courier says it was delivered."},
    )
    assert r.status_code == 201, r.json
    assert r.json["channel"] == "note" and r.json["customer_id"] == customer.id
    detail = client.get(f"{API}/tickets/{tid}", headers=world.agent_h).json
    assert [i["id"] for i in detail["interactions"]] == [r.json["id"]]
    # The note is in the customer's one history too.
    history = client.get(f"{API}/customers/{customer.id}/history", headers=world.agent_h).json
    assert r.json["id"] in {i["id"] for i in history["items"]}


def test_illegal_transition_is_409(client: FlaskClient, world: World) -> None:
    tid = world.sales_ticket.id
    h = world.agent_h
    assert (
        client.patch(f"{API}/tickets/{tid}", json={"status": "closed"}, headers=h).status_code
        == 200
    )
    r = client.patch(
        f"{API}/tickets/{tid}", json={"status": "pending", "priority": "low"}, headers=h
    )
    assert r.status_code == 409
    assert r.json["error"] == "invalid_transition"
    assert r.json["message"] == "a closed ticket cannot become pending"
    assert r.json["detail"]["allowed"] == ["open"]
    after = client.get(f"{API}/tickets/{tid}", headers=h).json
    assert after["status"] == "closed" and after["priority"] == "high"  # nothing half-done
    assert after["allowed_transitions"] == ["open"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subject": ""}, "subject"),
        ({"subject": "x", "customer_id": 999999}, "customer_id"),
        ({"subject": "x", "team_id": 999999}, "team_id"),
        ({"subject": "x", "assignee_id": 999999}, "assignee_id"),
        ({"subject": "x", "priority": "whenever"}, "priority"),
        ({"subject": "x", "due_at": "2030-01-02T10:00:00"}, "due_at"),
        ({"subject": "x", "due_at": "9999-12-31T23:00:00-05:00"}, "due_at"),
        ({"subject": "x", "colour": "red"}, "colour"),
    ],
)
def test_bad_ticket_input_names_the_field(
    client: FlaskClient, world: World, body: dict[str, object], field: str
) -> None:
    r = client.post(f"{API}/tickets", json=body, headers=world.supervisor_h)
    assert r.status_code == 422, r.json
    fields = {d["field"] for d in r.json.get("detail") or []} | {r.json.get("field")}
    assert field in fields, r.json


def test_patch_refuses_null_for_required_fields(client: FlaskClient, world: World) -> None:
    r = client.patch(
        f"{API}/tickets/{world.sales_ticket.id}", json={"status": None}, headers=world.supervisor_h
    )
    assert r.status_code == 422
    assert r.json["detail"][0]["field"] == "status"
