"""A lead's life after selection: attempts, their outcomes, dispositions and callbacks.

``start_attempt`` → (the call) → ``finish_attempt`` for calls that end without an agent
(no answer, busy, failed, machine, abandoned) or ``record_disposition`` when an agent
talked to the callee. Nothing here commits; the caller's unit of work does.
"""

from __future__ import annotations

import datetime as dt
import decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.models import Callback, Campaign, Disposition, DncEntry, Lead, LeadAttempt
from crm_core.errors import N_, Conflict, NotFound, ValidationFailed
from crm_core.services import audit

# Outcomes that end an attempt without an agent, and reschedule the lead.
NO_AGENT_OUTCOMES = ("no_answer", "busy", "failed", "machine", "abandoned", "cancelled")


def start_attempt(
    session: Session,
    lead: Lead,
    now: dt.datetime,
    *,
    agent_id: int | None = None,
    interaction_id: int | None = None,
    external_id: str | None = None,
) -> LeadAttempt:
    """Record the dial of a reserved lead (after :func:`~campaigns.compliance.recheck_before_dial`
    said yes). Counts the attempt; the lead is ``in_call`` until the attempt ends."""
    if lead.state != "reserved":
        raise Conflict(f"lead {lead.id} is {lead.state}; select and recheck it before dialling")
    campaign = lead.campaign
    attempt = LeadAttempt(
        lead_id=lead.id,
        campaign_id=lead.campaign_id,
        phone=lead.phone,
        agent_id=agent_id,
        interaction_id=interaction_id,
        external_id=external_id,
        started_at=now,
        outcome="dialling",
        abandoned=False,
        cost=campaign.cost_per_attempt,
    )
    session.add(attempt)
    lead.state = "in_call"
    lead.attempts += 1
    lead.last_attempt_at = now
    lead.reserved_at = None
    lead.refused_reason = None
    session.flush()
    return attempt


def _schedule_retry(lead: Lead, campaign: Campaign, now: dt.datetime, minutes: int | None) -> None:
    if lead.attempts >= campaign.max_attempts:
        lead.state = "exhausted"
        lead.next_attempt_at = None
        return
    lead.state = "pending"
    lead.next_attempt_at = now + dt.timedelta(minutes=minutes or campaign.min_retry_minutes)


def finish_attempt(
    session: Session,
    attempt: LeadAttempt,
    now: dt.datetime,
    *,
    outcome: str,
    answered_at: dt.datetime | None = None,
    connected_at: dt.datetime | None = None,
    amd_result: str | None = None,
    abandoned: bool = False,
) -> LeadAttempt:
    """End an attempt. ``outcome`` ``answered`` (an agent took it: the lead waits for the
    agent's disposition) or one of :data:`NO_AGENT_OUTCOMES` (the lead is rescheduled,
    or exhausted). ``abandoned=True`` (or outcome ``abandoned``) rests the number for the
    campaign's ``abandoned_no_redial_hours`` in every campaign."""
    if outcome not in ("answered", *NO_AGENT_OUTCOMES):
        raise ValidationFailed(f"unknown outcome {outcome!r}", field="outcome")
    lead = session.get(Lead, attempt.lead_id)
    if lead is None:
        raise NotFound(f"lead {attempt.lead_id} not found")
    campaign = lead.campaign
    abandoned = abandoned or outcome == "abandoned"
    attempt.outcome = "abandoned" if abandoned else outcome
    attempt.answered_at = answered_at or attempt.answered_at
    attempt.connected_at = connected_at or attempt.connected_at
    attempt.amd_result = amd_result or attempt.amd_result
    attempt.abandoned = abandoned
    ended = attempt.outcome != "answered"
    if ended:
        attempt.ended_at = now
    if campaign.cost_per_minute is not None and attempt.answered_at is not None:
        minutes = decimal.Decimal((now - attempt.answered_at).total_seconds()) / 60
        attempt.cost = (attempt.cost or decimal.Decimal(0)) + (
            campaign.cost_per_minute * minutes
        ).quantize(decimal.Decimal("0.0001"))
    if abandoned:
        lead.last_abandoned_at = now
    if ended:
        _schedule_retry(lead, campaign, now, None)
        if abandoned and lead.state == "pending":
            lead.next_attempt_at = max(
                lead.next_attempt_at or now,
                now + dt.timedelta(hours=campaign.abandoned_no_redial_hours),
            )
        lead.last_disposition = attempt.outcome
    session.flush()
    return attempt


