from __future__ import annotations

from tests.routing_helpers import available, call, make_agent, make_queue, pending_offer, state_of


def test_call_offered_to_available_agent(app, session):
    q = make_queue(session)
    a = make_agent(session, (q,))
    session.commit()
    available(session, a)
    assert state_of(session, a) == ("available", None)
    iid = call(app)
    offer = pending_offer(session, iid)
    assert offer is not None and offer.agent_id == a.id
    assert state_of(session, a)[0] == "offered"
