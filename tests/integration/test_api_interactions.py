"""Interactions through the API: filters, pagination, and the agents' record rule."""

from __future__ import annotations

import datetime as dt

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from crm_core.models import Interaction
from crm_core.services.tickets import do_create_ticket
from crm_core.services.users import get_or_create_team
from tests.factories import bearer, make_customer, make_user

API = "/api/v1"
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def test_filters_pagination_and_record_rule(client: FlaskClient, session: Session) -> None:
    sales = get_or_create_team(session, "Sales")
    support = get_or_create_team(session, "Support")
    agent = make_user(session, role="agent", teams=("Sales",))
    supervisor = make_user(session, role="supervisor")
    customer = make_customer(session)
    sales_ticket = do_create_ticket(session, subject="Quote", team_id=sales.id)
    support_ticket = do_create_ticket(session, subject="Outage", team_id=support.id)

    def add(n: int, **kw: object) -> Interaction:
        row = Interaction(
            external_id=f"x-{n}",
            created_at=T0 + dt.timedelta(hours=n),
            customer_id=customer.id,
            **kw,
        )
        session.add(row)
        return row

    loose_call = add(0, channel="voice", direction="inbound", status="closed")
    sales_mail = add(
        1, channel="email", direction="inbound", status="queued", ticket_id=sales_ticket.id
    )
    support_mail = add(
        2, channel="email", direction="outbound", status="closed", ticket_id=support_ticket.id
    )
    handled = add(
        3,
        channel="voice",
        direction="outbound",
        status="closed",
        ticket_id=support_ticket.id,
        agent_id=agent.id,
    )
    agent_h, super_h = bearer(session, agent), bearer(session, supervisor)
    session.commit()

    def ids(query: str, headers: dict[str, str]) -> list[int]:
        r = client.get(f"{API}/interactions{query}", headers=headers)
        assert r.status_code == 200, r.json
        return [i["id"] for i in r.json["items"]]

    everything = [handled.id, support_mail.id, sales_mail.id, loose_call.id]  # newest first
    assert ids("", super_h) == everything
    # Agents: no interaction of a ticket they cannot see, unless they handled it themselves.
    assert ids("", agent_h) == [handled.id, sales_mail.id, loose_call.id]
    assert client.get(f"{API}/interactions/{support_mail.id}", headers=agent_h).status_code == 404
    assert (
        client.get(f"{API}/interactions/{support_mail.id}", headers=super_h).json["ticket_id"]
        == support_ticket.id
    )
    assert client.get(f"{API}/interactions/{sales_mail.id}", headers=agent_h).status_code == 200

    assert ids("?channel=voice", super_h) == [handled.id, loose_call.id]
    assert ids("?channel=voice,email&direction=outbound", super_h) == [handled.id, support_mail.id]
    assert ids("?status=queued", super_h) == [sales_mail.id]
    assert ids(f"?ticket_id={support_ticket.id}", super_h) == [handled.id, support_mail.id]
    assert ids(f"?agent_id={agent.id}", super_h) == [handled.id]
    assert ids(f"?customer_id={customer.id}&limit=1&offset=1", super_h) == [support_mail.id]
    assert ids("?since=2026-03-01T13:00:00Z&until=2026-03-01T15:00:00Z", super_h) == [
        support_mail.id,
        sales_mail.id,
    ]
    # A time zone offset is honoured (13:00+01:00 is 12:00 UTC).
    assert ids("?since=2026-03-01T13:00:00%2B01:00", super_h) == everything
    page = client.get(f"{API}/interactions?limit=3", headers=super_h).json
    assert page["has_more"] is True and len(page["items"]) == 3

    for bad in (
        "?since=yesterday",
        "?since=2026-03-01T13:00:00",
        "?channel=pigeon",
        "?limit=0",
        "?agent_id=0",
    ):
        r = client.get(f"{API}/interactions{bad}", headers=super_h)
        assert r.status_code == 422, (bad, r.json)
