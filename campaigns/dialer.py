"""The production dialer: one pacing loop per active campaign, and the campaign side of
dialer calls.

**The loop** (:func:`dial_step`, run for every active progressive or predictive campaign by
the Celery task ``campaigns.dialer_tick``, on beat every ``DIALER_SECONDS``, routed to the
``dialer`` queue):

1. take the campaign's lease (``hub.leases``, name ``dialer:campaign:<id>``): one active
   pacer per campaign across nodes; a node that does not hold it does nothing;
2. build the pacing snapshot from the database (:func:`pacing_state`): the campaign's
   agents (``agent_status``: available = ready, offered/busy = talking, wrap-up, with the
   time in state), its calls in flight (attempts still dialling; answered and not yet
   connected = waiting), the statistics of its last 7 days of attempts (ring times, live
   and machine answers, talk times; wrap-up from the queue) and its abandonment counts
   (today, the last 15 minutes, 30 days; live answers as the denominator);
3. ask :func:`campaigns.pacing.decide` (the same code the simulator runs);
4. select that many leads (``compliance.select_leads``: every rule checked at selection),
   check each again right before the dial (``recheck_before_dial``), start the attempt
   and hand the call to the voice port (``hub.ports.call_placer()``) with the campaign's
   caller ID, async answering-machine detection and the campaign/lead/attempt ids.
   The channel dials after the commit, and asks :meth:`CampaignDialer.may_dial` once more
   just before it calls the carrier: a number put on the do-not-call list (or a consent
   withdrawn, or the campaign paused) after the commit is not dialled.

**The calls** (:class:`CampaignDialer`, registered as the hub's dialer handler; the voice
channel calls it from its signed webhooks): an answered call is given to the longest-idle
available agent of the campaign at once (enqueued on the campaign's queue with that agent
as target, offered through the hub's routing, so the agent's console gets the ``offer``
with the lead's card, and accepted on the agent's behalf: dialer agents are auto-answer);
when nobody is free the callee holds for the connect window (2 s) and is asked about again;
still nobody: the abandon message plays and the attempt is recorded ``abandoned`` (the
number then rests for the campaign's ``abandoned_no_redial_hours``). AMD's verdict
``machine_*``/``fax`` hangs the call up and records outcome ``machine``; the call's final
status ends the attempt (``no_answer``, ``busy``, ``failed``, ``answered``).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from celery import shared_task
from flask import Flask
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from campaigns.compliance import dnc_listing, recheck_before_dial, select_leads
from campaigns.leads import finish_attempt, start_attempt
from campaigns.models import Campaign, CampaignAgent, Lead, LeadAttempt
from campaigns.pacing import (
    AbandonmentCounts,
    AgentActivity,
    AgentView,
    CallStatistics,
    CallView,
    Decision,
    Mode,
    PacingConfig,
    PacingState,
    decide,
)
from crm_core.db import utcnow
from crm_core.models import Customer, Interaction, User, team_members
from hub import leases
from hub.models import AgentStatus, Offer, Queue
from hub.ports import AnswerAction, DialerCallRef, OutboundCall, call_placer

log = logging.getLogger(__name__)

DIALER_SECONDS = 2.0  # how often the loop runs (beat)
LEASE_TTL = 15.0  # seconds; renewed on every step
STATS_DAYS = 7
STATS_ROWS = 5000
RECENT_WINDOW = dt.timedelta(minutes=15)
CONNECT_WINDOW = dt.timedelta(seconds=2)
STALE_CALL = dt.timedelta(minutes=5)
MACHINE_VERDICTS = (
    "machine_start",
    "machine_end_beep",
    "machine_end_silence",
    "machine_end_other",
    "fax",
)
DIALLED_MODES = ("progressive", "predictive")
_holder: str | None = None


def holder() -> str:
    """This process's lease holder id."""
    global _holder
    if _holder is None:
        _holder = leases.node_id("dialer")
    return _holder


def lease_name(campaign_id: int) -> str:
    return f"dialer:campaign:{campaign_id}"


# ----------------------------------------------------------------------------- snapshot


def campaign_agent_ids(session: Session, campaign_id: int) -> list[int]:
    """The users working the campaign: named agents and members of its teams."""
    rows = session.execute(
        select(CampaignAgent.user_id, CampaignAgent.team_id).where(
            CampaignAgent.campaign_id == campaign_id
        )
    ).all()
    ids = {r.user_id for r in rows if r.user_id is not None}
    teams = [r.team_id for r in rows if r.team_id is not None]
    if teams:
        ids.update(
            session.scalars(select(team_members.c.user_id).where(team_members.c.team_id.in_(teams)))
        )
    return sorted(ids)


