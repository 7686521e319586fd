"""Routing (ACD): where an interaction waits, who gets it, and what happens to it then.

Intake calls :func:`enqueue_from_intake` (registered with ``hub.intake.register_enqueuer``)
inside its transaction: the routing rules choose the queue and the priority (VIP first).
After the commit a routing pass (:func:`route_pending`, run by a Celery task: in-process in
the embedded default, on a worker otherwise) offers waiting interactions to agents:

- waiting entries in order of ``rank_at`` (priority, then age: see ``QueueEntry``);
- to the longest-idle routable agent of the queue with every skill the queue needs
  (ties by skill level), within the agent's capacity for the channel (1 call, N e-mails;
  a call is exclusive) and with no other pending offer;
- on PostgreSQL entries and agents are taken with ``FOR UPDATE SKIP LOCKED``, so routers
  on many nodes never double-assign; on SQLite the single writer (``BEGIN IMMEDIATE``)
  serialises them. Partial unique indexes (one pending offer per interaction and per
  agent) back this up in the schema.

Then an agent accepts, declines, wraps up, finishes, transfers; an offer that times out goes
to the next agent and the agent who missed it goes on a "missed" break. Every step is a
``RoutingEvent`` row (the history kept across offers and transfers) and an event published
after commit. The entry's states have one transition table, :data:`ENTRY_TRANSITIONS`.

Lock order, everywhere: queue entry, then offer, then agent status.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context
from sqlalchemy import Select, exists, func, select
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, SessionTransaction

from crm_core.db import utcnow
from crm_core.errors import (
    N_,
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from crm_core.events import DomainEvent, publish_on_commit
from crm_core.models import Customer, Interaction, Team, Ticket, User, team_members
from crm_core.services import audit
from crm_core.services.emails import normalize_email
from crm_core.services.phones import normalize_phone
from crm_core.services.tickets import do_add_note
from hub import events
from hub.agents import (
    MISSED,
    ROUTABLE_STATES,
    do_set_agent_state,
    get_status,
    has_live_call,
    settle_agent_state,
)
from hub.models import (
    AgentSkill,
    AgentStatus,
    Offer,
    Queue,
    QueueEntry,
    QueueMember,
    QueueSkill,
    RoutingEvent,
    RoutingRule,
)

log = logging.getLogger(__name__)

# The one table of allowed queue-entry (routed interaction) state changes.
ENTRY_TRANSITIONS: dict[str, frozenset[str]] = {
    "waiting": frozenset({"offered", "abandoned", "done"}),
    "offered": frozenset({"waiting", "active", "abandoned"}),
    "active": frozenset({"wrap_up", "waiting", "done"}),
    "wrap_up": frozenset({"done"}),
    "done": frozenset(),
    "abandoned": frozenset(),
}
# The interaction's own status that each entry state implies.
INTERACTION_STATUS = {
    "waiting": "queued",
    "offered": "offered",
    "active": "active",
    "wrap_up": "wrap_up",
    "done": "closed",
    "abandoned": "abandoned",
}
# How many interactions of a channel an agent works at once, unless their status overrides.
DEFAULT_CAPACITY: dict[str, int] = {
    "voice": 1,
    "email": 5,
    "webform": 5,
    "fax": 5,
    "sms": 3,
    "chat": 3,
    "note": 5,
    "task": 5,
}
VIP_BOOST = 5
DEFAULT_AGING_SECONDS = 60
DEFAULT_BATCH = 50
PHONE_CHANNELS = frozenset({"voice", "sms", "fax"})


# ----------------------------------------------------------------------------- helpers


def _settings_int(name: str, default: int) -> int:
    if has_app_context():
        settings = current_app.extensions.get("switchboard.settings")
        if settings is not None:
            return int(getattr(settings, name, default))
    return default


def _aging_seconds() -> int:
    return max(1, _settings_int("routing_aging_seconds", DEFAULT_AGING_SECONDS))


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def check_entry_transition(current: str, target: str) -> None:
    if target not in ENTRY_TRANSITIONS[current]:
        raise InvalidTransition(
            f"an interaction that is {INTERACTION_STATUS[current]} cannot become "
            f"{INTERACTION_STATUS.get(target, target)}",
            field="status",
            detail={"from": current, "to": target, "allowed": sorted(ENTRY_TRANSITIONS[current])},
        )


def _move(entry: QueueEntry, interaction: Interaction, target: str) -> None:
    check_entry_transition(entry.state, target)
    entry.state = target
    interaction.status = INTERACTION_STATUS[target]


def _log(
    session: Session,
    entry: QueueEntry,
    kind: str,
    *,
    agent_id: int | None = None,
    actor: User | None = None,
    detail: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> None:
    session.add(
        RoutingEvent(
            interaction_id=entry.interaction_id,
            kind=kind,
            queue_id=entry.queue_id,
            agent_id=agent_id,
            actor_id=actor.id if actor is not None else None,
            detail=detail,
            at=now or utcnow(),
        )
    )


def _publish(session: Session, kind: str, entry: QueueEntry, **extra: Any) -> None:
    data: dict[str, Any] = {
        "interaction_id": entry.interaction_id,
        "queue_id": entry.queue_id,
        "channel": entry.channel,
        "state": entry.state,
        "agent_id": entry.agent_id,
    }
    data.update(extra)
    publish_on_commit(session, DomainEvent(kind, data))


def _rank(enqueued_at: dt.datetime, priority: int) -> dt.datetime:
    return enqueued_at - dt.timedelta(seconds=priority * _aging_seconds())


def _lock_entry(session: Session, interaction_id: int) -> tuple[QueueEntry, Interaction]:
    entry = session.scalar(
        select(QueueEntry)
        .where(QueueEntry.interaction_id == interaction_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    interaction = session.get(Interaction, interaction_id)
    if entry is None or interaction is None:
        raise NotFound(N_("interaction %(id)s is not in any queue"), id=interaction_id)
    return entry, interaction


def _pending_offer(session: Session, interaction_id: int) -> Offer | None:
    return session.scalar(
        select(Offer)
        .where(Offer.interaction_id == interaction_id, Offer.status == "pending")
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def is_member(session: Session, agent_id: int, queue_id: int) -> bool:
    return bool(
        session.scalar(
            select(QueueMember.user_id).where(
                QueueMember.user_id == agent_id, QueueMember.queue_id == queue_id
            )
        )
    )


def agent_queue_ids(session: Session, agent_id: int) -> list[int]:
    return list(
        session.scalars(
            select(QueueMember.queue_id)
            .where(QueueMember.user_id == agent_id)
            .order_by(QueueMember.queue_id)
        )
    )


def _may_work(session: Session, agent: User, entry: QueueEntry) -> bool:
    """The agent serves the entry's queue, or the entry was sent to them or their team."""
    if entry.target_agent_id == agent.id:
        return True
    if entry.target_team_id is not None and any(t.id == entry.target_team_id for t in agent.teams):
        return True
    return is_member(session, agent.id, entry.queue_id)


