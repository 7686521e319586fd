"""The real-time fan-out thread (``hub.realtime.Dispatcher``) and the routing pass after a
commit, through the real app, database, routing and Flask-SocketIO's test client:

- committed events leave from the fan-out thread, after the commit and never before;
- queue figures are coalesced: many events, a bounded number of ``queue_stats`` emits, the
  last one with the final numbers;
- a full queue makes the committing thread wait: no offer is ever dropped;
- the in-process routing pass starts once the committing session gave its connection back
  (one connection per thread at a time, so concurrent requests cannot starve the pool).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from hub import realtime
from hub.agents import do_set_agent_state
from hub.db import db as database
from hub.realtime import dispatcher, socketio
from tests.factories import PASSWORD
from tests.routing_helpers import Db, call, make_agent, make_queue

NS = "/console"


def connect(app: Any, user: Any) -> Any:
    client = app.test_client()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code in (302, 303), response.status_code
    sc = socketio.test_client(app, namespace=NS, flask_test_client=client)
    assert sc.is_connected(NS)
    return sc


def drain(sc: Any, name: str) -> list[dict[str, Any]]:
    assert realtime.wait_idle(30)
    return [m["args"][0] for m in sc.get_received(NS) if m["name"] == name]


@pytest.fixture
def db(app: Any) -> Db:
    return Db(app)


@pytest.fixture
def tuned() -> Iterator[Any]:
    """Restore the process-wide dispatcher's settings after a test changes them."""
    before = (dispatcher.maxsize, dispatcher.stats_seconds)
    yield dispatcher
    assert realtime.wait_idle(30)
    dispatcher.configure(maxsize=before[0], stats_seconds=before[1])


@pytest.fixture
def boss_and_queue(app: Any, db: Db) -> dict[str, Any]:
    with db() as session:
        queue = make_queue(session, "Voice PL", channels=["voice"])
        boss = make_agent(session, role="supervisor", name="Basia Boss")
    return {"queue": queue, "boss": boss}


def test_events_go_out_from_the_fan_out_thread_after_commit_never_before(app, db, boss_and_queue):
    with db() as session:
        agent = make_agent(session, (boss_and_queue["queue"],), name="Adam Agent")
    boss_sc = connect(app, boss_and_queue["boss"])
    drain(boss_sc, "snapshot")
    inline_before = dispatcher.inline

    with app.app_context():
        session = database.session
        do_set_agent_state(session, agent, "break", pause_code="lunch", actor=agent)
        session.flush()
        # Written, not committed: nothing may reach anyone.
        assert drain(boss_sc, "agent_state") == []
        session.rollback()
    assert drain(boss_sc, "agent_state") == []

    with app.app_context():
        session = database.session
        do_set_agent_state(session, agent, "available", actor=agent)
        assert drain(boss_sc, "agent_state") == []
        session.commit()
    states = drain(boss_sc, "agent_state")
    assert [(s["agent_id"], s["state"]) for s in states] == [(agent.id, "available")]
    assert dispatcher.inline == inline_before  # nothing had to be sent by the committer
    assert any(t.name == "switchboard-realtime" for t in threading.enumerate())


def test_many_events_give_few_queue_stats_with_the_final_figures(app, db, boss_and_queue, tuned):
    tuned.configure(maxsize=tuned.maxsize, stats_seconds=3600.0)
    queue = boss_and_queue["queue"]
    boss_sc = connect(app, boss_and_queue["boss"])
    drain(boss_sc, "snapshot")
    drain(boss_sc, "queue_stats")
    # No agent is available: every call waits, each one an interaction.enqueued event.
    calls = [call(app, f"+48 601 000 {n:03d}") for n in range(12)]
    assert len(set(calls)) == 12
    sent = [
        q for s in drain(boss_sc, "queue_stats") for q in s["queues"] if q["queue_id"] == queue.id
    ]
    # At most one at once (nothing sent in the last interval) and one flush of the rest.
    assert 1 <= len(sent) <= 2
    assert sent[-1]["waiting"] == 12
    assert sent[-1]["offered"] == 12


def test_a_full_queue_makes_committers_wait_and_loses_no_offer(app, db, boss_and_queue, tuned):
    tuned.configure(maxsize=1, stats_seconds=tuned.stats_seconds)
    queue = boss_and_queue["queue"]
    with db() as session:
        agents = [make_agent(session, (queue,), name=f"Agent {n}") for n in range(6)]
    boss_sc = connect(app, boss_and_queue["boss"])
    drain(boss_sc, "snapshot")
    with db() as session:
        for agent in agents:
            do_set_agent_state(session, agent, "available", actor=agent)
    drain(boss_sc, "agent_state")
    errors: list[BaseException] = []

    def caller(n: int, out: list[int]) -> None:
        try:
            out.append(call(app, f"+48 602 000 {n:03d}"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    made: list[int] = []
    threads = [threading.Thread(target=caller, args=(n, made)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(made) == 6
    updates = drain(boss_sc, "interaction_updated")
    offered = {u["interaction_id"] for u in updates if u["event"] == "interaction.offered"}
    assert offered == set(made)


def test_the_routing_pass_runs_after_the_committer_gave_its_connection_back(
    app, db, boss_and_queue
):
    queue = boss_and_queue["queue"]
    with db() as session:
        agent = make_agent(session, (queue,), name="Adam Agent")
        do_set_agent_state(session, agent, "available", actor=agent)
    assert realtime.wait_idle(30)
    engine = database.engine_for(app)
    me = threading.get_ident()
    held = {"now": 0, "most": 0}

    def checkout(*_: Any) -> None:
        if threading.get_ident() == me:
            held["now"] += 1
            held["most"] = max(held["most"], held["now"])

    def checkin(*_: Any) -> None:
        if threading.get_ident() == me:
            held["now"] -= 1

    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)
    try:
        iid = call(app)  # intake commits, then the routing pass offers the call
    finally:
        event.remove(engine, "checkout", checkout)
        event.remove(engine, "checkin", checkin)
    with db() as session:
        from tests.routing_helpers import pending_offer

        offer = pending_offer(session, iid)
    assert offer is not None and offer.agent_id == agent.id
    assert held["most"] == 1


def test_background_routing_offers_every_call_once(app, db, boss_and_queue):
    from hub import routing
    from tests.routing_helpers import pending_offer

    queue = boss_and_queue["queue"]
    with db() as session:
        agents = [make_agent(session, (queue,), name=f"Agent {n}") for n in range(5)]
        for agent in agents:
            do_set_agent_state(session, agent, "available", actor=agent)
    assert routing.wait_idle(30)
    routing.route_in_background(app)  # as `switchboard serve` does
    passes_before = routing.router.passes
    made: list[int] = []
    threads = [
        threading.Thread(target=lambda n=n: made.append(call(app, f"+48 603 000 {n:03d}")))
        for n in range(5)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(made) == 5
    assert routing.wait_idle(60)
    assert routing.router.passes > passes_before
    with db() as session:
        offers = [pending_offer(session, iid) for iid in made]
    assert all(o is not None for o in offers)
    assert sorted(o.agent_id for o in offers if o is not None) == sorted(a.id for a in agents)
