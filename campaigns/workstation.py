"""The telemarketer workstation in preview mode: the agent sees the next lead's card,
then dials it (through ``hub.ports.call_placer()``) or skips it with a reason, records a
disposition (hotkeys), may schedule a callback in the callee's time zone, and adds notes.

The lead shown is reserved by :func:`campaigns.compliance.select_leads` (every rule
checked) and remembered in the agent's session; the dial runs every rule again
(:func:`~campaigns.compliance.recheck_before_dial`), so a number listed meanwhile is not
dialled. JSON endpoints under ``/campaigns/<id>/workstation/…``; the page's script is
``static/workstation.js``. Writes go through the actions; the request commits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, jsonify, render_template, request, session
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import select

from campaigns import compliance, leads, service
from campaigns.models import Campaign, CampaignAgent, Lead
from crm_core.db import utcnow
from crm_core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from crm_core.models import team_members
from crm_core.services import audit
from crm_core.services.phones import format_phone
from hub.auth import current
from hub.cards import customer_card
from hub.db import db
from hub.errors import problem
from hub.ports import OutboundCall, call_placer

bp = Blueprint("workstation", __name__, template_folder="templates")

SKIP_REASONS = ("not_now", "wrong_data", "other")
_KEY = "campaign_ws_lead"


@bp.errorhandler(DomainError)
def _domain(exc: DomainError) -> Any:
    if request.path.endswith("/workstation"):
        raise exc
    return problem(exc.status_code, exc.code, exc.localized(_), field=exc.field)


def _my_campaign(campaign_id: int) -> Campaign:
    """The campaign, if the current user works it (directly or through a team)."""
    campaign = service.get_campaign(db.session, campaign_id)
    user = current()
    if user.is_supervisor:
        return campaign
    if user.id not in service.agent_ids(db.session, campaign):
        raise PermissionDenied(_("You do not work on this campaign."))
    return campaign


def _team_ids(user_id: int) -> list[int]:
    return list(
        db.session.scalars(select(team_members.c.team_id).where(team_members.c.user_id == user_id))
    )


def _held_lead(campaign: Campaign, lead_id: int) -> Lead:
    lead = db.session.get(Lead, lead_id)
    if lead is None or lead.campaign_id != campaign.id:
        raise NotFound(_("No such lead."))
    if session.get(_KEY) != lead_id:
        raise Conflict(_("This lead is not the one shown to you; take the next lead."))
    return lead


def _lead_json(lead: Lead, campaign: Campaign) -> dict[str, Any]:
    from flask import current_app

    region = current_app.extensions["switchboard.settings"].default_region
    customer = None
    if lead.customer_id:
        from crm_core.models import Customer

        customer = db.session.get(Customer, lead.customer_id)
    zones = compliance.lead_timezones(lead, customer)
    zone = zones[0].key if zones else "UTC"
    local = utcnow().astimezone(zones[0]) if zones else utcnow()
    return {
        "id": lead.id,
        "phone": lead.phone,
        "phone_display": format_phone(lead.phone, region),
        "attempts": lead.attempts,
        "state": lead.state,
        "notes": lead.notes or "",
        "timezone": zone,
        "timezones": [z.key for z in zones],
        "local_time": local.strftime("%H:%M"),
        "card": customer_card(db.session, lead.customer_id) if lead.customer_id else None,
    }


@bp.get("/campaigns/workstation")
@login_required
def choose() -> Any:
    user = current()
    ids = {a.campaign_id for a in db.session.scalars(select(CampaignAgent))}
    campaigns = [
        c
        for c in db.session.scalars(
            select(Campaign).where(Campaign.id.in_(ids)).order_by(Campaign.name)
        )
        if c.status == "active"
        and (user.is_supervisor or user.id in service.agent_ids(db.session, c))
    ]
    return render_template("campaigns/workstation_choose.html", campaigns=campaigns)


@bp.get("/campaigns/<int:campaign_id>/workstation")
@login_required
def page(campaign_id: int) -> Any:
    campaign = _my_campaign(campaign_id)
    strings = {
        "no_lead": _("No lead may be called now. Try again later."),
        "calling": _("Calling %(number)s…"),
        "refused": _("Not dialled: %(reason)s"),
        "saved": _("Saved."),
        "need_callback_time": _("Choose the date and time of the callback."),
        "error": _("Something went wrong; try again."),
        "attempts": _("Attempts: %(n)s"),
        "local_time": _("Callee's time: %(time)s (%(zone)s)"),
    }
    dispositions = [
        {"code": d.code, "label": _(d.label), "hotkey": d.hotkey or "", "callback": d.is_callback}
        for d in campaign.dispositions
    ]
    return render_template(
        "campaigns/workstation.html",
        campaign=campaign,
        strings=strings,
        dispositions=dispositions,
        skip_reasons={
            "not_now": _("Not now"),
            "wrong_data": _("Wrong data on the card"),
            "other": _("Other"),
        },
    )


@bp.post("/campaigns/<int:campaign_id>/workstation/next")
@login_required
def next_lead(campaign_id: int) -> Any:
    """The lead held by this agent, or the next one that may be called now."""
    campaign = _my_campaign(campaign_id)
    held = session.get(_KEY)
    if isinstance(held, int):
        lead = db.session.get(Lead, held)
        if (
            lead is not None
            and lead.campaign_id == campaign.id
            and lead.state in ("reserved", "in_call")
        ):
            return jsonify({"lead": _lead_json(lead, campaign)})
    user = current()
    chosen = compliance.select_leads(
        db.session, campaign, 1, utcnow(), agent_id=user.id, team_ids=_team_ids(user.id)
    )
    if not chosen:
        session.pop(_KEY, None)
        return jsonify({"lead": None})
    session[_KEY] = chosen[0].id
    return jsonify({"lead": _lead_json(chosen[0], campaign)})


@bp.post("/campaigns/<int:campaign_id>/workstation/leads/<int:lead_id>/dial")
@login_required
def dial(campaign_id: int, lead_id: int) -> Any:
    campaign = _my_campaign(campaign_id)
    lead = _held_lead(campaign, lead_id)
    now = utcnow()
    refusal = compliance.recheck_before_dial(db.session, lead, now, campaign)
    if refusal is not None:
        session.pop(_KEY, None)
        return jsonify({"dialled": False, "reason": refusal.code, "message": _(refusal.message)})
    user = current()
    attempt = leads.start_attempt(db.session, lead, now, agent_id=user.id)
    interaction = call_placer().place_call(
        db.session,
        OutboundCall(
            to=lead.phone,
            agent_id=user.id,
            customer_id=lead.customer_id,
            caller_id=campaign.caller_id,
        ),
    )
    interaction.campaign_id = campaign.id
    attempt.interaction_id = interaction.id
    return jsonify({"dialled": True, "attempt_id": attempt.id, "interaction_id": interaction.id})


@bp.post("/campaigns/<int:campaign_id>/workstation/leads/<int:lead_id>/skip")
@login_required
def skip(campaign_id: int, lead_id: int) -> Any:
    campaign = _my_campaign(campaign_id)
    lead = _held_lead(campaign, lead_id)
    data = request.get_json(silent=True) or {}
    reason = data.get("reason")
    if reason not in SKIP_REASONS:
        raise ValidationFailed(_("Choose why you skip this lead."), field="reason")
    if lead.state != "reserved":
        raise Conflict(_("The lead is already being called."))
    note = str(data.get("note") or "")[:500]
    now = utcnow()
    compliance.release_lead(lead, now)
    lead.next_attempt_at = now + dt.timedelta(minutes=max(campaign.min_retry_minutes, 1))
    line = f"[{now:%Y-%m-%d %H:%M} UTC] skipped: {reason}" + (f" — {note}" if note else "")
    lead.notes = f"{lead.notes}\n{line}" if lead.notes else line
    audit.record(
        db.session,
        user_id=current().id,
        action="campaign.lead_skipped",
        entity_type="campaign_lead",
        entity_id=lead.id,
        after={"reason": reason, "note": note or None},
    )
    session.pop(_KEY, None)
    return jsonify({"skipped": True})


@bp.post("/campaigns/<int:campaign_id>/workstation/leads/<int:lead_id>/disposition")
@login_required
def disposition(campaign_id: int, lead_id: int) -> Any:
    campaign = _my_campaign(campaign_id)
    lead = _held_lead(campaign, lead_id)
    data = request.get_json(silent=True) or {}
    code = str(data.get("code") or "")
    note = str(data.get("note") or "").strip()[:2000] or None
    local: dt.datetime | None = None
    raw_when = data.get("callback_at")
    if raw_when:
        try:
            local = dt.datetime.fromisoformat(str(raw_when)[:16])
        except ValueError:
            raise ValidationFailed(
                _("Enter the callback's date and time."), field="callback_at"
            ) from None
        if local.tzinfo is not None:
            local = local.replace(tzinfo=None)
    zone = str(data.get("callback_timezone") or "")
    if lead.state == "reserved":
        raise Conflict(_("Dial the lead (or skip it) before recording how the call ended."))
    leads.record_disposition(
        db.session,
        lead,
        code,
        utcnow(),
        agent_id=current().id,
        note=note,
        callback_local_time=local,
        callback_timezone=zone or None,
        callback_personal=bool(data.get("callback_personal", True)),
    )
    session.pop(_KEY, None)
    return jsonify(
        {
            "state": lead.state,
            "next_attempt_at": lead.next_attempt_at.isoformat() if lead.next_attempt_at else None,
        }
    )