# ----------------------------------------------------------------------- configuration


def do_create_queue(
    session: Session,
    *,
    name: str,
    channels: list[str],
    priority: int = 0,
    timezone: str = "UTC",
    business_hours: dict[str, Any] | None = None,
    holidays: list[str] | None = None,
    sla_targets: dict[str, Any] | None = None,
    wrap_up_seconds: int = 60,
    offer_timeout_seconds: int = 20,
    team_id: int | None = None,
    skills: dict[str, int] | None = None,
    members: list[User] | None = None,
    actor: User | None = None,
) -> Queue:
    """Create a queue; ``skills`` maps skill names (created if new) to minimum levels."""
    name = name.strip()
    if not name:
        raise ValidationFailed(N_("a queue needs a name"), field="name")
    if not channels:
        raise ValidationFailed(N_("a queue serves at least one channel"), field="channels")
    try:
        ZoneInfo(timezone)
    except Exception:
        raise ValidationFailed(
            N_("unknown time zone '%(timezone)s'"), timezone=timezone, field="timezone"
        ) from None
    if wrap_up_seconds < 0 or offer_timeout_seconds < 1:
        raise ValidationFailed(N_("wrap-up must be ≥ 0 s and the offer timeout ≥ 1 s"))
    if session.scalar(select(Queue.id).where(Queue.name == name)):
        raise Conflict(N_("a queue named '%(name)s' exists already"), name=name, field="name")
    queue = Queue(
        name=name,
        channels=list(channels),
        priority=priority,
        timezone=timezone,
        business_hours=business_hours,
        holidays=holidays,
        sla_targets=sla_targets,
        wrap_up_seconds=wrap_up_seconds,
        offer_timeout_seconds=offer_timeout_seconds,
        team_id=team_id,
        active=True,
    )
    session.add(queue)
    session.flush()
    from hub.skills import get_or_create_skill

    for skill_name, level in (skills or {}).items():
        skill = get_or_create_skill(session, skill_name)
        session.add(QueueSkill(queue_id=queue.id, skill_id=skill.id, min_level=level))
    for member in members or ():
        session.add(QueueMember(queue_id=queue.id, user_id=member.id))
    audit.record(
        session,
        user_id=actor.id if actor is not None else None,
        action="queue.created",
        entity_type="queue",
        entity_id=queue.id,
        after={"name": name, "channels": list(channels)},
    )
    session.flush()
    return queue


def do_add_queue_member(
    session: Session, queue: Queue, agent: User, *, actor: User | None = None
) -> None:
    if not is_member(session, agent.id, queue.id):
        session.add(QueueMember(queue_id=queue.id, user_id=agent.id))
        audit.record(
            session,
            user_id=actor.id if actor is not None else None,
            action="queue.member_added",
            entity_type="queue",
            entity_id=queue.id,
            after={"user_id": agent.id},
        )
        session.flush()


def do_create_routing_rule(
    session: Session,
    *,
    name: str,
    queue: Queue,
    position: int = 100,
    channel: str | None = None,
    to_address: str | None = None,
    form: str | None = None,
    customer_tag: str | None = None,
    customer_class: str | None = None,
    vip_only: bool = False,
    priority_boost: int = 0,
    actor: User | None = None,
) -> RoutingRule:
    rule = RoutingRule(
        name=name.strip() or "rule",
        queue_id=queue.id,
        position=position,
        channel=channel,
        to_address=to_address,
        form=form,
        customer_tag=customer_tag,
        customer_class=customer_class,
        vip_only=vip_only,
        priority_boost=priority_boost,
        active=True,
    )
    session.add(rule)
    session.flush()
    audit.record(
        session,
        user_id=actor.id if actor is not None else None,
        action="routing_rule.created",
        entity_type="routing_rule",
        entity_id=rule.id,
        after={"queue_id": queue.id, "name": rule.name},
    )
    return rule


# --------------------------------------------------------------------------- enqueueing


def _region() -> str | None:
    if has_app_context():
        settings = current_app.extensions.get("switchboard.settings")
        if settings is not None:
            return str(settings.default_region)
    return None


def _same_address(channel: str, rule_value: str, actual: str | None) -> bool:
    if actual is None:
        return False
    if channel in PHONE_CHANNELS:
        region = _region()
        a, b = normalize_phone(rule_value, region), normalize_phone(actual, region)
        if a is not None and b is not None:
            return a == b
    if "@" in rule_value:
        return normalize_email(rule_value) == normalize_email(actual)
    return rule_value.strip().casefold() == actual.strip().casefold()


