"""Agent states, owned by the server.

One transition table (:data:`AGENT_TRANSITIONS`) says which changes are allowed; every
change goes through :func:`do_set_agent_state`, which checks it, times it (a row in
``agent_state_changes`` with the seconds spent in the state that ended), audits the ones a
person asked for and publishes ``agent.state_changed`` after commit.

People may ask for ``available``, ``break`` (with a pause code) and ``offline``; the router
sets ``offered``, ``busy`` and ``wrap_up`` as work comes and goes. Asking for ``available``
while work is still open lands in the state that work implies (busy, wrap-up).

A console socket closing changes nothing by itself: :func:`do_mark_disconnected` notes the
time, and :func:`apply_disconnect_grace` (run periodically) takes agents offline only once
the grace period has passed and only when they hold no live work (a busy agent stays busy).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.db import utcnow
from crm_core.errors import N_, InvalidTransition, PermissionDenied, ValidationFailed
from crm_core.events import DomainEvent, publish_on_commit
from crm_core.models import User
from crm_core.services import audit
from hub.events import AGENT_STATE_CHANGED
from hub.models import AGENT_STATES, AgentStateChange, AgentStatus, Offer, QueueEntry

# The one table of allowed agent state changes.
AGENT_TRANSITIONS: dict[str, frozenset[str]] = {
    "offline": frozenset({"available", "break"}),
    "available": frozenset({"offered", "busy", "break", "offline"}),
    "offered": frozenset({"busy", "available", "wrap_up", "break", "offline"}),
    "busy": frozenset({"offered", "wrap_up", "available", "offline"}),
    "wrap_up": frozenset({"available", "busy", "break", "offline"}),
    "break": frozenset({"available", "offered", "busy", "wrap_up", "break", "offline"}),
}
# What a person may ask for; the rest follows from the work the router hands out.
REQUESTABLE_STATES = frozenset({"available", "break", "offline"})
PAUSE_CODES = ("lunch", "coffee", "training", "meeting", "coaching", "personal", "missed", "other")
MISSED = "missed"
# States in which the router may hand out work (busy: only up to the agent's capacity).
ROUTABLE_STATES = ("available", "busy")
# Work states: the router moves an agent between these as offers and interactions change.
WORKING_STATES = frozenset({"available", "offered", "busy", "wrap_up"})


def check_agent_transition(current: str, target: str) -> None:
    """Raise :class:`InvalidTransition` unless ``current`` → ``target`` is in the table."""
    if target not in AGENT_STATES:
        raise ValidationFailed(
            N_("state must be one of %(states)s"), field="state", states=", ".join(AGENT_STATES)
        )
    if target not in AGENT_TRANSITIONS[current]:
        raise InvalidTransition(
            f"an agent who is {current} cannot become {target}",
            field="state",
            detail={"from": current, "to": target, "allowed": sorted(AGENT_TRANSITIONS[current])},
        )


def get_status(session: Session, agent_id: int, *, lock: bool = False) -> AgentStatus:
    """The agent's status row (created offline on first use); ``lock`` takes a row lock."""
    # Always read the row afresh: a session that loaded it earlier must not act on a stale
    # state (the router changes it from other sessions).
    stmt = (
        select(AgentStatus)
        .where(AgentStatus.user_id == agent_id)
        .execution_options(populate_existing=True)
    )
    if lock:
        stmt = stmt.with_for_update()
    status = session.scalar(stmt)
    if status is None:
        now = utcnow()
        status = AgentStatus(
            user_id=agent_id, state="offline", since=now, idle_since=now, connections=0
        )
        session.add(status)
        session.flush()
        if lock:
            status = session.scalar(stmt) or status
    return status


def work_state(session: Session, agent_id: int) -> str:
    """The working state the agent's open work implies: offered, wrap_up, busy or available."""
    if session.scalar(
        select(Offer.id).where(Offer.agent_id == agent_id, Offer.status == "pending").limit(1)
    ):
        return "offered"
    states = set(
        session.scalars(
            select(QueueEntry.state).where(
                QueueEntry.agent_id == agent_id, QueueEntry.state.in_(("active", "wrap_up"))
            )
        )
    )
    if "wrap_up" in states:
        return "wrap_up"
    if "active" in states:
        return "busy"
    return "available"


def has_live_call(session: Session, agent_id: int) -> bool:
    return bool(
        session.scalar(
            select(QueueEntry.interaction_id)
            .where(
                QueueEntry.agent_id == agent_id,
                QueueEntry.channel == "voice",
                QueueEntry.state == "active",
            )
            .limit(1)
        )
    )


