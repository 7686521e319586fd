"""Routing: who gets an interaction, offers that time out or are declined, capacity,
priority and aging, rules, wrap-up, transfers and the wallboard figures."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from crm_core.errors import Conflict, InvalidTransition, PermissionDenied
from crm_core.models import Interaction
from crm_core.services.history import customer_history
from hub.agents import do_set_agent_state
from hub.models import AgentStatus, Offer, QueueEntry, RoutingEvent
from hub.routing import (
    agent_board,
    do_accept_offer,
    do_create_routing_rule,
    do_decline_offer,
    do_finish_wrap_up,
    do_pick_interaction,
    do_transfer,
    do_wrap_up,
    expire_offers,
    finish_due_wrap_ups,
    queue_stats,
    route_pending,
)
from tests.factories import make_customer
from tests.routing_helpers import (
    available,
    call,
    email,
    entry_of,
    make_agent,
    make_queue,
    pending_offer,
    state_of,
)

NOW = dt.datetime.now(dt.UTC)


def offered_to(session, iid):
    offer = pending_offer(session, iid)
    return offer.agent_id if offer is not None else None


def test_longest_idle_agent_with_skills_gets_it_ties_by_level(app, session):
    q = make_queue(session, skills={"polish": 2})
    unskilled = make_agent(session, (q,), {"polish": 1})
    low = make_agent(session, (q,), {"polish": 3})
    high = make_agent(session, (q,), {"polish": 9})
    late = make_agent(session, (q,), {"polish": 9})
    session.commit()
    available(session, unskilled, low, high, late)
    same = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
    for agent in (low, high):  # equally idle: the better skilled wins
        session.get(AgentStatus, agent.id).idle_since = same
    session.get(AgentStatus, late.id).idle_since = same + dt.timedelta(minutes=5)
    session.commit()
    first = call(app)
    assert offered_to(session, first) == high.id
    second = call(app)
    assert offered_to(session, second) == low.id
    third = call(app)
    assert offered_to(session, third) == late.id
    fourth = call(app)
    assert offered_to(session, fourth) is None  # the unskilled agent never gets one
    assert entry_of(session, fourth).state == "waiting"


def test_offer_timeout_goes_to_next_agent_and_missed_break(app, session):
    q = make_queue(session, offer_timeout_seconds=15)
    a, b = make_agent(session, (q,)), make_agent(session, (q,))
    session.commit()
    available(session, a, b)
    iid = call(app)
    first = offered_to(session, iid)
    second = b.id if first == a.id else a.id
    offer = pending_offer(session, iid)
    assert expire_offers(session, now=offer.expires_at - dt.timedelta(seconds=1)) == []
    expired = expire_offers(session, now=offer.expires_at)
    assert expired == [offer.id]
    session.commit()
    assert state_of(session, a if first == a.id else b) == ("break", "missed")
    route_pending(session)
    session.commit()
    assert offered_to(session, iid) == second
    kinds = session.scalars(
        select(RoutingEvent.kind)
        .where(RoutingEvent.interaction_id == iid)
        .order_by(RoutingEvent.id)
    ).all()
    assert kinds == ["enqueued", "offered", "missed", "offered"]


def test_decline_requeues_to_another_agent(app, session):
    q = make_queue(session)
    a, b = make_agent(session, (q,)), make_agent(session, (q,))
    session.commit()
    available(session, a, b)
    iid = call(app)
    first_id = offered_to(session, iid)
    first = a if first_id == a.id else b
    do_decline_offer(session, first, iid)
    session.commit()  # the router runs after the commit
    assert offered_to(session, iid) == (b.id if first is a else a.id)
    assert state_of(session, first) == ("available", None)


def test_declined_by_everyone_still_comes_back(app, session):
    q = make_queue(session)
    a = make_agent(session, (q,))
    session.commit()
    available(session, a)
    iid = call(app)
    do_decline_offer(session, a, iid)
    session.commit()
    assert offered_to(session, iid) == a.id  # the only agent: passed-over goes last, not never


def test_cannot_accept_another_agents_offer_or_other_queues(app, session):
    q = make_queue(session, "Sales")
    other_q = make_queue(session, "Billing", channels=["email"])
    a, b = make_agent(session, (q,)), make_agent(session, (q,))
    outsider = make_agent(session, (other_q,))
    session.commit()
    available(session, a)
    iid = call(app)
    assert offered_to(session, iid) == a.id
    with pytest.raises(PermissionDenied, match="offered to another agent"):
        do_accept_offer(session, b, iid)
    session.rollback()
    with pytest.raises(PermissionDenied, match="do not serve"):
        do_accept_offer(session, outsider, iid)
    session.rollback()
    with pytest.raises(PermissionDenied):
        do_decline_offer(session, b, iid)
    session.rollback()
    available(session, outsider)
    with pytest.raises(PermissionDenied, match="do not serve"):
        do_pick_interaction(session, outsider, iid)
    session.rollback()
    with pytest.raises(PermissionDenied):
        do_wrap_up(session, b, iid, "sold")
    session.rollback()
    assert offered_to(session, iid) == a.id


def test_capacity_per_channel_and_calls_are_exclusive(app, session):
    q = make_queue(session)
    a = make_agent(session, (q,))
    session.commit()
    session.get(AgentStatus, a.id) or None
    available(session, a)
    status = session.get(AgentStatus, a.id)
    status.capacity = {"email": 2}
    session.commit()
    mails = [email(app, f"c{i}@example.pl") for i in range(3)]
    assert offered_to(session, mails[0]) == a.id
    do_accept_offer(session, a, mails[0])
    session.commit()
    assert offered_to(session, mails[1]) == a.id
    do_accept_offer(session, a, mails[1])
    session.commit()
    assert offered_to(session, mails[2]) is None  # two e-mails is the limit
    assert state_of(session, a)[0] == "busy"
    phone = call(app)
    assert offered_to(session, phone) == a.id  # a call may still come while on e-mails
    do_accept_offer(session, a, phone)
    do_wrap_up(session, a, mails[0], "answered")
    session.commit()
    # On a call: nothing else, even with e-mail capacity free again.
    assert offered_to(session, mails[2]) is None


def test_priority_and_aging(app, session):
    q = make_queue(session)
    vip_q = make_queue(session, "VIP", priority=3)
    a = make_agent(session, (q, vip_q))
    session.commit()
    aging = app.extensions["switchboard.settings"].routing_aging_seconds
    base = dt.datetime.now(dt.UTC)
    do_create_routing_rule(session, name="vip line", queue=vip_q, to_address="+48221002099")
    session.commit()
    # Arrived 4 aging steps ago at priority 0: beats a priority-3 newcomer.
    old = email(app, "old@example.pl", received_at=base - dt.timedelta(seconds=4 * aging))
    new_vip = call(app, to_address="+48 22 100 20 99", received_at=base)
    # Arrived 2 steps ago: loses to the priority-3 newcomer.
    newer = email(app, "newer@example.pl", received_at=base - dt.timedelta(seconds=2 * aging))
    assert entry_of(session, new_vip).queue_id == vip_q.id
    assert entry_of(session, new_vip).priority == 3
    session.commit()
    order = session.scalars(select(QueueEntry.interaction_id).order_by(QueueEntry.rank_at)).all()
    assert order == [old, new_vip, newer]
    available(session, a)
    assert offered_to(session, old) == a.id


def test_rules_by_number_tag_class_and_vip_first(app, session):
    general = make_queue(session, "General")
    gold = make_queue(session, "Gold")
    hotline = make_queue(session, "Hotline", channels=["voice"])
    do_create_routing_rule(
        session,
        name="hotline",
        queue=hotline,
        position=1,
        channel="voice",
        to_address="+48 22 555 00 00",
    )
    do_create_routing_rule(session, name="gold tag", queue=gold, position=2, customer_tag="gold")
    do_create_routing_rule(session, name="class A", queue=gold, position=3, customer_class="A")
    make_customer(session, phones=("+48 601 000 001",), tags=("gold",))
    make_customer(session, phones=("+48 601 000 002",), customer_class="A", vip=True)
    make_customer(session, phones=("+48 601 000 003",))
    session.commit()
    hot = call(app, "+48 601 000 003", to_address="225550000")
    tagged = call(app, "+48 601 000 001")
    classy = call(app, "+48 601 000 002")
    plain = call(app, "+48 601 000 003")
    assert entry_of(session, hot).queue_id == hotline.id
    assert entry_of(session, tagged).queue_id == gold.id
    assert entry_of(session, classy).queue_id == gold.id
    assert entry_of(session, classy).priority > entry_of(session, tagged).priority  # VIP
    assert entry_of(session, plain).queue_id == general.id


def test_wrap_up_note_in_history_then_available(app, session):
    q = make_queue(session, wrap_up_seconds=30)
    a = make_agent(session, (q,))
    customer = make_customer(session, phones=("+48 601 234 567",))
    session.commit()
    available(session, a)
    iid = call(app, "601234567")
    do_accept_offer(session, a, iid)
    session.commit()
    with pytest.raises(InvalidTransition):
        do_finish_wrap_up(session, a, iid)
    session.rollback()
    do_wrap_up(session, a, iid, "resolved", note="Customer asked about the invoice")
    session.commit()
    assert state_of(session, a)[0] == "wrap_up"
    page = customer_history(session, customer.id)
    assert any(i.channel == "note" and "invoice" in (i.body_text or "") for i in page.items)
    do_finish_wrap_up(session, a, iid)
    session.commit()
    assert state_of(session, a) == ("available", None)
    session.expire_all()
    interaction = session.get(Interaction, iid)
    assert (interaction.status, interaction.disposition) == ("closed", "resolved")
    session.commit()


def test_wrap_up_timer_ends_on_the_server(app, session):
    q = make_queue(session, wrap_up_seconds=45)
    a = make_agent(session, (q,))
    session.commit()
    available(session, a)
    iid = call(app)
    do_accept_offer(session, a, iid)
    do_wrap_up(session, a, iid, "done")
    session.commit()
    until = entry_of(session, iid).wrap_up_until
    assert finish_due_wrap_ups(session, now=until - dt.timedelta(seconds=1)) == []
    assert finish_due_wrap_ups(session, now=until) == [iid]
    session.commit()
    assert state_of(session, a) == ("available", None)


def test_transfers_to_agent_queue_team_keep_history(app, session):
    first_q = make_queue(session, "First line")
    second_q = make_queue(session, "Second line")
    a = make_agent(session, (first_q,))
    b = make_agent(session, (first_q,))
    c = make_agent(session, (second_q,))
    d = make_agent(session, (), teams=("Escalations",))
    session.commit()
    available(session, a)
    iid = call(app)
    do_accept_offer(session, a, iid)
    session.commit()
    available(session, b, c, d)
    do_transfer(session, a, iid, to_queue_id=second_q.id, note="needs second line")
    session.commit()
    assert offered_to(session, iid) == c.id
    assert state_of(session, a) == ("available", None)
    do_accept_offer(session, c, iid)
    do_transfer(session, c, iid, to_agent_id=b.id)
    session.commit()
    assert offered_to(session, iid) == b.id
    do_accept_offer(session, b, iid)
    team_id = d.teams[0].id
    do_transfer(session, b, iid, to_team_id=team_id)
    session.commit()
    assert offered_to(session, iid) == d.id
    with pytest.raises(PermissionDenied):
        do_transfer(session, a, iid, to_agent_id=b.id)
    session.rollback()
    hops = session.scalars(
        select(RoutingEvent)
        .where(RoutingEvent.interaction_id == iid, RoutingEvent.kind == "transferred")
        .order_by(RoutingEvent.id)
    ).all()
    assert [
        (
            h.agent_id,
            h.detail.get("to_queue_id"),
            h.detail.get("to_agent_id"),
            h.detail.get("to_team_id"),
        )
        for h in hops
    ] == [(a.id, second_q.id, None, None), (c.id, None, b.id, None), (b.id, None, None, team_id)]
    assert hops[0].detail["note"] == "needs second line"
    session.commit()


def test_logout_requeues_emails_and_break_hands_back_the_offer(app, session):
    q = make_queue(session)
    a, b = make_agent(session, (q,)), make_agent(session, (q,))
    session.commit()
    available(session, a)
    mail = email(app)
    do_accept_offer(session, a, mail)
    session.commit()
    second = email(app, "second@example.pl")
    assert offered_to(session, second) == a.id
    do_set_agent_state(session, a, "offline", actor=a)
    session.commit()
    assert state_of(session, a) == ("offline", None)
    assert entry_of(session, mail).state == "waiting"
    assert entry_of(session, second).state == "waiting"
    available(session, b)
    assert offered_to(session, mail) == b.id or offered_to(session, second) == b.id
    # Going on a break with an open offer hands it back as well.
    iid = mail if pending_offer(session, mail) else second
    do_set_agent_state(session, b, "break", "coffee", actor=b)
    session.commit()
    assert offered_to(session, iid) is None
    assert entry_of(session, iid).state == "waiting"


def test_busy_agent_cannot_take_a_break(app, session):
    q = make_queue(session)
    a = make_agent(session, (q,))
    session.commit()
    available(session, a)
    iid = call(app)
    do_accept_offer(session, a, iid)
    session.commit()
    with pytest.raises(InvalidTransition, match="busy cannot become break"):
        do_set_agent_state(session, a, "break", "lunch", actor=a)
    session.rollback()
    with pytest.raises(Conflict):
        do_accept_offer(session, a, iid)
    session.rollback()


def test_queue_stats_for_the_wallboard(app, session):
    q = make_queue(session, sla_targets={"voice": {"seconds": 20, "percent": 80}})
    a = make_agent(session, (q,))
    idle = make_agent(session, (q,))
    session.commit()
    first = call(app)
    second = call(app)
    stats = queue_stats(session)[0]
    assert (stats["waiting"], stats["offered"], stats["answered"]) == (2, 2, 0)
    assert stats["service_level"] is None
    assert stats["agents"]["offline"] == 2
    available(session, a)
    offer = pending_offer(session, first)
    assert offer.agent_id == a.id
    answered_at = entry_of(session, first).enqueued_at + dt.timedelta(seconds=10)
    do_accept_offer(session, a, first, now=answered_at)
    do_wrap_up(session, a, first, "ok", now=answered_at + dt.timedelta(seconds=60))
    do_finish_wrap_up(session, a, first, now=answered_at + dt.timedelta(seconds=90))
    from hub.routing import do_abandon_interaction

    do_abandon_interaction(session, second)
    session.commit()
    stats = queue_stats(session)[0]
    assert stats["waiting"] == 0
    assert (stats["answered"], stats["abandoned"]) == (1, 1)
    assert stats["service_level"] == 50.0
    assert stats["aht_seconds"] == 90
    assert stats["agents"]["available"] == 1 and stats["agents"]["offline"] == 1
    board = {row["agent_id"]: row for row in agent_board(session)}
    assert board[a.id]["handled_today"] == 1 and board[idle.id]["state"] == "offline"
    session.commit()


def test_every_offer_row_is_unique_per_interaction(app, session):
    q = make_queue(session)
    agents = [make_agent(session, (q,)) for _ in range(3)]
    session.commit()
    available(session, *agents)
    ids = [call(app) for _ in range(3)]
    rows = session.scalars(select(Offer).where(Offer.status == "pending")).all()
    assert sorted(o.interaction_id for o in rows) == sorted(ids)
    assert len({o.agent_id for o in rows}) == 3
    session.commit()


def test_deferred_routing_waits_for_the_channel(app, session):
    q = make_queue(session)
    session.commit()
    iid = call(app, headers={"defer_routing": True})
    assert session.get(QueueEntry, iid) is None
    from hub.routing import do_enqueue_interaction

    do_enqueue_interaction(session, session.get(Interaction, iid), q)
    session.commit()
    assert entry_of(session, iid).queue_id == q.id


def test_a_head_of_queue_nobody_can_take_does_not_starve_others(app, session):
    calls_q = make_queue(session, "Calls", channels=["voice"], priority=5)
    mail_q = make_queue(session, "Mail", channels=["email"])
    make_agent(session, (calls_q,))  # offline: nobody takes calls now
    skilled_q = make_queue(session, "Experts", channels=["webform"], skills={"law": 5})
    make_agent(session, (skilled_q,), {"law": 1})  # available but not skilled enough
    mailer = make_agent(session, (mail_q,))
    session.commit()
    waiting_calls = [call(app) for _ in range(3)]
    mail = email(app, "late@example.pl")
    assert [entry_of(session, i).state for i in waiting_calls] == ["waiting"] * 3
    assert entry_of(session, mail).state == "waiting"
    do_set_agent_state(session, mailer, "available", actor=mailer)
    session.flush()
    # Small batches on purpose: the calls fill the first ones.
    offers = route_pending(session, limit=2)
    session.commit()
    assert [(o.interaction_id, o.agent_id) for o in offers] == [(mail, mailer.id)]