def _form_of(interaction: Interaction, payload: dict[str, Any] | None) -> str | None:
    payload = payload or interaction.payload or {}
    for key in ("form", "form_slug", "slug"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            return value
    if interaction.channel == "webform":
        return interaction.to_address
    return None


def choose_queue(
    session: Session, interaction: Interaction, *, payload: dict[str, Any] | None = None
) -> tuple[Queue, int] | None:
    """The queue the rules pick for ``interaction`` and the priority it gets there.

    Rules in ``position`` order, first match wins; no match: the first active queue that
    serves the channel. VIP customers get a boost in every queue.
    """
    customer = session.get(Customer, interaction.customer_id) if interaction.customer_id else None
    tags = {t.name.casefold() for t in customer.tags} if customer is not None else set()
    vip = bool(customer is not None and customer.vip)
    rules = session.scalars(
        select(RoutingRule)
        .join(Queue, Queue.id == RoutingRule.queue_id)
        .where(RoutingRule.active.is_(True), Queue.active.is_(True))
        .order_by(RoutingRule.position, RoutingRule.id)
    )
    for rule in rules:
        if rule.channel and rule.channel != interaction.channel:
            continue
        if rule.to_address and not _same_address(
            interaction.channel, rule.to_address, interaction.to_address
        ):
            continue
        if rule.form and (_form_of(interaction, payload) or "").casefold() != rule.form.casefold():
            continue
        if rule.customer_tag and rule.customer_tag.casefold() not in tags:
            continue
        if rule.customer_class and (
            customer is None or (customer.customer_class or "") != rule.customer_class
        ):
            continue
        if rule.vip_only and not vip:
            continue
        queue = session.get(Queue, rule.queue_id)
        assert queue is not None
        return queue, queue.priority + rule.priority_boost + (VIP_BOOST if vip else 0)
    for queue in session.scalars(select(Queue).where(Queue.active.is_(True)).order_by(Queue.id)):
        if interaction.channel in (queue.channels or []):
            return queue, queue.priority + (VIP_BOOST if vip else 0)
    return None


def do_enqueue_interaction(
    session: Session,
    interaction: Interaction,
    queue: Queue,
    *,
    priority: int | None = None,
    actor: User | None = None,
    now: dt.datetime | None = None,
) -> QueueEntry:
    """Put ``interaction`` into ``queue`` (waiting); starts its SLA clock when the queue
    has a target for the channel."""
    now = now or utcnow()
    if session.get(QueueEntry, interaction.id) is not None:
        raise Conflict(N_("interaction %(id)s is queued already"), id=interaction.id)
    prio = queue.priority if priority is None else priority
    entry = QueueEntry(
        interaction_id=interaction.id,
        queue_id=queue.id,
        channel=interaction.channel,
        state="waiting",
        priority=prio,
        enqueued_at=now,
        rank_at=_rank(now, prio),
        attempts=0,
    )
    session.add(entry)
    interaction.queue_id = queue.id
    interaction.status = "queued"
    _log(session, entry, "enqueued", actor=actor, detail={"priority": prio}, now=now)
    session.flush()
    from hub.sla import start_interaction_clock

    start_interaction_clock(session, interaction, queue, now=now)
    _publish(
        session,
        events.INTERACTION_ENQUEUED,
        entry,
        priority=prio,
        customer_id=interaction.customer_id,
    )
    return entry


def enqueue_from_intake(session: Session, event: Any, interaction: Interaction) -> None:
    """The intake enqueuer: inbound interactions go where the routing rules say."""
    if interaction.direction != "inbound":
        return
    if (getattr(event, "headers", None) or {}).get("defer_routing"):
        return  # the channel enqueues it later (an IVR waits for the caller's choice)
    choice = choose_queue(session, interaction, payload=getattr(event, "payload", None))
    if choice is None:
        log.info(
            "no queue serves %s; interaction %s waits unrouted", interaction.channel, interaction.id
        )
        return
    queue, priority = choice
    do_enqueue_interaction(
        session,
        interaction,
        queue,
        priority=priority,
        now=getattr(event, "received_at", None) or utcnow(),
    )


# ----------------------------------------------------------------------------- routing


def _required_skills(session: Session, queue_id: int) -> list[tuple[int, int]]:
    return [
        (row.skill_id, row.min_level)
        for row in session.scalars(select(QueueSkill).where(QueueSkill.queue_id == queue_id))
    ]


def _candidates_stmt(entry: QueueEntry, required: list[tuple[int, int]]) -> Select[Any]:
    skill_ids = [s for s, _ in required]
    skill_sum = (
        select(func.coalesce(func.sum(AgentSkill.level), 0))
        .where(AgentSkill.user_id == AgentStatus.user_id, AgentSkill.skill_id.in_(skill_ids))
        .scalar_subquery()
    )
    pending = exists().where(Offer.agent_id == AgentStatus.user_id, Offer.status == "pending")
    stmt = select(AgentStatus.user_id, AgentStatus.state, AgentStatus.idle_since, skill_sum).where(
        AgentStatus.state.in_(ROUTABLE_STATES), ~pending
    )
    if entry.target_agent_id is not None:
        stmt = stmt.where(AgentStatus.user_id == entry.target_agent_id)
    elif entry.target_team_id is not None:
        stmt = stmt.where(
            AgentStatus.user_id.in_(
                select(team_members.c.user_id).where(team_members.c.team_id == entry.target_team_id)
            )
        )
    else:
        stmt = stmt.where(
            AgentStatus.user_id.in_(
                select(QueueMember.user_id).where(QueueMember.queue_id == entry.queue_id)
            )
        )
        for skill_id, level in required:
            stmt = stmt.where(
                exists().where(
                    AgentSkill.user_id == AgentStatus.user_id,
                    AgentSkill.skill_id == skill_id,
                    AgentSkill.level >= level,
                )
            )
    return stmt


def agent_load(session: Session, agent_id: int) -> Counter[str]:
    """How many interactions of each channel the agent holds (offered, active, wrap-up)."""
    rows = session.execute(
        select(QueueEntry.channel, QueueEntry.state).where(
            QueueEntry.agent_id == agent_id,
            QueueEntry.state.in_(("offered", "active", "wrap_up")),
        )
    ).all()
    load: Counter[str] = Counter()
    for channel, state in rows:
        load[channel] += 1
        if state == "wrap_up":
            load["_wrap_up"] += 1
    return load


def capacity_for(status: AgentStatus, channel: str) -> int:
    if status.capacity and isinstance(status.capacity.get(channel), int):
        return int(status.capacity[channel])
    return DEFAULT_CAPACITY.get(channel, 1)


def has_room(status: AgentStatus, load: Counter[str], channel: str) -> bool:
    """Capacity rules: a call is exclusive (nothing new during one, no call while wrapping
    up), otherwise up to the channel's capacity."""
    if load["_wrap_up"] or load["voice"]:
        return False
    return load[channel] < capacity_for(status, channel)


def _lock_agent(session: Session, agent_id: int) -> AgentStatus | None:
    stmt = (
        select(AgentStatus)
        .where(AgentStatus.user_id == agent_id, AgentStatus.state.in_(ROUTABLE_STATES))
        .execution_options(populate_existing=True)
    )
    if _is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    return session.scalar(stmt)


def _offer_entry(
    session: Session, entry: QueueEntry, now: dt.datetime, taken: set[int]
) -> Offer | None:
    required = _required_skills(session, entry.queue_id) if entry.target_agent_id is None else []
    passed = set((entry.passed_over or {}).get("agents", []))
    # Passed-over agents last, then the free before the busy, longest idle, best skilled.
    rows = sorted(
        (
            (ident in passed, state != "available", idle, -int(skill or 0), ident)
            for ident, state, idle, skill in session.execute(_candidates_stmt(entry, required))
        ),
    )
    for row in rows:
        agent_id = row[4]
        if agent_id in taken:
            continue
        status = _lock_agent(session, agent_id)
        if status is None:
            continue  # another router holds this agent, or it left the routable states
        if session.scalar(
            select(Offer.id).where(Offer.agent_id == agent_id, Offer.status == "pending")
        ):
            continue
        if not has_room(status, agent_load(session, agent_id), entry.channel):
            continue
        return _make_offer(session, entry, status, now)
    return None


def _make_offer(
    session: Session, entry: QueueEntry, status: AgentStatus, now: dt.datetime
) -> Offer:
    queue = session.get(Queue, entry.queue_id)
    interaction = session.get(Interaction, entry.interaction_id)
    agent = session.get(User, status.user_id)
    assert queue is not None and interaction is not None and agent is not None
    offer = Offer(
        interaction_id=entry.interaction_id,
        agent_id=status.user_id,
        queue_id=entry.queue_id,
        status="pending",
        created_at=now,
        expires_at=now + dt.timedelta(seconds=queue.offer_timeout_seconds),
    )
    session.add(offer)
    _move(entry, interaction, "offered")
    entry.agent_id = status.user_id
    entry.attempts += 1
    entry.first_offered_at = entry.first_offered_at or now
    _log(session, entry, "offered", agent_id=status.user_id, now=now)
    session.flush()
    settle_agent_state(session, agent, now=now)
    _publish(
        session,
        events.INTERACTION_OFFERED,
        entry,
        offer_id=offer.id,
        customer_id=interaction.customer_id,
        expires_at=offer.expires_at.isoformat(),
        enqueued_at=entry.enqueued_at.isoformat(),  # offer latency (hub.metrics)
    )
    return offer


def route_pending(
    session: Session,
    *,
    now: dt.datetime | None = None,
    limit: int = DEFAULT_BATCH,
    max_batches: int = 20,
) -> list[Offer]:
    """One routing pass: expire timed-out offers, then offer waiting interactions, best
    ranked first, while free agents remain. Returns the offers made. The caller commits.

    Only entries that someone could take are looked at (a queue with a routable member, or
    a transfer's target), in batches of ``limit`` (keyset on ``rank_at``), so a head of the
    queue nobody can serve does not starve what others could take.
    """
    now = now or utcnow()
    expire_offers(session, now=now)
    no_offer = ~exists().where(Offer.agent_id == AgentStatus.user_id, Offer.status == "pending")
    free = set(
        session.scalars(
            select(AgentStatus.user_id).where(AgentStatus.state.in_(ROUTABLE_STATES), no_offer)
        )
    )
    if not free:
        return []
    served = (
        select(QueueMember.queue_id)
        .join(AgentStatus, AgentStatus.user_id == QueueMember.user_id)
        .where(AgentStatus.state.in_(ROUTABLE_STATES), no_offer)
    )
    made: list[Offer] = []
    taken: set[int] = set()
    after: tuple[dt.datetime, int] | None = None
    for _ in range(max_batches):
        stmt = (
            select(QueueEntry)
            .where(
                QueueEntry.state == "waiting",
                QueueEntry.queue_id.in_(served)
                | QueueEntry.target_agent_id.is_not(None)
                | QueueEntry.target_team_id.is_not(None),
            )
            .order_by(QueueEntry.rank_at, QueueEntry.interaction_id)
            .limit(limit)
            .execution_options(populate_existing=True)
        )
        if after is not None:
            stmt = stmt.where(
                (QueueEntry.rank_at > after[0])
                | ((QueueEntry.rank_at == after[0]) & (QueueEntry.interaction_id > after[1]))
            )
        if _is_postgres(session):
            stmt = stmt.with_for_update(skip_locked=True)
        entries = session.scalars(stmt).all()
        for entry in entries:
            offer = _offer_entry(session, entry, now, taken)
            if offer is not None:
                made.append(offer)
                taken.add(offer.agent_id)
            if free <= taken:
                return made
        if len(entries) < limit:
            break
        after = (entries[-1].rank_at, entries[-1].interaction_id)
    return made


def expire_offers(session: Session, *, now: dt.datetime | None = None) -> list[int]:
    """Offers past their time go back to the queue (to the next agent); the agent who let
    one ring out goes on a "missed" break. Returns the expired offers' ids."""
    now = now or utcnow()
    due = session.execute(
        select(Offer.id, Offer.interaction_id).where(
            Offer.status == "pending", Offer.expires_at <= now
        )
    ).all()
    expired: list[int] = []
    for offer_id, interaction_id in due:
        stmt = select(QueueEntry).where(QueueEntry.interaction_id == interaction_id)
        if _is_postgres(session):
            stmt = stmt.with_for_update(skip_locked=True)
        entry = session.scalar(stmt.execution_options(populate_existing=True))
        if entry is None:
            continue
        offer = session.scalar(
            select(Offer)
            .where(Offer.id == offer_id, Offer.status == "pending")
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if offer is None or offer.expires_at > now:
            continue
        interaction = session.get(Interaction, interaction_id)
        agent = session.get(User, offer.agent_id)
        assert interaction is not None and agent is not None
        offer.status = "expired"
        offer.responded_at = now
        _back_to_queue(session, entry, interaction, passed_agent=agent.id)
        _log(session, entry, "missed", agent_id=agent.id, now=now)
        session.flush()
        status = get_status(session, agent.id, lock=True)
        if status.state == "offered":
            do_set_agent_state(session, agent, "break", MISSED, reason="missed_offer", now=now)
        _publish(
            session, events.INTERACTION_OFFER_EXPIRED, entry, offer_id=offer.id, missed_by=agent.id
        )
        expired.append(offer.id)
    return expired


def _back_to_queue(
    session: Session, entry: QueueEntry, interaction: Interaction, *, passed_agent: int | None
) -> None:
    _move(entry, interaction, "waiting")
    if passed_agent is not None:
        agents = list((entry.passed_over or {}).get("agents", []))
        if passed_agent not in agents:
            agents.append(passed_agent)
        entry.passed_over = {"agents": agents}
    entry.agent_id = None


# ------------------------------------------------------------------- agent's actions


def _agent_entry(
    session: Session, agent: User, interaction_id: int, *, states: tuple[str, ...]
) -> tuple[QueueEntry, Interaction]:
    entry, interaction = _lock_entry(session, interaction_id)
    if entry.agent_id != agent.id:
        if not _may_work(session, agent, entry):
            raise PermissionDenied(
                N_("you do not serve the queue of interaction %(id)s"), id=interaction_id
            )
        raise PermissionDenied(N_("interaction %(id)s is not yours"), id=interaction_id)
    if entry.state not in states:
        raise InvalidTransition(
            f"interaction {interaction_id} is {INTERACTION_STATUS[entry.state]}",
            field="status",
            detail={"from": entry.state, "expected": list(states)},
        )
    return entry, interaction


def _own_offer(
    session: Session, agent: User, interaction_id: int
) -> tuple[QueueEntry, Interaction, Offer]:
    entry, interaction = _lock_entry(session, interaction_id)
    if not _may_work(session, agent, entry):
        raise PermissionDenied(
            N_("you do not serve the queue of interaction %(id)s"), id=interaction_id
        )
    offer = _pending_offer(session, interaction_id)
    if offer is None:
        raise Conflict(
            N_("interaction %(id)s has no open offer (expired or taken)"), id=interaction_id
        )
    if offer.agent_id != agent.id:
        raise PermissionDenied(
            N_("interaction %(id)s is offered to another agent"), id=interaction_id
        )
    return entry, interaction, offer


def do_accept_offer(
    session: Session, agent: User, interaction_id: int, *, now: dt.datetime | None = None
) -> Interaction:
    """The agent takes the interaction offered to them. PermissionDenied for someone
    else's offer or a queue they do not serve; Conflict when the offer is gone."""
    now = now or utcnow()
    entry, interaction, offer = _own_offer(session, agent, interaction_id)
    offer.status = "accepted"
    offer.responded_at = now
    _move(entry, interaction, "active")
    entry.agent_id = agent.id
    entry.answered_at = now
    entry.wait_seconds = max(0, int((now - entry.enqueued_at).total_seconds()))
    entry.target_agent_id = None
    entry.target_team_id = None
    interaction.agent_id = agent.id
    interaction.started_at = interaction.started_at or now
    _log(session, entry, "accepted", agent_id=agent.id, actor=agent, now=now)
    session.flush()
    from hub.sla import stop_interaction_clock

    stop_interaction_clock(session, interaction.id, kind="answer", now=now)
    settle_agent_state(session, agent, now=now)
    _publish(
        session,
        events.INTERACTION_ACCEPTED,
        entry,
        offer_id=offer.id,
        customer_id=interaction.customer_id,
    )
    return interaction


def do_decline_offer(
    session: Session, agent: User, interaction_id: int, *, now: dt.datetime | None = None
) -> Interaction:
    """The agent passes; the interaction goes back to the queue (another agent first)."""
    now = now or utcnow()
    entry, interaction, offer = _own_offer(session, agent, interaction_id)
    offer.status = "declined"
    offer.responded_at = now
    _back_to_queue(session, entry, interaction, passed_agent=agent.id)
    _log(session, entry, "declined", agent_id=agent.id, actor=agent, now=now)
    session.flush()
    settle_agent_state(session, agent, now=now)
    _publish(session, events.INTERACTION_DECLINED, entry, offer_id=offer.id, declined_by=agent.id)
    _publish(session, events.INTERACTION_REQUEUED, entry, reason="declined")
    return interaction


def do_pick_interaction(
    session: Session, agent: User, interaction_id: int, *, now: dt.datetime | None = None
) -> Interaction:
    """The agent takes a waiting interaction from a queue they serve (cherry-picking)."""
    now = now or utcnow()
    entry, _interaction = _lock_entry(session, interaction_id)
    if not _may_work(session, agent, entry):
        raise PermissionDenied(
            N_("you do not serve the queue of interaction %(id)s"), id=interaction_id
        )
    if entry.state != "waiting":
        raise Conflict(N_("interaction %(id)s is not waiting any more"), id=interaction_id)
    status = get_status(session, agent.id, lock=True)
    if status.state not in ROUTABLE_STATES:
        raise InvalidTransition(
            N_("you are %(state)s; go available first"), state=status.state, field="state"
        )
    if not has_room(status, agent_load(session, agent.id), entry.channel):
        raise Conflict(N_("you have no room for another interaction of this channel"))
    if session.scalar(
        select(Offer.id).where(Offer.agent_id == agent.id, Offer.status == "pending")
    ):
        raise Conflict(N_("answer your open offer first"))
    _make_offer(session, entry, status, now)
    return do_accept_offer(session, agent, interaction_id, now=now)


def do_wrap_up(
    session: Session,
    agent: User,
    interaction_id: int,
    disposition: str,
    note: str | None = None,
    *,
    now: dt.datetime | None = None,
) -> Interaction:
    """The conversation is over: record the disposition (and a note in the customer's
    history); wrap-up time starts (the queue's ``wrap_up_seconds``, zero finishes at once)."""
    now = now or utcnow()
    disposition = (disposition or "").strip()
    if not disposition or len(disposition) > 60:
        raise ValidationFailed(
            N_("a disposition of 1 to 60 characters is required"), field="disposition"
        )
    entry, interaction = _agent_entry(session, agent, interaction_id, states=("active",))
    interaction.disposition = disposition
    interaction.ended_at = interaction.ended_at or now
    if note and note.strip():
        ticket = session.get(Ticket, interaction.ticket_id) if interaction.ticket_id else None
        do_add_note(
            session,
            body=note,
            author=agent,
            ticket=ticket,
            customer_id=interaction.customer_id,
            parent=interaction,
        )
    queue = session.get(Queue, entry.queue_id)
    seconds = queue.wrap_up_seconds if queue is not None else 0
    _move(entry, interaction, "wrap_up")
    entry.wrap_up_until = now + dt.timedelta(seconds=seconds)
    _log(
        session,
        entry,
        "wrap_up",
        agent_id=agent.id,
        actor=agent,
        detail={"disposition": disposition},
        now=now,
    )
    audit.record(
        session,
        user_id=agent.id,
        action="interaction.wrap_up",
        entity_type="interaction",
        entity_id=interaction.id,
        after={"disposition": disposition},
    )
    session.flush()
    if seconds <= 0:
        return _finish(session, agent, entry, interaction, actor=agent, now=now)
    settle_agent_state(session, agent, now=now)
    _publish(
        session,
        events.INTERACTION_WRAP_UP,
        entry,
        disposition=disposition,
        wrap_up_until=entry.wrap_up_until.isoformat(),
    )
    return interaction


def do_finish_wrap_up(
    session: Session, agent: User, interaction_id: int, *, now: dt.datetime | None = None
) -> Interaction:
    """The agent is done with the interaction; they become available for the next one."""
    now = now or utcnow()
    entry, interaction = _agent_entry(session, agent, interaction_id, states=("wrap_up",))
    return _finish(session, agent, entry, interaction, actor=agent, now=now)


def _finish(
    session: Session,
    agent: User,
    entry: QueueEntry,
    interaction: Interaction,
    *,
    actor: User | None,
    now: dt.datetime,
) -> Interaction:
    _move(entry, interaction, "done")
    entry.finished_at = now
    entry.wrap_up_until = None
    interaction.ended_at = interaction.ended_at or now
    _log(session, entry, "finished", agent_id=agent.id, actor=actor, now=now)
    session.flush()
    settle_agent_state(session, agent, now=now)
    _publish(session, events.INTERACTION_CLOSED, entry, customer_id=interaction.customer_id)
    return interaction


def finish_due_wrap_ups(session: Session, *, now: dt.datetime | None = None) -> list[int]:
    """Wrap-ups whose time ran out end by themselves (server-side timer)."""
    now = now or utcnow()
    ids = list(
        session.scalars(
            select(QueueEntry.interaction_id).where(
                QueueEntry.state == "wrap_up", QueueEntry.wrap_up_until <= now
            )
        )
    )
    done: list[int] = []
    for interaction_id in ids:
        entry, interaction = _lock_entry(session, interaction_id)
        if entry.state != "wrap_up" or entry.agent_id is None:
            continue
        agent = session.get(User, entry.agent_id)
        if agent is None:
            continue
        _finish(session, agent, entry, interaction, actor=None, now=now)
        done.append(interaction_id)
    return done


def do_transfer(
    session: Session,
    agent: User,
    interaction_id: int,
    *,
    to_agent_id: int | None = None,
    to_queue_id: int | None = None,
    to_team_id: int | None = None,
    note: str | None = None,
    now: dt.datetime | None = None,
) -> Interaction:
    """Hand an interaction the agent holds (or, for a supervisor, any open one) to another
    agent, a queue or a team. It waits again, routed only to the target; the routing
    history keeps every hop. A ticket moves to the new queue/team too (escalation)."""
    now = now or utcnow()
    targets = [t for t in (to_agent_id, to_queue_id, to_team_id) if t is not None]
    if len(targets) != 1:
        raise ValidationFailed(N_("transfer to exactly one of: an agent, a queue, a team"))
    entry, interaction = _lock_entry(session, interaction_id)
    if entry.agent_id != agent.id and not agent.is_supervisor:
        raise PermissionDenied(N_("interaction %(id)s is not yours"), id=interaction_id)
    if entry.state not in ("active", "waiting", "offered"):
        raise InvalidTransition(
            f"interaction {interaction_id} is {INTERACTION_STATUS[entry.state]}",
            field="status",
        )
    detail: dict[str, Any] = {"from_agent_id": entry.agent_id, "from_queue_id": entry.queue_id}
    if to_agent_id is not None:
        target = session.get(User, to_agent_id)
        if target is None or not target.active:
            raise NotFound(N_("agent %(id)s not found"), id=to_agent_id)
        if target.id == entry.agent_id:
            raise ValidationFailed(N_("that agent has it already"), field="to_agent_id")
        detail["to_agent_id"] = target.id
    if to_queue_id is not None:
        queue = session.get(Queue, to_queue_id)
        if queue is None or not queue.active:
            raise NotFound(N_("queue %(id)s not found"), id=to_queue_id)
        detail["to_queue_id"] = queue.id
    if to_team_id is not None:
        if session.get(Team, to_team_id) is None:
            raise NotFound(N_("team %(id)s not found"), id=to_team_id)
        detail["to_team_id"] = to_team_id
    if note:
        detail["note"] = note[:1000]
    previous_agent = session.get(User, entry.agent_id) if entry.agent_id else None
    if entry.state == "offered":
        offer = _pending_offer(session, interaction_id)
        if offer is not None:
            offer.status = "cancelled"
            offer.responded_at = now
    if entry.state != "waiting":
        _move(entry, interaction, "waiting")
    entry.agent_id = None
    entry.passed_over = None
    entry.target_agent_id = to_agent_id
    entry.target_team_id = to_team_id
    if to_queue_id is not None:
        entry.queue_id = to_queue_id
        interaction.queue_id = to_queue_id
    _log(
        session,
        entry,
        "transferred",
        agent_id=detail["from_agent_id"],
        actor=agent,
        detail=detail,
        now=now,
    )
    audit.record(
        session,
        user_id=agent.id,
        action="interaction.transferred",
        entity_type="interaction",
        entity_id=interaction.id,
        after=detail,
    )
    if interaction.ticket_id and (to_queue_id or to_team_id):
        from crm_core.services.tickets import do_update_ticket

        ticket = session.get(Ticket, interaction.ticket_id)
        if ticket is not None:
            changes: dict[str, Any] = {}
            if to_queue_id is not None:
                changes["queue_id"] = to_queue_id
                queue_team = session.get(Queue, to_queue_id)
                if queue_team is not None and queue_team.team_id is not None:
                    changes["team_id"] = queue_team.team_id
            if to_team_id is not None:
                changes["team_id"] = to_team_id
            do_update_ticket(session, ticket, changes, user_id=agent.id)
    session.flush()
    if previous_agent is not None:
        settle_agent_state(session, previous_agent, now=now)
    _publish(session, events.INTERACTION_TRANSFERRED, entry, **detail)
    _publish(session, events.INTERACTION_REQUEUED, entry, reason="transfer")
    return interaction


def do_assign_interaction(
    session: Session,
    supervisor: User,
    interaction_id: int,
    agent_id: int,
    *,
    now: dt.datetime | None = None,
) -> Interaction:
    """A supervisor sends a waiting interaction to a given agent (wallboard re-assign)."""
    if not supervisor.is_supervisor:
        raise PermissionDenied(N_("only supervisors may re-assign interactions"))
    return do_transfer(session, supervisor, interaction_id, to_agent_id=agent_id, now=now)


def do_abandon_interaction(
    session: Session, interaction_id: int, *, now: dt.datetime | None = None
) -> Interaction:
    """The customer gave up while waiting (a caller hung up in the queue)."""
    now = now or utcnow()
    entry, interaction = _lock_entry(session, interaction_id)
    if entry.state not in ("waiting", "offered"):
        raise InvalidTransition(
            f"interaction {interaction_id} is {INTERACTION_STATUS[entry.state]}",
            field="status",
        )
    agent = None
    if entry.state == "offered":
        offer = _pending_offer(session, interaction_id)
        if offer is not None:
            offer.status = "cancelled"
            offer.responded_at = now
            agent = session.get(User, offer.agent_id)
    previous_agent = entry.agent_id
    _move(entry, interaction, "abandoned")
    entry.abandoned_at = now
    entry.agent_id = None
    interaction.ended_at = interaction.ended_at or now
    _log(session, entry, "abandoned", agent_id=previous_agent, now=now)
    session.flush()
    from hub.sla import stop_interaction_clock

    stop_interaction_clock(session, interaction.id, kind="answer", now=now)
    if agent is not None:
        settle_agent_state(session, agent, now=now)
    _publish(session, events.INTERACTION_ABANDONED, entry, previous_agent_id=previous_agent)
    return interaction


def release_agent_work(
    session: Session, agent: User, *, going: str, actor: User | None, now: dt.datetime
) -> None:
    """An agent leaves work (``break``, ``offline``, or a console gone past the grace,
    ``disconnected``): their pending offer goes back to the queue. Logging out also hands
    back e-mails and the like, and ends wrap-ups; a live call refuses the logout."""
    if going == "offline" and has_live_call(session, agent.id):
        raise Conflict(N_("you are on a call: hang up or transfer it before logging out"))
    offers = session.scalars(
        select(Offer.interaction_id).where(Offer.agent_id == agent.id, Offer.status == "pending")
    ).all()
    for interaction_id in offers:
        entry, interaction = _lock_entry(session, interaction_id)
        offer = _pending_offer(session, interaction_id)
        if offer is None or offer.agent_id != agent.id:
            continue
        offer.status = "cancelled"
        offer.responded_at = now
        _back_to_queue(session, entry, interaction, passed_agent=agent.id)
        _log(
            session,
            entry,
            "requeued",
            agent_id=agent.id,
            actor=actor,
            detail={"reason": going},
            now=now,
        )
        _publish(session, events.INTERACTION_REQUEUED, entry, reason=going)
    if going != "offline":
        session.flush()
        return
    held = session.scalars(
        select(QueueEntry.interaction_id).where(
            QueueEntry.agent_id == agent.id, QueueEntry.state.in_(("active", "wrap_up"))
        )
    ).all()
    for interaction_id in held:
        entry, interaction = _lock_entry(session, interaction_id)
        if entry.agent_id != agent.id:
            continue
        if entry.state == "wrap_up":
            _move(entry, interaction, "done")
            entry.finished_at = now
            entry.wrap_up_until = None
            _log(session, entry, "finished", agent_id=agent.id, actor=actor, now=now)
            _publish(session, events.INTERACTION_CLOSED, entry, customer_id=interaction.customer_id)
        else:
            _back_to_queue(session, entry, interaction, passed_agent=None)
            _log(
                session,
                entry,
                "requeued",
                agent_id=agent.id,
                actor=actor,
                detail={"reason": "logout"},
                now=now,
            )
            _publish(session, events.INTERACTION_REQUEUED, entry, reason="logout")
    session.flush()


def do_raise_priority(
    session: Session,
    interaction_id: int,
    by: int,
    *,
    reason: str,
    now: dt.datetime | None = None,
) -> QueueEntry | None:
    """Move a waiting interaction up (SLA escalation). None when it is not queued."""
    entry = session.scalar(
        select(QueueEntry).where(QueueEntry.interaction_id == interaction_id).with_for_update()
    )
    if entry is None or entry.state in ("done", "abandoned"):
        return None
    entry.priority += by
    entry.rank_at = entry.rank_at - dt.timedelta(seconds=by * _aging_seconds())
    _log(session, entry, "escalated", detail={"by": by, "reason": reason}, now=now)
    return entry


# --------------------------------------------------------------------------- statistics


def _day_start(now: dt.datetime, tz: str) -> dt.datetime:
    try:
        zone = ZoneInfo(tz)
    except Exception:
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)


def _target_seconds(queue: Queue, channel: str) -> int | None:
    target = (queue.sla_targets or {}).get(channel)
    if isinstance(target, dict) and isinstance(target.get("seconds"), int):
        return int(target["seconds"])
    return None


def queue_stats(
    session: Session, *, now: dt.datetime | None = None, queue_ids: list[int] | None = None
) -> list[dict[str, Any]]:
    """Wallboard figures per queue: waiting now, longest wait, and today (in the queue's
    time zone) offered, answered, abandoned, service level %, average handle time; agents
    of the queue by state.

    A handful of grouped queries for all the queues asked for (per time zone for the
    figures of today), not a round of queries per queue."""
    now = now or utcnow()
    stmt = select(Queue).where(Queue.active.is_(True)).order_by(Queue.name)
    if queue_ids is not None:
        if not queue_ids:
            return []
        stmt = stmt.where(Queue.id.in_(queue_ids))
    queues = list(session.scalars(stmt))
    if not queues:
        return []
    ids = [q.id for q in queues]
    waiting: dict[int, tuple[int, dt.datetime | None]] = {}
    for queue_id, count, oldest in session.execute(
        select(QueueEntry.queue_id, func.count(), func.min(QueueEntry.enqueued_at))
        .where(QueueEntry.queue_id.in_(ids), QueueEntry.state.in_(("waiting", "offered")))
        .group_by(QueueEntry.queue_id)
    ):
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=dt.UTC)
        waiting[queue_id] = (int(count or 0), oldest)
    starts = {q.id: _day_start(now, q.timezone) for q in queues}
    offered: Counter[int] = Counter()
    today: dict[int, list[Any]] = {}
    for start in sorted(set(starts.values())):
        same_day = [q for q in ids if starts[q] == start]
        for queue_id, count in session.execute(
            select(QueueEntry.queue_id, func.count())
            .where(QueueEntry.queue_id.in_(same_day), QueueEntry.enqueued_at >= start)
            .group_by(QueueEntry.queue_id)
        ):
            offered[queue_id] = int(count or 0)
        for row in session.execute(
            select(
                QueueEntry.queue_id,
                QueueEntry.channel,
                QueueEntry.wait_seconds,
                QueueEntry.answered_at,
                QueueEntry.finished_at,
                QueueEntry.abandoned_at,
            ).where(
                QueueEntry.queue_id.in_(same_day),
                (QueueEntry.answered_at >= start) | (QueueEntry.abandoned_at >= start),
            )
        ):
            today.setdefault(row[0], []).append(row[1:])
    states = ("available", "offered", "busy", "wrap_up", "break", "offline")
    agents = {q: dict.fromkeys(states, 0) for q in ids}
    for queue_id, state, count in session.execute(
        select(QueueMember.queue_id, AgentStatus.state, func.count())
        .outerjoin(AgentStatus, AgentStatus.user_id == QueueMember.user_id)
        .where(QueueMember.queue_id.in_(ids))
        .group_by(QueueMember.queue_id, AgentStatus.state)
    ):
        # A member without a status row has never logged in: offline.
        key = state if state is not None else "offline"
        agents[queue_id][key] = agents[queue_id].get(key, 0) + int(count)
    result = []
    for queue in queues:
        start = starts[queue.id]
        n_waiting, first_in = waiting.get(queue.id, (0, None))
        answered = abandoned = within = 0
        handle: list[float] = []
        for channel, wait, answered_at, finished_at, abandoned_at in today.get(queue.id, []):
            if abandoned_at is not None and abandoned_at >= start:
                abandoned += 1
                continue
            if answered_at is None:
                continue
            answered += 1
            target = _target_seconds(queue, channel)
            if target is None or (wait or 0) <= target:
                within += 1
            if finished_at is not None:
                handle.append((finished_at - answered_at).total_seconds())
        result.append(
            {
                "queue_id": queue.id,
                "name": queue.name,
                "channels": list(queue.channels or []),
                "waiting": n_waiting,
                "longest_wait_seconds": (
                    max(0, int((now - first_in).total_seconds())) if first_in is not None else 0
                ),
                "offered": offered[queue.id],
                "answered": answered,
                "abandoned": abandoned,
                "service_level": (
                    round(100.0 * within / (answered + abandoned), 1)
                    if answered + abandoned
                    else None
                ),
                "aht_seconds": round(sum(handle) / len(handle)) if handle else None,
                "sla_targets": queue.sla_targets or {},
                "agents": agents[queue.id],
                "as_of": now.isoformat(),
            }
        )
    return result