def _seconds(now: dt.datetime, then: dt.datetime | None) -> float:
    return max(0.0, (now - then).total_seconds()) if then is not None else 0.0


def agent_views(session: Session, campaign_id: int, now: dt.datetime) -> list[AgentView]:
    ids = campaign_agent_ids(session, campaign_id)
    if not ids:
        return []
    out: list[AgentView] = []
    statuses = session.scalars(
        select(AgentStatus)
        .where(AgentStatus.user_id.in_(ids))
        .execution_options(populate_existing=True)
    )
    for status in statuses:
        if status.state == "available":
            out.append(AgentView(AgentActivity.READY, _seconds(now, status.since)))
        elif status.state in ("offered", "busy"):
            out.append(AgentView(AgentActivity.TALKING, _seconds(now, status.since)))
        elif status.state == "wrap_up":
            out.append(AgentView(AgentActivity.WRAP_UP, _seconds(now, status.since)))
    return out


def calls_in_flight(session: Session, campaign_id: int, now: dt.datetime) -> list[CallView]:
    rows = session.execute(
        select(LeadAttempt.started_at, LeadAttempt.answered_at).where(
            LeadAttempt.campaign_id == campaign_id,
            LeadAttempt.outcome == "dialling",
            LeadAttempt.connected_at.is_(None),
            LeadAttempt.ended_at.is_(None),
            # A call whose callbacks never came does not hold a line for ever.
            LeadAttempt.started_at >= now - STALE_CALL,
        )
    ).all()
    return [
        CallView(_seconds(now, r.answered_at), True)
        if r.answered_at is not None
        else CallView(_seconds(now, r.started_at), False)
        for r in rows
    ]


def call_statistics(session: Session, campaign: Campaign, now: dt.datetime) -> CallStatistics:
    """The campaign's measured statistics, from its finished attempts of the last days."""
    stats = CallStatistics()
    rows = session.execute(
        select(
            LeadAttempt.started_at,
            LeadAttempt.answered_at,
            LeadAttempt.connected_at,
            LeadAttempt.ended_at,
            LeadAttempt.outcome,
        )
        .where(
            LeadAttempt.campaign_id == campaign.id,
            LeadAttempt.started_at >= now - dt.timedelta(days=STATS_DAYS),
            or_(LeadAttempt.ended_at.is_not(None), LeadAttempt.outcome == "answered"),
        )
        .order_by(LeadAttempt.started_at.desc())
        .limit(STATS_ROWS)
    ).all()
    for r in rows:
        stop = r.answered_at or r.ended_at
        if stop is None:
            continue
        machine = r.outcome == "machine"
        live = r.answered_at is not None and not machine and r.outcome != "cancelled"
        stats.record_dial(_seconds(stop, r.started_at), live=live, machine=machine)
        if r.connected_at is not None and r.ended_at is not None:
            stats.record_talk(_seconds(r.ended_at, r.connected_at))
    queue = session.get(Queue, campaign.queue_id) if campaign.queue_id else None
    wrap = float(queue.wrap_up_seconds) if queue is not None else 0.0
    for _ in range(min(stats.talk.total, 50)):
        stats.record_wrap(wrap)
    return stats


def abandonment_counts(session: Session, campaign_id: int, now: dt.datetime) -> AbandonmentCounts:
    def counts(since: dt.datetime) -> tuple[int, int]:
        row = session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(func.cast(LeadAttempt.abandoned, type_=_int_type())), 0),
            ).where(
                LeadAttempt.campaign_id == campaign_id,
                LeadAttempt.answered_at.is_not(None),
                LeadAttempt.answered_at >= since,
                LeadAttempt.outcome.in_(("answered", "abandoned")),
            )
        ).one()
        return int(row[0]), int(row[1])

    day_start = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    live_today, ab_today = counts(day_start)
    live_recent, ab_recent = counts(now - RECENT_WINDOW)
    live_30, ab_30 = counts(now - dt.timedelta(days=30))
    return AbandonmentCounts(live_today, ab_today, live_recent, ab_recent, live_30, ab_30)


def _int_type() -> Any:
    from sqlalchemy import Integer

    return Integer()


def pacing_state(session: Session, campaign: Campaign, now: dt.datetime) -> PacingState:
    return PacingState(
        mode=Mode(campaign.dialer_mode),
        agents=agent_views(session, campaign.id, now),
        calls=calls_in_flight(session, campaign.id, now),
        abandonment=abandonment_counts(session, campaign.id, now),
        stats=call_statistics(session, campaign, now),
    )


def pacing_config(campaign: Campaign) -> PacingConfig:
    cap = float(campaign.abandon_cap_pct) / 100.0
    return PacingConfig(cap=cap, target=min(PacingConfig().target, cap * 2 / 3))