def do_set_agent_state(
    session: Session,
    agent: User,
    state: str,
    pause_code: str | None = None,
    actor: User | None = None,
    *,
    reason: str | None = None,
    now: dt.datetime | None = None,
) -> AgentStatus:
    """Move ``agent`` to ``state`` (``break`` needs a pause code). ``actor`` is the person
    asking (the agent or a supervisor); None means the server itself (router, timers).

    Raises ValidationFailed (unknown state or pause code, a server-only state asked for by a
    person), PermissionDenied (someone else's state, not a supervisor), InvalidTransition
    (not in the table), Conflict (going offline on a live call).
    """
    now = now or utcnow()
    if actor is not None:
        if actor.id != agent.id and not actor.is_supervisor:
            raise PermissionDenied(N_("only supervisors may change another agent's state"))
        if state not in REQUESTABLE_STATES:
            raise ValidationFailed(
                N_("%(state)s is set by the server; ask for available, break or offline"),
                field="state",
                state=state,
            )
    if state == "break":
        if not pause_code:
            raise ValidationFailed(N_("a break needs a pause code"), field="pause_code")
        if pause_code not in PAUSE_CODES:
            raise ValidationFailed(
                N_("pause code must be one of %(codes)s"),
                field="pause_code",
                codes=", ".join(PAUSE_CODES),
            )
    else:
        pause_code = None
    status = get_status(session, agent.id, lock=True)
    if actor is not None and state in ("offline", "break"):
        if state != status.state:
            check_agent_transition(status.state, state)
        # Leaving work hands back what cannot wait (offers, e-mails on logout).
        from hub import routing

        routing.release_agent_work(session, agent, going=state, actor=actor, now=now)
    if actor is not None and state == "available":
        state = work_state(session, agent.id)
    if state == status.state and pause_code == status.pause_code:
        return status
    if state != status.state:
        check_agent_transition(status.state, state)
    before = {"state": status.state, "pause_code": status.pause_code}
    seconds = max(0, int((now - status.since).total_seconds()))
    session.add(
        AgentStateChange(
            user_id=agent.id,
            from_state=status.state,
            to_state=state,
            pause_code=pause_code,
            previous_pause_code=status.pause_code,
            seconds_in_previous=seconds,
            actor_id=actor.id if actor is not None else None,
            reason=reason,
            at=now,
        )
    )
    previous = status.state
    status.state = state
    status.pause_code = pause_code
    status.since = now
    if state in ("available", "offered") and previous != state:
        # Longest idle = longest since the agent last became free or last got work.
        status.idle_since = now
    if actor is not None or reason is not None:
        audit.record(
            session,
            user_id=actor.id if actor is not None else None,
            action="agent.state_changed",
            entity_type="user",
            entity_id=agent.id,
            before=before,
            after={"state": state, "pause_code": pause_code, "reason": reason},
        )
    session.flush()
    publish_on_commit(
        session,
        DomainEvent(
            AGENT_STATE_CHANGED,
            {
                "agent_id": agent.id,
                "state": state,
                "previous": previous,
                "pause_code": pause_code,
                "since": now.isoformat(),
                "actor_id": actor.id if actor is not None else None,
                "reason": reason,
            },
        ),
    )
    return status


def settle_agent_state(
    session: Session, agent: User, *, reason: str | None = None, now: dt.datetime | None = None
) -> AgentStatus:
    """After the agent's work changed: move a working agent to the state the work implies.

    Agents on a break or offline stay there (their open work goes on being theirs).
    """
    status = get_status(session, agent.id, lock=True)
    if status.state not in WORKING_STATES:
        return status
    target = work_state(session, agent.id)
    if target == status.state:
        return status
    return do_set_agent_state(session, agent, target, reason=reason, now=now)


def do_mark_connected(session: Session, agent: User, *, now: dt.datetime | None = None) -> None:
    """A console socket of ``agent`` opened: the grace clock stops."""
    now = now or utcnow()
    status = get_status(session, agent.id, lock=True)
    status.connections = max(0, status.connections) + 1
    status.disconnected_at = None
    status.last_seen_at = now


def do_mark_disconnected(session: Session, agent: User, *, now: dt.datetime | None = None) -> None:
    """A console socket closed. The state does not change; the grace clock starts once the
    agent's last socket is gone."""
    now = now or utcnow()
    status = get_status(session, agent.id, lock=True)
    status.connections = max(0, status.connections - 1)
    status.last_seen_at = now
    if status.connections == 0:
        status.disconnected_at = now


def apply_disconnect_grace(
    session: Session, *, grace_seconds: int, now: dt.datetime | None = None
) -> list[int]:
    """Take offline the agents whose consoles have been gone longer than the grace period
    and who hold no work in progress (busy or wrapping up: they stay). Returns their ids."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=grace_seconds)
    rows = session.scalars(
        select(AgentStatus).where(
            AgentStatus.connections <= 0,
            AgentStatus.disconnected_at.is_not(None),
            AgentStatus.disconnected_at <= cutoff,
            AgentStatus.state.in_(("available", "offered", "break")),
        )
    ).all()
    gone: list[int] = []
    for status in rows:
        agent = session.get(User, status.user_id)
        if agent is None:
            continue
        from hub import routing

        routing.release_agent_work(session, agent, going="disconnected", actor=None, now=now)
        if work_state(session, agent.id) in ("busy", "wrap_up"):
            continue
        current = get_status(session, agent.id, lock=True)
        if current.state == "offline":
            continue
        do_set_agent_state(session, agent, "offline", reason="disconnected", now=now)
        gone.append(agent.id)
    return gone


def agent_status_dict(status: AgentStatus, now: dt.datetime | None = None) -> dict[str, Any]:
    """The JSON shape of an agent's state (snapshots, wallboard)."""
    now = now or utcnow()
    return {
        "agent_id": status.user_id,
        "state": status.state,
        "pause_code": status.pause_code,
        "since": status.since.isoformat(),
        "seconds_in_state": max(0, int((now - status.since).total_seconds())),
        "connected": status.connections > 0,
    }