def disposition_for(session: Session, campaign_id: int, code: str) -> Disposition:
    row = session.scalars(
        select(Disposition).where(Disposition.campaign_id == campaign_id, Disposition.code == code)
    ).first()
    if row is None:
        raise ValidationFailed(f"no disposition {code!r} in this campaign", field="disposition")
    return row


def callee_zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(f"unknown time zone {name!r}", field="timezone") from None


def schedule_callback(
    session: Session,
    lead: Lead,
    *,
    local_time: dt.datetime,
    timezone: str,
    personal_agent_id: int | None,
    note: str | None = None,
    user_id: int | None = None,
) -> Callback:
    """A callback at ``local_time`` (naive, the callee's wall clock) in ``timezone``; for
    ``personal_agent_id`` or anyone on the campaign (None). Stored as UTC."""
    if local_time.tzinfo is not None:
        raise ValidationFailed(N_("give the callee's local date and time"), field="due_at")
    zone = callee_zone(timezone)
    due = local_time.replace(tzinfo=zone).astimezone(dt.UTC)
    for row in session.scalars(
        select(Callback).where(Callback.lead_id == lead.id, Callback.status == "pending")
    ):
        row.status = "cancelled"
    callback = Callback(
        lead_id=lead.id,
        campaign_id=lead.campaign_id,
        due_at=due,
        timezone=timezone,
        agent_id=personal_agent_id,
        status="pending",
        note=note,
        created_by_id=user_id,
    )
    session.add(callback)
    lead.state = "callback"
    lead.next_attempt_at = due
    lead.assigned_agent_id = personal_agent_id
    lead.reserved_at = None
    session.flush()
    return callback


def record_disposition(
    session: Session,
    lead: Lead,
    code: str,
    now: dt.datetime,
    *,
    agent_id: int | None,
    attempt: LeadAttempt | None = None,
    note: str | None = None,
    callback_local_time: dt.datetime | None = None,
    callback_timezone: str | None = None,
    callback_personal: bool = True,
) -> Disposition:
    """The agent's verdict on a call: final ones close the lead, DNC ones list the number
    on the campaign's do-not-call list, callback ones need a time, the rest retry."""
    disposition = disposition_for(session, lead.campaign_id, code)
    campaign = lead.campaign
    if attempt is None:
        attempt = session.scalars(
            select(LeadAttempt)
            .where(LeadAttempt.lead_id == lead.id)
            .order_by(LeadAttempt.started_at.desc(), LeadAttempt.id.desc())
            .limit(1)
        ).first()
    if attempt is not None:
        attempt.disposition = code
        if attempt.ended_at is None:
            attempt.ended_at = now
            if attempt.outcome == "dialling":
                attempt.outcome = "answered"
    if note:
        lead.notes = f"{lead.notes}\n{note}" if lead.notes else note
    lead.last_disposition = code
    lead.reserved_at = None
    if disposition.is_dnc:
        exists = session.scalars(
            select(DncEntry).where(
                DncEntry.number == lead.phone, DncEntry.campaign_id == lead.campaign_id
            )
        ).first()
        if exists is None:
            session.add(
                DncEntry(
                    number=lead.phone,
                    campaign_id=lead.campaign_id,
                    reason=disposition.label,
                    source="disposition",
                    created_by_id=agent_id,
                )
            )
        lead.state = "refused"
        lead.refused_reason = "dnc_campaign"
        lead.next_attempt_at = None
    elif disposition.is_callback:
        if callback_local_time is None:
            raise ValidationFailed(N_("a callback needs a date and time"), field="callback_at")
        schedule_callback(
            session,
            lead,
            local_time=callback_local_time,
            timezone=callback_timezone or "UTC",
            personal_agent_id=agent_id if callback_personal else None,
            note=note,
            user_id=agent_id,
        )
    elif disposition.is_final:
        lead.state = "done"
        lead.next_attempt_at = None
    else:
        _schedule_retry(lead, campaign, now, disposition.retry_after_minutes)
    audit.record(
        session,
        user_id=agent_id,
        action="campaign.lead_disposition",
        entity_type="campaign_lead",
        entity_id=lead.id,
        after={"disposition": code, "state": lead.state},
    )
    session.flush()
    return disposition
