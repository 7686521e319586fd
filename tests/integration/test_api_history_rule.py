"""A customer's history through the API obeys the same record rule as /interactions."""

from __future__ import annotations

from crm_core.models import Interaction
from crm_core.services.tickets import do_create_ticket
from crm_core.services.users import get_or_create_team
from tests.factories import bearer, make_customer, make_user


def test_history_hides_interactions_on_another_teams_ticket(client, session):
    get_or_create_team(session, "Sales")
    support = get_or_create_team(session, "Support")
    agent = make_user(session, role="agent", teams=("Sales",))
    supervisor = make_user(session, role="supervisor")
    customer = make_customer(session)
    hidden_ticket = do_create_ticket(
        session, subject="Support only", customer_id=customer.id, team_id=support.id
    )
    session.add_all(
        [
            Interaction(
                channel="email",
                customer_id=customer.id,
                subject="on support ticket",
                ticket_id=hidden_ticket.id,
            ),
            Interaction(channel="voice", customer_id=customer.id, subject="plain call"),
        ]
    )
    agent_h, supervisor_h = bearer(session, agent), bearer(session, supervisor)
    session.commit()

    def subjects(headers):
        r = client.get(f"/api/v1/customers/{customer.id}/history", headers=headers)
        assert r.status_code == 200, r.json
        return sorted(i["subject"] for i in r.json["items"])

    assert subjects(agent_h) == ["plain call"]
    assert subjects(supervisor_h) == ["on support ticket", "plain call"]