# ----------------------------------------------------------------------------- the loop


@dataclass(frozen=True)
class StepResult:
    campaign_id: int
    decision: Decision | None
    placed: int
    refused: int
    held_lease: bool


def dial_step(session: Session, campaign_id: int, now: dt.datetime | None = None) -> StepResult:
    """One pacing step of one campaign (see the module docstring), for the holder of the
    campaign's lease (:func:`run_dialer` takes it). The caller commits; the voice channel
    dials after the commit."""
    now = now or utcnow()
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.status != "active" or campaign.dialer_mode not in DIALLED_MODES:
        return StepResult(campaign_id, None, 0, 0, True)
    decision = decide(pacing_state(session, campaign, now), pacing_config(campaign))
    placed = refused = 0
    if decision.calls > 0:
        for lead in select_leads(session, campaign, decision.calls, now):
            if recheck_before_dial(session, lead, now) is not None:
                refused += 1
                continue
            attempt = start_attempt(session, lead, now)
            interaction = call_placer().place_call(
                session,
                OutboundCall(
                    to=lead.phone,
                    agent_id=None,
                    customer_id=lead.customer_id,
                    caller_id=campaign.caller_id,
                    machine_detection=True,
                    dialer=DialerCallRef(campaign.id, lead.id, attempt.id),
                ),
            )
            attempt.interaction_id = interaction.id
            placed += 1
    log.debug("campaign %s: %s, placed %s", campaign_id, decision, placed)
    return StepResult(campaign_id, decision, placed, refused, True)


def run_dialer(now: dt.datetime | None = None) -> list[StepResult]:
    """A step for every active progressive/predictive campaign whose lease this process
    holds (or takes), each in its own transaction. Needs an app context."""
    from hub.db import db

    engine = db.engine
    with db.transaction() as session:
        ids = list(
            session.scalars(
                select(Campaign.id).where(
                    Campaign.status == "active", Campaign.dialer_mode.in_(DIALLED_MODES)
                )
            )
        )
    out = []
    for campaign_id in ids:
        # The lease first, on its own connection (outside the step's transaction).
        if leases.try_acquire(engine, lease_name(campaign_id), holder(), LEASE_TTL) is None:
            out.append(StepResult(campaign_id, None, 0, 0, False))
            continue
        try:
            with db.transaction() as session:
                out.append(dial_step(session, campaign_id, now))
        except Exception:
            log.exception("dialer step of campaign %s failed", campaign_id)
    return out


@shared_task(name="campaigns.dialer_tick", ignore_result=True)
def dialer_tick_task() -> int:
    return sum(r.placed for r in run_dialer())


# ----------------------------------------------------------------------------- the calls


class CampaignDialer:
    """The hub's dialer handler (see :class:`hub.ports.DialerHandler`)."""

    def may_dial(self, session: Session, ref: DialerCallRef) -> bool:
        now = utcnow()
        attempt = session.get(LeadAttempt, ref.attempt_id)
        lead = session.get(Lead, ref.lead_id)
        campaign = session.get(Campaign, ref.campaign_id)
        if attempt is None or lead is None or campaign is None:
            return False
        if attempt.outcome != "dialling":
            return False
        reason = None
        if campaign.status != "active":
            reason = "campaign_inactive"
        else:
            reason = dnc_listing(session, lead.phone, campaign.id)
        customer = session.get(Customer, lead.customer_id) if lead.customer_id else None
        if reason is None and customer is not None and customer.no_calls:
            reason = "no_calls_consent"
        if reason is None:
            return True
        finish_attempt(session, attempt, now, outcome="cancelled")
        lead.refused_reason = reason
        lead.refused_at = now
        if reason != "campaign_inactive":
            lead.state = "refused"
            lead.next_attempt_at = None
        log.info("dial of lead %s refused at the last moment: %s", lead.id, reason)
        return False

    def on_answered(
        self, session: Session, ref: DialerCallRef, interaction_id: int, *, final: bool
    ) -> AnswerAction:
        now = utcnow()
        attempt = session.get(LeadAttempt, ref.attempt_id)
        campaign = session.get(Campaign, ref.campaign_id)
        if attempt is None or campaign is None or attempt.ended_at is not None:
            return AnswerAction("hangup")
        if attempt.answered_at is None:
            attempt.answered_at = now
        if attempt.connected_at is not None:
            return AnswerAction("connect", attempt.agent_id)
        agent_id = _connect_to_free_agent(session, campaign, interaction_id, now)
        if agent_id is not None:
            attempt.connected_at = now
            attempt.agent_id = agent_id
            finish_attempt(session, attempt, now, outcome="answered")
            return AnswerAction("connect", agent_id)
        if not final and now - attempt.answered_at < CONNECT_WINDOW:
            return AnswerAction("wait")
        finish_attempt(session, attempt, now, outcome="abandoned", abandoned=True)
        interaction = session.get(Interaction, interaction_id)
        if interaction is not None:
            if interaction.status != "abandoned":
                interaction.status = "closed"
            interaction.summary = f"call to {interaction.to_address}: abandoned (no agent free)"
        return AnswerAction("abandon")

    def on_amd(self, session: Session, ref: DialerCallRef, answered_by: str) -> bool:
        attempt = session.get(LeadAttempt, ref.attempt_id)
        if attempt is None:
            return False
        attempt.amd_result = answered_by
        if answered_by not in MACHINE_VERDICTS:
            return False
        if attempt.ended_at is None and attempt.outcome in ("dialling", "answered"):
            finish_attempt(session, attempt, utcnow(), outcome="machine", amd_result=answered_by)
        return True

    def on_ended(self, session: Session, ref: DialerCallRef, status: str) -> None:
        now = utcnow()
        attempt = session.get(LeadAttempt, ref.attempt_id)
        if attempt is None:
            return
        if attempt.outcome == "answered":
            attempt.ended_at = attempt.ended_at or now  # the talk is over
            return
        if attempt.outcome != "dialling":
            return  # already ended (machine, abandoned, cancelled)
        outcome = {
            "busy": "busy",
            "no-answer": "no_answer",
            "failed": "failed",
            "canceled": "cancelled",
        }.get(status, "no_answer")
        if status == "completed" and attempt.answered_at is not None:
            # Answered, never connected, and the callee hung up inside the window.
            finish_attempt(session, attempt, now, outcome="abandoned", abandoned=True)
            return
        finish_attempt(session, attempt, now, outcome=outcome)


