"""The /console Socket.IO namespace through Flask-SocketIO's test client (real app, real
database, real routing): authentication, snapshot, offers with the card, bad input."""

from __future__ import annotations

from typing import Any

import pytest

from hub import realtime
from hub.realtime import socketio
from tests.factories import PASSWORD, make_customer
from tests.routing_helpers import Db, call, make_agent, make_queue, pending_offer, state_of

NS = "/console"


def login(app: Any, user: Any) -> Any:
    client = app.test_client()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code in (302, 303), response.status_code
    return client


def connect(app: Any, client: Any) -> Any:
    sc = socketio.test_client(app, namespace=NS, flask_test_client=client)
    assert sc.is_connected(NS)
    return sc


def received(sc: Any, name: str | None = None) -> list[Any]:
    # Emits leave from the fan-out thread after the commit: wait until it has sent
    # everything committed so far (and the coalesced queue figures) before looking.
    assert realtime.wait_idle(30)
    msgs = sc.get_received(NS)
    return [m for m in msgs if name is None or m["name"] == name]


def agent_state(db: Any, agent: Any) -> str:
    with db() as session:
        return state_of(session, agent)[0]


def offer_for(db: Any, interaction_id: int) -> Any:
    with db() as session:
        return pending_offer(session, interaction_id)


def first(msgs: list[Any], name: str) -> dict[str, Any]:
    found = [m["args"][0] for m in msgs if m["name"] == name]
    assert found, f"no {name!r} among {[m['name'] for m in msgs]}"
    return found[0]


@pytest.fixture
def db(app):
    return Db(app)


@pytest.fixture
def setup(app, db):
    # No `session` fixture here: it would keep an app context pushed, which the socket
    # handlers under test would then share (see tests.routing_helpers.Db).
    with db() as session:
        queue = make_queue(session, "Voice PL", channels=["voice", "email"])
        agent = make_agent(session, (queue,), name="Agata Agent")
        other = make_agent(session, (queue,), name="Olek Other")
        customer = make_customer(
            session, first_name="Zofia", last_name="Nowak", phones=("+48 601 234 567",)
        )
    return {"queue": queue, "agent": agent, "other": other, "customer": customer}


def test_unauthenticated_connect_is_refused(app):
    sc = socketio.test_client(app, namespace=NS, flask_test_client=app.test_client())
    assert not sc.is_connected(NS)


def test_snapshot_on_connect(app, setup):
    sc = connect(app, login(app, setup["agent"]))
    snap = first(received(sc), "snapshot")
    assert snap["agent"]["agent_id"] == setup["agent"].id
    assert snap["agent"]["state"] == "offline"
    assert f"agent:{setup['agent'].id}" in snap["rooms"]
    assert f"queue:{setup['queue'].id}" in snap["rooms"]
    assert "supervisors" not in snap["rooms"]
    assert snap["queues"][0]["name"] == "Voice PL"
    assert set(snap["seq"]) == set(snap["rooms"])
    assert snap["offers"] == [] and snap["interactions"] == []
    sc.disconnect(NS)


def test_offer_with_customer_name_reaches_the_right_agent_only(app, db, setup):
    agent_sc = connect(app, login(app, setup["agent"]))
    other_sc = connect(app, login(app, setup["other"]))
    ack = agent_sc.emit("set_state", {"state": "available"}, namespace=NS, callback=True)
    assert ack == {"ok": True, "state": "available", "pause_code": None}
    received(agent_sc)
    received(other_sc)
    # The caller's number in another format than stored.
    iid = call(app, "0048601234567")
    msgs = received(agent_sc)
    offer = first(msgs, "offer")
    assert offer["interaction_id"] == iid
    assert offer["card"]["name"] == "Zofia Nowak"
    assert offer["room"] == f"agent:{setup['agent'].id}" and isinstance(offer["seq"], int)
    assert not [m for m in received(other_sc) if m["name"] in ("offer", "screen_pop")]
    ack = agent_sc.emit("accept", {"interaction_id": iid}, namespace=NS, callback=True)
    assert ack["ok"] is True and ack["status"] == "active"
    pop = first(received(agent_sc), "screen_pop")
    assert pop["card"]["name"] == "Zofia Nowak"
    assert agent_state(db, setup["agent"]) == "busy"


