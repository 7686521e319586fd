"""The call's life on our side: the call-status state machine, the IVR stages, and the
actions the webhooks and tasks call. Nothing here commits: the request (or the task's
transaction) does.

Twilio's call status moves only forwards (:data:`STATUS_RANK`): callbacks that arrive late,
twice or out of order never undo a later state; the first final status wins. Facts a late
callback carries (the moment of answer, the duration) are still recorded.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from channels.twilio_voice.config import Menu, VoiceConfig
from channels.twilio_voice.models import VoiceCall, VoiceRecording
from crm_core.db import utcnow
from crm_core.events import DomainEvent, publish_on_commit
from crm_core.models import Interaction
from hub.ports import DialerCallRef

log = logging.getLogger(__name__)

STATUS_RANK = {
    "queued": 0,
    "initiated": 0,
    "ringing": 1,
    "in-progress": 2,
    "completed": 3,
    "busy": 3,
    "no-answer": 3,
    "failed": 3,
    "canceled": 3,
}
FINAL_STATUSES = frozenset(s for s, r in STATUS_RANK.items() if r == 3)
# Our stages of a customer's leg, and which may follow which.
STAGE_TRANSITIONS: dict[str, frozenset[str]] = {
    "menu": frozenset({"queued", "voicemail", "ended"}),
    "queued": frozenset({"connected", "ended"}),
    "voicemail": frozenset({"ended"}),
    "dialing": frozenset({"connected", "ended"}),
    "connected": frozenset({"ended"}),
    "ended": frozenset(),
}

VOICE_CALL_UPDATED = "voice.call_updated"
VOICE_RECORDING_ADDED = "voice.recording_added"
VOICE_DIAL_REQUESTED = "voice.dial_requested"
VOICE_AGENT_LEG_REQUESTED = "voice.agent_leg_requested"
VOICE_HANGUP_REQUESTED = "voice.hangup_requested"


def dialer_ref(interaction: Interaction | None) -> DialerCallRef | None:
    """The campaign call ``interaction`` belongs to (placed by a dialer), if any."""
    data = (interaction.payload or {}).get("dialer") if interaction is not None else None
    if not isinstance(data, dict):
        return None
    try:
        return DialerCallRef(
            int(data["campaign_id"]), int(data["lead_id"]), int(data["attempt_id"])
        )
    except (KeyError, TypeError, ValueError):
        return None


def conference_name(interaction_id: int) -> str:
    return f"sb-{interaction_id}"


def call_by_sid(session: Session, call_sid: str, *, lock: bool = False) -> VoiceCall | None:
    stmt = select(VoiceCall).where(VoiceCall.call_sid == call_sid)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def customer_leg(session: Session, interaction_id: int) -> VoiceCall | None:
    return session.scalar(
        select(VoiceCall)
        .where(VoiceCall.interaction_id == interaction_id, VoiceCall.leg == "customer")
        .order_by(VoiceCall.id)
        .limit(1)
    )


def _move_stage(call: VoiceCall, target: str) -> bool:
    if call.stage == target:
        return False
    if target not in STAGE_TRANSITIONS.get(call.stage, frozenset()):
        log.info("call %s: stage %s -> %s ignored", call.call_sid, call.stage, target)
        return False
    call.stage = target
    return True


def _seconds(start: dt.datetime | None, end: dt.datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, int((end - start).total_seconds()))


def call_summary(session: Session, interaction: Interaction) -> dict[str, Any]:
    """What the interaction shows about its call: status, times, queue, recordings."""
    legs = list(
        session.scalars(
            select(VoiceCall)
            .where(VoiceCall.interaction_id == interaction.id)
            .order_by(VoiceCall.id)
        )
    )
    main = next((c for c in legs if c.leg == "customer"), legs[0] if legs else None)
    recordings = list(
        session.scalars(
            select(VoiceRecording)
            .where(VoiceRecording.interaction_id == interaction.id)
            .order_by(VoiceRecording.id)
        )
    )
    out: dict[str, Any] = {}
    if main is not None:
        out.update(
            call_sid=main.call_sid,
            status=main.status,
            stage=main.stage,
            company_number=main.company_number,
            digits=main.digits,
            queue=main.queue_name,
            abandoned=main.abandoned,
            duration_seconds=main.duration_seconds,
            wait_seconds=main.wait_seconds,
            talk_seconds=main.talk_seconds,
            hold_seconds=main.hold_seconds,
            recording_mode=main.recording_mode,
        )
    out["legs"] = [
        {"leg": c.leg, "call_sid": c.call_sid, "status": c.status, "agent_id": c.agent_id}
        for c in legs
    ]
    out["recordings"] = [
        {
            "recording_sid": r.recording_sid,
            "kind": r.kind,
            "duration_seconds": r.duration_seconds,
            "attachment_id": r.attachment_id,
        }
        for r in recordings
    ]
    return out


def refresh_interaction(session: Session, interaction: Interaction) -> None:
    """Mirror the call's facts into ``interaction.payload["call"]`` and publish the change."""
    session.flush()
    payload = dict(interaction.payload or {})
    payload["call"] = call_summary(session, interaction)
    interaction.payload = payload
    publish_on_commit(
        session,
        DomainEvent(
            VOICE_CALL_UPDATED,
            {
                "interaction_id": interaction.id,
                "customer_id": interaction.customer_id,
                "status": payload["call"].get("status"),
                "stage": payload["call"].get("stage"),
            },
        ),
    )


# --------------------------------------------------------------------------- IVR stages