def _connect_to_free_agent(
    session: Session, campaign: Campaign, interaction_id: int, now: dt.datetime
) -> int | None:
    """Offer the call to the longest-idle available agent of the campaign and accept it on
    their behalf. Returns the agent's id, or None when nobody is free."""
    from hub.routing import (
        do_abandon_interaction,
        do_accept_offer,
        do_enqueue_interaction,
        route_pending,
    )

    if campaign.queue_id is None:
        log.warning("campaign %s has no queue: answered calls cannot reach agents", campaign.id)
        return None
    ids = campaign_agent_ids(session, campaign.id)
    if not ids:
        return None
    pending = select(Offer.agent_id).where(Offer.status == "pending")
    candidates = list(
        session.scalars(
            select(AgentStatus.user_id)
            .where(
                AgentStatus.user_id.in_(ids),
                AgentStatus.state == "available",
                AgentStatus.user_id.not_in(pending),
            )
            .order_by(AgentStatus.idle_since, AgentStatus.user_id)
            .execution_options(populate_existing=True)
        )
    )
    interaction = session.get(Interaction, interaction_id)
    queue = session.get(Queue, campaign.queue_id)
    if not candidates or interaction is None or queue is None:
        return None
    from hub.models import QueueEntry

    entry = session.get(QueueEntry, interaction_id)
    if entry is None:
        entry = do_enqueue_interaction(session, interaction, queue, now=now)
    for agent_id in candidates:
        entry.target_agent_id = agent_id
        session.flush()
        offers = route_pending(session, now=now)
        if any(o.interaction_id == interaction_id for o in offers):
            agent = session.get(User, agent_id)
            assert agent is not None
            do_accept_offer(session, agent, interaction_id, now=now)
            return agent_id
    # Nobody could take it after all: it must not wait in the queue for someone later.
    do_abandon_interaction(session, interaction_id, now=now)
    return None


def init_dialer(app: Flask) -> None:
    """Register the dialer handler and schedule the loop on Celery beat."""
    from hub.ports import register_dialer_handler

    register_dialer_handler(app, CampaignDialer())
    celery_app: Any = app.extensions.get("celery")
    if celery_app is None or celery_app.conf.task_always_eager:
        # The embedded default has no beat: the all-in-one process's tick paces the
        # campaigns (every SWITCHBOARD_TICK_SECONDS instead of every DIALER_SECONDS).
        from hub.tasks import register_tick_step

        register_tick_step(app, "dialer_steps", lambda now: len(run_dialer(now)))
    if celery_app is not None:
        schedule = dict(celery_app.conf.beat_schedule or {})
        schedule["campaigns-dialer"] = {"task": "campaigns.dialer_tick", "schedule": DIALER_SECONDS}
        celery_app.conf.beat_schedule = schedule
        routes = dict(celery_app.conf.task_routes or {})
        routes.setdefault("campaigns.dialer_tick", {"queue": "dialer"})
        celery_app.conf.task_routes = routes