def test_dropping_the_socket_keeps_state_and_work_and_reconnect_restores(app, db, setup):
    client = login(app, setup["agent"])
    sc = connect(app, client)
    sc.emit("set_state", {"state": "available"}, namespace=NS, callback=True)
    iid = call(app)
    assert first(received(sc), "offer")["interaction_id"] == iid
    sc.disconnect(NS)
    assert agent_state(db, setup["agent"]) == "offered"
    assert offer_for(db, iid).agent_id == setup["agent"].id
    sc = connect(app, client)
    snap = first(received(sc), "snapshot")
    assert snap["agent"]["state"] == "offered"
    assert [o["interaction_id"] for o in snap["offers"]] == [iid]
    assert snap["offers"][0]["card"]["name"] == "Zofia Nowak"
    sc.emit("accept", {"interaction_id": iid}, namespace=NS, callback=True)
    sc.disconnect(NS)
    assert agent_state(db, setup["agent"]) == "busy"
    sc = connect(app, client)
    snap = first(received(sc), "snapshot")
    assert snap["agent"]["state"] == "busy"
    assert [i["interaction_id"] for i in snap["interactions"]] == [iid]


@pytest.mark.parametrize(
    ("event", "payload", "code"),
    [
        ("no_such_event", {}, "unknown_event"),
        ("accept", {"interaction_id": "12"}, "validation_failed"),
        ("accept", None, "validation_failed"),
        ("accept", ["x"], "validation_failed"),
        ("set_state", {"state": "busy"}, "validation_failed"),
        ("set_state", {"state": "available", "extra": 1}, "validation_failed"),
        ("wrap_up", {"interaction_id": 1, "disposition": ""}, "validation_failed"),
        (
            "transfer",
            {"interaction_id": 1, "to_agent_id": 2, "to_queue_id": 3},
            "validation_failed",
        ),
        ("accept", {"interaction_id": 999999}, "not_found"),
        ("set_state", {"state": "break"}, "validation_failed"),
    ],
)
def test_bad_messages_get_an_error_event(app, setup, event, payload, code):
    sc = connect(app, login(app, setup["agent"]))
    received(sc)
    args = () if payload is None else (payload,)
    sc.emit(event, *args, namespace=NS)
    err = first(received(sc), "error")
    assert err["error"] == code, err
    assert err["ok"] is False
    assert sc.is_connected(NS)
    # The connection still works afterwards.
    assert sc.emit("resync", {}, namespace=NS, callback=True)["ok"] is True


def test_an_agent_cannot_accept_another_agents_offer(app, db, setup):
    agent_sc = connect(app, login(app, setup["agent"]))
    other_sc = connect(app, login(app, setup["other"]))
    agent_sc.emit("set_state", {"state": "available"}, namespace=NS, callback=True)
    iid = call(app)
    assert offer_for(db, iid).agent_id == setup["agent"].id
    received(other_sc)
    ack = other_sc.emit("accept", {"interaction_id": iid}, namespace=NS, callback=True)
    assert ack["ok"] is False and ack["error"] == "forbidden"
    assert first(received(other_sc), "error")["error"] == "forbidden"
    assert offer_for(db, iid).agent_id == setup["agent"].id


def test_offer_timeout_moves_on_and_supervisors_see_it_live(app, db, setup):
    with db() as session:
        boss = make_agent(session, role="supervisor", name="Basia Boss")
    agent_sc = connect(app, login(app, setup["agent"]))
    other_sc = connect(app, login(app, setup["other"]))
    boss_sc = connect(app, login(app, boss))
    assert "supervisors" in first(received(boss_sc), "snapshot")["rooms"]
    agent_sc.emit("set_state", {"state": "available"}, namespace=NS, callback=True)
    seen = received(boss_sc)
    state = first(seen, "agent_state")
    assert (state["agent_id"], state["state"], state["room"]) == (
        setup["agent"].id,
        "available",
        "supervisors",
    )
    iid = call(app)
    assert first(received(agent_sc), "offer")["interaction_id"] == iid
    stats = first(received(boss_sc), "queue_stats")
    assert stats["queues"][0]["waiting"] == 1
    other_sc.emit("set_state", {"state": "available"}, namespace=NS, callback=True)
    received(other_sc)
    # Nobody answers: the server's tick (here with an explicit clock) moves it on.
    from hub.tasks import run_tick

    expires = offer_for(db, iid).expires_at
    with app.app_context():
        assert run_tick(now=expires)["expired_offers"] == 1
    assert first(received(other_sc), "offer")["interaction_id"] == iid
    mine = received(agent_sc)
    missed = [m["args"][0] for m in mine if m["name"] == "agent_state"]
    assert missed[-1]["state"] == "break" and missed[-1]["pause_code"] == "missed"
    assert not [m for m in mine if m["name"] == "offer"]
    updates = [m["args"][0] for m in received(boss_sc) if m["name"] == "interaction_updated"]
    assert {u["event"] for u in updates} >= {"interaction.offer_expired", "interaction.offered"}


