"""Agent states: the one transition table, who may ask for what, history and audit, and
the disconnect grace (a dropped socket changes nothing until the grace is over, and
never takes a busy agent offline)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from crm_core.errors import Conflict, InvalidTransition, PermissionDenied, ValidationFailed
from crm_core.models import AuditEntry
from hub.agents import (
    AGENT_TRANSITIONS,
    apply_disconnect_grace,
    check_agent_transition,
    do_mark_connected,
    do_mark_disconnected,
    do_set_agent_state,
)
from hub.models import AGENT_STATES, AgentStateChange
from hub.routing import do_accept_offer
from tests.routing_helpers import available, call, make_agent, make_queue, pending_offer, state_of

T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def test_table_covers_every_state():
    assert set(AGENT_TRANSITIONS) == set(AGENT_STATES)
    for targets in AGENT_TRANSITIONS.values():
        assert targets <= set(AGENT_STATES)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("offline", "busy"),
        ("offline", "offered"),
        ("offline", "wrap_up"),
        ("busy", "break"),
        ("available", "wrap_up"),
        ("wrap_up", "offered"),
    ],
)
def test_illegal_transitions_are_refused_with_a_clear_error(current, target):
    with pytest.raises(InvalidTransition) as exc:
        check_agent_transition(current, target)
    assert exc.value.message == f"an agent who is {current} cannot become {target}"
    assert exc.value.status_code == 409
    assert exc.value.detail["allowed"] == sorted(AGENT_TRANSITIONS[current])


def test_people_ask_only_for_available_break_offline(session):
    agent = make_user_agent(session)
    with pytest.raises(ValidationFailed, match="set by the server"):
        do_set_agent_state(session, agent, "busy", actor=agent)
    with pytest.raises(ValidationFailed, match="pause code"):
        do_set_agent_state(session, agent, "break", actor=agent)
    with pytest.raises(ValidationFailed, match="pause code must be one of"):
        do_set_agent_state(session, agent, "break", "nap", actor=agent)
    with pytest.raises(ValidationFailed, match="state must be one of"):
        do_set_agent_state(session, agent, "dancing")


def test_server_cannot_jump_offline_to_busy(session):
    agent = make_user_agent(session)
    with pytest.raises(InvalidTransition, match="offline cannot become busy"):
        do_set_agent_state(session, agent, "busy")


def test_only_supervisors_change_someone_elses_state(session):
    agent = make_user_agent(session)
    colleague = make_user_agent(session)
    boss = make_agent(session, role="supervisor")
    with pytest.raises(PermissionDenied):
        do_set_agent_state(session, agent, "available", actor=colleague)
    status = do_set_agent_state(session, agent, "break", "meeting", actor=boss)
    assert (status.state, status.pause_code) == ("break", "meeting")


def test_changes_are_timed_and_audited(session):
    agent = make_user_agent(session)
    do_set_agent_state(session, agent, "available", actor=agent, now=T0)
    do_set_agent_state(
        session, agent, "break", "lunch", actor=agent, now=T0 + dt.timedelta(minutes=50)
    )
    do_set_agent_state(session, agent, "available", actor=agent, now=T0 + dt.timedelta(minutes=80))
    rows = session.scalars(
        select(AgentStateChange)
        .where(AgentStateChange.user_id == agent.id)
        .order_by(AgentStateChange.id)
    ).all()
    assert [(r.from_state, r.to_state, r.pause_code) for r in rows] == [
        ("offline", "available", None),
        ("available", "break", "lunch"),
        ("break", "available", None),
    ]
    assert [r.seconds_in_previous for r in rows[1:]] == [50 * 60, 30 * 60]
    assert rows[2].previous_pause_code == "lunch"
    audits = session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "agent.state_changed", AuditEntry.entity_id == agent.id
        )
    ).all()
    assert len(audits) == 3 and audits[1].after["pause_code"] == "lunch"


def test_dropped_socket_keeps_state_until_grace_then_offline(session):
    agent = make_user_agent(session)
    do_set_agent_state(session, agent, "available", actor=agent, now=T0)
    do_mark_connected(session, agent, now=T0)
    do_mark_disconnected(session, agent, now=T0 + dt.timedelta(seconds=10))
    session.commit()
    assert state_of(session, agent) == ("available", None)
    assert (
        apply_disconnect_grace(session, grace_seconds=120, now=T0 + dt.timedelta(seconds=100)) == []
    )
    assert state_of(session, agent) == ("available", None)
    # A reconnect inside the grace stops the clock.
    do_mark_connected(session, agent, now=T0 + dt.timedelta(seconds=110))
    assert (
        apply_disconnect_grace(session, grace_seconds=120, now=T0 + dt.timedelta(seconds=500)) == []
    )
    do_mark_disconnected(session, agent, now=T0 + dt.timedelta(seconds=600))
    assert apply_disconnect_grace(
        session, grace_seconds=120, now=T0 + dt.timedelta(seconds=721)
    ) == [agent.id]
    session.commit()
    assert state_of(session, agent) == ("offline", None)


def test_grace_never_takes_an_agent_on_a_call_offline(app, session):
    queue = make_queue(session)
    agent = make_agent(session, (queue,))
    session.commit()
    available(session, agent)
    iid = call(app)
    assert pending_offer(session, iid).agent_id == agent.id
    do_accept_offer(session, agent, iid)
    do_mark_connected(session, agent)
    do_mark_disconnected(session, agent, now=T0)
    session.commit()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    assert apply_disconnect_grace(session, grace_seconds=60, now=later) == []
    session.commit()
    assert state_of(session, agent)[0] == "busy"
    # Logging out on a live call is refused too.
    with pytest.raises(Conflict, match="on a call"):
        do_set_agent_state(session, agent, "offline", actor=agent)
    session.rollback()


def make_user_agent(session):
    return make_agent(session)


def test_grace_hands_back_a_ringing_offer(app, session):
    queue = make_queue(session)
    agent = make_agent(session, (queue,))
    colleague = make_agent(session, (queue,))
    session.commit()
    available(session, agent)
    iid = call(app)
    assert pending_offer(session, iid).agent_id == agent.id
    do_mark_connected(session, agent, now=T0)
    do_mark_disconnected(session, agent, now=T0)
    session.commit()
    assert apply_disconnect_grace(session, grace_seconds=60, now=T0 + dt.timedelta(seconds=61)) == [
        agent.id
    ]
    session.commit()  # the hand-back re-queues; the router runs after the commit
    assert state_of(session, agent) == ("offline", None)
    assert pending_offer(session, iid) is None
    available(session, colleague)
    assert pending_offer(session, iid).agent_id == colleague.id