def do_choose_queue(
    session: Session,
    call: VoiceCall,
    interaction: Interaction,
    queue_name: str,
    *,
    digits: str | None,
    cfg: VoiceConfig,
    now: dt.datetime | None = None,
) -> bool:
    """The caller chose (or was given) ``queue_name``: the call waits there for an agent.

    Idempotent: a retried menu answer finds the call queued already and changes nothing.
    """
    if not _move_stage(call, "queued"):
        return False
    now = now or utcnow()
    call.queue_name = queue_name
    call.digits = digits
    call.enqueued_at = now
    call.recording_mode = cfg.recording_mode(queue_name)
    call.conference = conference_name(interaction.id)
    from channels.twilio_voice import routing_link

    routing_link.enqueue(session, interaction, queue_name, now=now)
    refresh_interaction(session, interaction)
    return True


def do_start_voicemail(session: Session, call: VoiceCall, interaction: Interaction) -> bool:
    if not _move_stage(call, "voicemail"):
        return False
    refresh_interaction(session, interaction)
    return True


# --------------------------------------------------------------------------- status callbacks


def do_apply_status(
    session: Session,
    call: VoiceCall,
    status: str,
    *,
    at: dt.datetime,
    sequence: int | None = None,
    duration: int | None = None,
    menus: dict[str, Menu] | None = None,
) -> bool:
    """Apply one status callback to ``call``; True when the state moved.

    Never backwards, duplicates are no-ops, the first final status wins.
    """
    interaction = session.get(Interaction, call.interaction_id)
    if interaction is None:  # pragma: no cover - the FK cascades; a race with a delete
        return False
    old = STATUS_RANK.get(call.status, 0)
    new = STATUS_RANK[status]
    late_fact = False
    if status == "in-progress" and call.started_at is None:
        call.started_at = at  # also when it arrives after the final status
        late_fact = old >= 3
    if old >= 3 or new <= old:
        # A late twin of the final callback may still carry the duration.
        late_duration = call.duration_seconds is None and duration is not None
        if status in FINAL_STATUSES and call.status in FINAL_STATUSES and late_duration:
            call.duration_seconds = duration
            late_fact = True
        if late_fact:
            refresh_interaction(session, interaction)
        return False
    call.status = status
    if sequence is not None:
        call.sequence = max(call.sequence or 0, sequence)
    if call.leg == "agent":
        _agent_leg_moved(session, call, interaction, status, at)
    elif status in FINAL_STATUSES:
        call.ended_at = at
        if duration is not None:
            call.duration_seconds = duration
        _customer_leg_ended(session, call, interaction, at, menus or {})
        ref = dialer_ref(interaction)
        if ref is not None:
            from hub.ports import dialer_handler

            handler = dialer_handler()
            if handler is not None:
                handler.on_ended(session, ref, status)
    refresh_interaction(session, interaction)
    return True


def _customer_leg_ended(
    session: Session,
    call: VoiceCall,
    interaction: Interaction,
    at: dt.datetime,
    menus: dict[str, Menu],
) -> None:
    from channels.twilio_voice import routing_link

    stage = call.stage
    if call.direction == "outbound":
        _move_stage(call, "ended")
        return
    if stage in ("menu", "queued"):
        # Hung up before an agent answered: abandoned (also in the IVR).
        call.abandoned = True
        call.wait_seconds = _seconds(call.enqueued_at or call.started_at or call.created_at, at)
        _move_stage(call, "ended")
        routing_link.abandon(session, interaction, now=at)
        menu = menus.get(call.company_number or "")
        if menu is not None and menu.callback_on_abandon and interaction.from_address:
            routing_link.callback_task(session, interaction)
    elif stage == "voicemail":
        _move_stage(call, "ended")
        interaction.ended_at = interaction.ended_at or at
        if not routing_link.is_enqueued(session, interaction):
            # No message (yet): the recording callback, if one comes, enqueues it.
            interaction.status = "closed"
    elif stage == "connected":
        call.talk_seconds = _seconds(call.answered_at, at)
        _move_stage(call, "ended")
        interaction.ended_at = interaction.ended_at or at
    else:
        _move_stage(call, "ended")
        interaction.ended_at = interaction.ended_at or at


def _agent_leg_moved(
    session: Session, call: VoiceCall, interaction: Interaction, status: str, at: dt.datetime
) -> None:
    main = customer_leg(session, interaction.id)
    if status == "in-progress":
        call.answered_at = call.answered_at or at
        interaction.agent_id = interaction.agent_id or call.agent_id
        interaction.started_at = interaction.started_at or at
        if main is not None and _move_stage(main, "connected"):
            main.answered_at = at
            main.agent_id = call.agent_id
            main.wait_seconds = _seconds(main.enqueued_at, at)
        if interaction.direction == "outbound":
            _move_stage(call, "connected")
            interaction.status = "active"
        return
    if status not in FINAL_STATUSES:
        return
    call.ended_at = at
    if call.answered_at is not None:
        call.talk_seconds = _seconds(call.answered_at, at)
    if interaction.direction == "outbound":
        # Click-to-call: the agent's leg is the call; it ends when the agent hangs up.
        _move_stage(call, "ended")
        interaction.ended_at = interaction.ended_at or at
        if interaction.status not in ("closed", "wrap_up"):
            interaction.status = "closed" if call.answered_at is None else "wrap_up"
        return
    if call.answered_at is None:
        log.warning("agent %s did not take call %s (%s)", call.agent_id, interaction.id, status)
        publish_on_commit(
            session,
            DomainEvent(
                "voice.agent_leg_failed",
                {"interaction_id": interaction.id, "agent_id": call.agent_id, "status": status},
            ),
        )