def test_transfer_over_the_socket(app, db, setup):
    agent_sc = connect(app, login(app, setup["agent"]))
    other_sc = connect(app, login(app, setup["other"]))
    agent_sc.emit("set_state", {"state": "available"}, namespace=NS, callback=True)
    iid = call(app)
    assert agent_sc.emit("accept", {"interaction_id": iid}, namespace=NS, callback=True)["ok"]
    other_sc.emit("set_state", {"state": "available"}, namespace=NS, callback=True)
    received(other_sc)
    ack = agent_sc.emit(
        "transfer",
        {"interaction_id": iid, "to_agent_id": setup["other"].id, "note": "VAT question"},
        namespace=NS,
        callback=True,
    )
    assert ack["ok"] is True and ack["status"] == "queued"  # offered after the commit
    offer = first(received(other_sc), "offer")
    assert offer["interaction_id"] == iid and offer["card"]["name"] == "Zofia Nowak"
    assert agent_state(db, setup["agent"]) == "available"


def test_a_colleagues_state_change_reaches_supervisors_not_every_agent(app, setup, db):
    # Agents' consoles show waiting and longest wait only; a state change moves neither,
    # so it must not cost every agent of the queue a frame (N² at shift start).
    with db() as session:
        boss = make_agent(session, role="supervisor", name="Bogna Boss")
    agent_sc = connect(app, login(app, setup["agent"]))
    boss_sc = connect(app, login(app, boss))
    other_sc = connect(app, login(app, setup["other"]))
    received(agent_sc), received(boss_sc), received(other_sc)
    other_sc.emit("set_state", {"state": "available"}, namespace=NS, callback=True)
    assert received(agent_sc, "queue_stats") == []
    tiles = first(received(boss_sc), "queue_stats")["queues"][0]
    assert tiles["queue_id"] == setup["queue"].id
    # Work arriving still updates every agent of the queue.
    call(app)
    assert first(received(agent_sc), "queue_stats")["queues"][0]["waiting"] >= 0


def test_a_channel_changing_what_an_interaction_shows_refreshes_its_agent(app, db, setup):
    """A fax's pages arriving after the offer (interaction.content_changed) reach the agent
    on it and the supervisors, after the commit, and no other agent."""
    from crm_core.events import DomainEvent, publish_on_commit
    from hub.events import INTERACTION_CONTENT_CHANGED

    agent_sc = connect(app, login(app, setup["agent"]))
    other_sc = connect(app, login(app, setup["other"]))
    agent_sc.emit("set_state", {"state": "available"}, namespace=NS, callback=True)
    iid = call(app)
    assert agent_sc.emit("accept", {"interaction_id": iid}, namespace=NS, callback=True)["ok"]
    received(agent_sc)
    received(other_sc)
    with db() as session:
        publish_on_commit(
            session, DomainEvent(INTERACTION_CONTENT_CHANGED, {"interaction_id": iid})
        )
        session.rollback()  # rolled back: nothing is sent
    leftover = [m["args"][0] for m in received(agent_sc, "interaction_updated")]
    assert [m.get("event") for m in leftover] == [], leftover
    with db() as session:
        publish_on_commit(
            session, DomainEvent(INTERACTION_CONTENT_CHANGED, {"interaction_id": iid})
        )
    update = first(received(agent_sc), "interaction_updated")
    assert update["event"] == INTERACTION_CONTENT_CHANGED and update["interaction_id"] == iid
    assert received(other_sc, "interaction_updated") == []


def test_a_supervisor_messages_an_agent_from_the_wallboard(app, db, setup):
    """The message reaches that agent's console at once, nobody else's; agents may not send
    one; empty or overlong text is refused; the message is audited."""
    from sqlalchemy import select

    from crm_core.models import AuditEntry
    from tests.factories import make_user

    with db() as session:
        boss = make_user(session, role="supervisor", name="Stefan <b>Supervisor</b>")
    boss_client = login(app, boss)
    agent_client = login(app, setup["agent"])
    agent_sc = connect(app, agent_client)
    other_sc = connect(app, login(app, setup["other"]))
    received(agent_sc)
    received(other_sc)
    url = f"/console/api/agents/{setup['agent'].id}/message"
    sent = boss_client.post(url, json={"text": "  Queue is long:\n please wrap up  "})
    assert sent.status_code == 201, sent.get_data(as_text=True)
    message = first(received(agent_sc), "agent_message")
    assert message["text"] == "Queue is long: please wrap up"
    assert message["from"] == "Stefan <b>Supervisor</b>"  # the console shows it as text
    assert received(other_sc, "agent_message") == []

    assert agent_client.post(url, json={"text": "hi"}).status_code == 403
    assert boss_client.post(url, json={"text": "   "}).status_code == 422
    assert boss_client.post(url, json={"text": "x" * 501}).status_code == 422
    assert (
        boss_client.post("/console/api/agents/999999/message", json={"text": "hi"}).status_code
        == 404
    )
    assert received(agent_sc, "agent_message") == []
    with db() as session:
        audited = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "agent.messaged")
        ).all()
        assert [(a.user_id, a.entity_id) for a in audited] == [(boss.id, setup["agent"].id)]