def agent_board(session: Session, *, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """The wallboard's table of agents: state, time in state, pause code, current work,
    handled today (UTC day)."""
    now = now or utcnow()
    start = _day_start(now, "UTC")
    rows = session.execute(
        select(User, AgentStatus)
        .outerjoin(AgentStatus, AgentStatus.user_id == User.id)
        .where(User.active.is_(True), User.role.in_(("agent", "supervisor")))
        .order_by(User.name, User.id)
    ).all()
    handled = dict(
        session.execute(
            select(QueueEntry.agent_id, func.count())
            .where(QueueEntry.state == "done", QueueEntry.finished_at >= start)
            .group_by(QueueEntry.agent_id)
        ).all()
    )
    current: dict[int, list[int]] = {}
    for agent_id, interaction_id in session.execute(
        select(QueueEntry.agent_id, QueueEntry.interaction_id).where(
            QueueEntry.state.in_(("offered", "active", "wrap_up")),
            QueueEntry.agent_id.is_not(None),
        )
    ):
        if agent_id is not None:
            current.setdefault(agent_id, []).append(interaction_id)
    board = []
    for user, status in rows:
        if status is None and user.role != "agent":
            continue
        state = status.state if status is not None else "offline"
        since = status.since if status is not None else None
        board.append(
            {
                "agent_id": user.id,
                "name": user.name,
                "state": state,
                "pause_code": status.pause_code if status is not None else None,
                "since": since.isoformat() if since is not None else None,
                "seconds_in_state": (
                    max(0, int((now - since).total_seconds())) if since is not None else None
                ),
                "connected": bool(status is not None and status.connections > 0),
                "interactions": sorted(current.get(user.id, [])),
                "handled_today": int(handled.get(user.id, 0)),
            }
        )
    return board


def volume_today(session: Session, *, now: dt.datetime | None = None) -> dict[str, list[int]]:
    """Interactions that entered a queue today (UTC), per channel, 24 hourly counts."""
    now = now or utcnow()
    start = _day_start(now, "UTC")
    out: dict[str, list[int]] = {}
    for channel, at in session.execute(
        select(QueueEntry.channel, QueueEntry.enqueued_at).where(
            QueueEntry.enqueued_at >= start, QueueEntry.enqueued_at < start + dt.timedelta(days=1)
        )
    ):
        out.setdefault(channel, [0] * 24)[at.astimezone(dt.UTC).hour] += 1
    return out


def open_work(session: Session, agent_id: int) -> dict[str, list[int]]:
    """Ids of the agent's pending offers and held interactions (for snapshots)."""
    offers = list(
        session.scalars(
            select(Offer.interaction_id).where(
                Offer.agent_id == agent_id, Offer.status == "pending"
            )
        )
    )
    held = list(
        session.scalars(
            select(QueueEntry.interaction_id)
            .where(QueueEntry.agent_id == agent_id, QueueEntry.state.in_(("active", "wrap_up")))
            .order_by(QueueEntry.answered_at, QueueEntry.interaction_id)
        )
    )
    return {"offers": offers, "interactions": held}


# ------------------------------------------------------------------------ the kick


_local = threading.local()


def _kick(evt: DomainEvent) -> None:
    """After a commit that freed an agent or queued work, run a routing pass: in-process
    (eager Celery) in the embedded default, on a worker otherwise. Passes triggered by a
    pass's own commit fold into the running one instead of nesting.

    In-process, the pass does not run inside the ``after_commit`` hook (the committing
    session still holds its connection there, so the pass would need a second one: with
    many requests at once the pool runs dry and they wait on each other). It runs when the
    committing transaction has ended and given its connection back
    (:func:`_run_pending_pass`), still in the same thread, so the caller sees the offers.
    """
    if evt.type == events.AGENT_STATE_CHANGED and evt.data.get("state") not in ROUTABLE_STATES:
        return
    if not has_app_context() or "celery" not in current_app.extensions:
        return
    if getattr(_local, "deferred", False):
        return
    if getattr(_local, "running", False):
        _local.again = True
        return
    if not _eager():
        from hub.tasks import route_pending_task

        try:
            route_pending_task.delay()
        except Exception:  # the commit that triggered us stands; the periodic tick retries
            log.exception("routing pass after %s not sent", evt.type)
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.extensions.get(_BACKGROUND_KEY):
        router.kick(app)
        return
    _local.pending = True


@sa_event.listens_for(Session, "after_transaction_end")
def _run_pending_pass(session: Session, transaction: SessionTransaction) -> None:
    """The in-process routing pass asked for by :func:`_kick`, once the outermost
    transaction that published the event has ended (its connection back in the pool)."""
    if transaction.parent is not None or not getattr(_local, "pending", False):
        return
    if getattr(_local, "running", False) or not has_app_context():
        return
    _local.pending = False
    try:
        _run_passes()
    except Exception:  # the commit that triggered us stands; the periodic tick retries
        log.exception("routing pass failed")


def _run_passes() -> None:
    """Routing passes until no commit asks for another (at most 10 in a row)."""
    from hub.tasks import route_pending_task

    _local.running = True
    try:
        rounds = 0
        while True:
            _local.again = False
            route_pending_task.delay()
            rounds += 1
            if not _local.again or rounds >= 10:
                break
    finally:
        _local.running = False
        _local.again = False


_BACKGROUND_KEY = "switchboard.routing.background"


class Router:
    """The routing passes of ``switchboard serve``, on one background thread.

    A commit that frees an agent or queues work only sets a flag (:meth:`kick`) and the
    request answers at once; the thread runs a pass when the flag is up. Kicks that arrive
    while a pass runs make one more pass, not one each: fifty calls arriving together cost
    a few passes (each offers up to ``DEFAULT_BATCH`` entries), not fifty. The periodic
    tick still routes whatever a failed pass left.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._wanted: dict[int, Any] = {}  # id(app) -> app
        self._busy = False
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.passes = 0

    def kick(self, app: Any) -> None:
        if self._pid != os.getpid():
            self._reset()
        with self._cond:
            self._wanted[id(app)] = app
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="switchboard-router", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no pass is wanted or running (tests, benchmarks). True when idle."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._wanted or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._wanted:
                    self._cond.wait()
                apps = list(self._wanted.values())
                self._wanted.clear()
                self._busy = True
            try:
                for app in apps:
                    with app.app_context():
                        try:
                            _run_passes()
                            self.passes += 1
                        except Exception:  # the tick retries
                            log.exception("background routing pass failed")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


router = Router()


def route_in_background(app: Any) -> None:
    """From now on, routing passes of ``app`` in this process run on the router thread
    (:class:`Router`) instead of in the thread that committed. ``switchboard serve`` calls
    this (setting ``routing_background``); without it, passes run in the committing thread
    right after its commit, as tests, the CLI and embedders expect."""
    app.extensions[_BACKGROUND_KEY] = True


def wait_idle(timeout: float = 30.0) -> bool:
    """Wait for the background router (if any) to finish the passes asked for."""
    return router.wait_idle(timeout)


@contextmanager
def routing_deferred() -> Iterator[None]:
    """Commits inside this block start no routing pass in this process.

    For processes whose emits reach nobody (a CLI command without a shared message queue):
    the running server's tick routes the work instead, and its offers reach the browsers.
    """
    previous = getattr(_local, "deferred", False)
    _local.deferred = True
    try:
        yield
    finally:
        _local.deferred = previous


def _eager() -> bool:
    return bool(current_app.extensions["celery"].conf.task_always_eager)


_subscribed = False


def init_app(app: Any) -> None:
    """Register the intake enqueuer and the after-commit routing kick (once per process)."""
    global _subscribed
    from hub.intake import register_enqueuer

    register_enqueuer(enqueue_from_intake)
    if not _subscribed:
        for kind in (
            events.INTERACTION_ENQUEUED,
            events.INTERACTION_REQUEUED,
            events.INTERACTION_CLOSED,
            events.AGENT_STATE_CHANGED,
        ):
            events.subscribe(kind, _kick)
        _subscribed = True


__all__ = [
    "DEFAULT_CAPACITY",
    "ENTRY_TRANSITIONS",
    "agent_board",
    "agent_load",
    "choose_queue",
    "do_abandon_interaction",
    "do_accept_offer",
    "do_assign_interaction",
    "do_create_queue",
    "do_create_routing_rule",
    "do_decline_offer",
    "do_enqueue_interaction",
    "do_finish_wrap_up",
    "do_pick_interaction",
    "do_raise_priority",
    "do_transfer",
    "do_wrap_up",
    "expire_offers",
    "finish_due_wrap_ups",
    "queue_stats",
    "route_in_background",
    "route_pending",
    "router",
    "routing_deferred",
    "volume_today",
]
