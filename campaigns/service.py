"""Campaign actions: create, change, start/pause/finish, agents, dispositions, lists built
from CRM segments. Actions validate, write, audit; the caller's unit of work commits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import phonenumbers
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from campaigns.models import (
    Campaign,
    CampaignAgent,
    CampaignList,
    CampaignWindowRule,
    Disposition,
    Lead,
)
from crm_core.errors import N_, InvalidTransition, NotFound, ValidationFailed
from crm_core.models import ContactPoint, Customer, Team, User, team_members
from crm_core.services import audit
from crm_core.services.segments import segment_stmt

STATUS_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "draft": ("active", "finished"),
    "active": ("paused", "finished"),
    "paused": ("active", "finished"),
    "finished": (),
}

# The dispositions every new campaign starts with (the supervisor may change them).
DEFAULT_DISPOSITIONS: tuple[dict[str, Any], ...] = (
    {"code": "sale", "label": N_("Sale"), "is_final": True, "is_success": True, "hotkey": "1"},
    {"code": "not_interested", "label": N_("Not interested"), "is_final": True, "hotkey": "2"},
    {"code": "callback", "label": N_("Call back"), "is_callback": True, "hotkey": "3"},
    {"code": "wrong_number", "label": N_("Wrong number"), "is_final": True, "hotkey": "4"},
    {"code": "no_answer", "label": N_("No answer"), "hotkey": "5"},
    {"code": "busy", "label": N_("Busy"), "retry_after_minutes": 15, "hotkey": "6"},
    {"code": "voicemail", "label": N_("Voicemail"), "hotkey": "7"},
    {
        "code": "do_not_call",
        "label": N_("Do not call"),
        "is_final": True,
        "is_dnc": True,
        "hotkey": "8",
    },
)

EDITABLE = (
    "name",
    "goal",
    "start_date",
    "end_date",
    "queue_id",
    "caller_id",
    "dialer_mode",
    "script_id",
    "survey_id",
    "window_start",
    "window_end",
    "calling_days",
    "max_attempts",
    "min_retry_minutes",
    "abandoned_no_redial_hours",
    "abandon_cap_pct",
    "budget",
    "currency",
    "cost_per_attempt",
    "cost_per_minute",
)


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} not found")
    return campaign


def snapshot(campaign: Campaign) -> dict[str, Any]:
    out: dict[str, Any] = {"id": campaign.id, "status": campaign.status}
    for name in EDITABLE:
        value = getattr(campaign, name)
        out[name] = value if value is None or isinstance(value, int | str | list) else str(value)
    return out


def normalize_caller_id(value: str | None) -> str | None:
    """A caller ID must be a valid number in E.164 (``+48221234567``)."""
    if value is None or value == "":
        return None
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValidationFailed(
            N_("the caller ID must be a number in E.164 (+48221234567)"), field="caller_id"
        ) from None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not phonenumbers.is_valid_number(number) or e164 != value:
        raise ValidationFailed(
            N_("the caller ID must be a number in E.164 (+48221234567)"), field="caller_id"
        )
    return e164


def _apply(campaign: Campaign, fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        if name not in EDITABLE:
            raise ValidationFailed(f"unknown field {name!r}", field=name)
        if name == "caller_id":
            value = normalize_caller_id(value)
        if name == "calling_days" and value is not None:
            days = sorted(set(value))
            if not days or any(d not in range(1, 8) for d in days):
                raise ValidationFailed(
                    N_("calling days are ISO weekdays 1 (Monday) to 7 (Sunday)"), field=name
                )
            value = days
        setattr(campaign, name, value)
    if (
        campaign.window_start
        and campaign.window_end
        and campaign.window_start >= campaign.window_end
    ):
        raise ValidationFailed(
            N_("the calling window must end after it starts"), field="window_end"
        )
    if campaign.start_date and campaign.end_date and campaign.start_date > campaign.end_date:
        raise ValidationFailed(N_("the end date is before the start date"), field="end_date")
    if campaign.max_attempts is not None and campaign.max_attempts < 1:
        raise ValidationFailed(N_("at least one attempt"), field="max_attempts")


def do_create_campaign(
    session: Session,
    *,
    fields: dict[str, Any],
    user_id: int | None = None,
    dispositions: Iterable[dict[str, Any]] | None = None,
) -> Campaign:
    """A new campaign in ``draft``, with the default window (08:00-21:00) and the default
    dispositions unless given."""
    if not (fields.get("name") or "").strip():
        raise ValidationFailed(N_("a campaign needs a name"), field="name")
    campaign = Campaign(
        status="draft",
        dialer_mode="preview",
        window_start=dt.time(8, 0),
        window_end=dt.time(21, 0),
        calling_days=[1, 2, 3, 4, 5, 6, 7],
        max_attempts=5,
        min_retry_minutes=60,
        abandoned_no_redial_hours=72,
        currency="PLN",
        created_by_id=user_id,
    )
    _apply(campaign, fields)
    session.add(campaign)
    for i, d in enumerate(dispositions if dispositions is not None else DEFAULT_DISPOSITIONS):
        campaign.dispositions.append(_disposition(d, i))
    session.flush()
    audit.record(
        session,
        user_id=user_id,
        action="campaign.created",
        entity_type="campaign",
        entity_id=campaign.id,
        after=snapshot(campaign),
    )
    return campaign


def do_update_campaign(
    session: Session, campaign: Campaign, *, fields: dict[str, Any], user_id: int | None = None
) -> Campaign:
    if campaign.status == "finished":
        raise InvalidTransition(N_("a finished campaign cannot be changed"))
    before = snapshot(campaign)
    _apply(campaign, fields)
    if campaign.status == "active":
        missing = start_blockers(session, campaign)
        if missing:
            raise ValidationFailed(
                N_("an active campaign needs: %(missing)s"),
                missing=", ".join(missing),
                field=missing[0],
                detail=[{"field": m, "message": f"{m} is missing"} for m in missing],
            )
    session.flush()
    audit.record(
        session,
        user_id=user_id,
        action="campaign.updated",
        entity_type="campaign",
        entity_id=campaign.id,
        before=before,
        after=snapshot(campaign),
    )
    return campaign


def agent_ids(session: Session, campaign: Campaign) -> set[int]:
    """Active users working the campaign: named agents plus members of assigned teams."""
    users = {a.user_id for a in campaign.agents if a.user_id is not None}
    teams = [a.team_id for a in campaign.agents if a.team_id is not None]
    if teams:
        users |= set(
            session.scalars(select(team_members.c.user_id).where(team_members.c.team_id.in_(teams)))
        )
    if not users:
        return set()
    return set(session.scalars(select(User.id).where(User.id.in_(users), User.active.is_(True))))


def start_blockers(session: Session, campaign: Campaign) -> list[str]:
    """What a campaign lacks to run: ``caller_id``, ``calling_window``, ``agents``."""
    missing = []
    if not campaign.caller_id:
        missing.append("caller_id")
    if not (campaign.window_start and campaign.window_end and campaign.calling_days):
        missing.append("calling_window")
    if not agent_ids(session, campaign):
        missing.append("agents")
    return missing


def do_set_status(
    session: Session, campaign: Campaign, status: str, *, user_id: int | None = None
) -> Campaign:
    """Move the campaign along ``STATUS_TRANSITIONS``; starting needs a caller ID, a
    calling window and at least one agent (422 naming each one missing)."""
    if status not in STATUS_TRANSITIONS:
        raise ValidationFailed(f"unknown status {status!r}", field="status")
    if status == campaign.status:
        return campaign
    if status not in STATUS_TRANSITIONS[campaign.status]:
        raise InvalidTransition(f"a {campaign.status} campaign cannot become {status}")
    if status == "active":
        missing = start_blockers(session, campaign)
        if missing:
            raise ValidationFailed(
                N_("the campaign cannot start without: %(missing)s"),
                missing=", ".join(missing),
                field=missing[0],
                detail=[{"field": m, "message": f"{m} is missing"} for m in missing],
            )
    before = campaign.status
    campaign.status = status
    if status == "finished":
        session.execute(
            update(Lead)
            .where(Lead.campaign_id == campaign.id, Lead.state == "reserved")
            .values(state="pending", reserved_at=None)
        )
    audit.record(
        session,
        user_id=user_id,
        action="campaign.status",
        entity_type="campaign",
        entity_id=campaign.id,
        before={"status": before},
        after={"status": status},
    )
    session.flush()
    return campaign


def do_set_agents(
    session: Session,
    campaign: Campaign,
    *,
    user_ids: Sequence[int] = (),
    team_ids: Sequence[int] = (),
    actor_id: int | None = None,
) -> Campaign:
    """Replace the campaign's agents and teams."""
    users = set(session.scalars(select(User.id).where(User.id.in_(list(user_ids)))))
    for uid in user_ids:
        if uid not in users:
            raise ValidationFailed(f"no user {uid}", field="user_ids")
    teams = set(session.scalars(select(Team.id).where(Team.id.in_(list(team_ids)))))
    for tid in team_ids:
        if tid not in teams:
            raise ValidationFailed(f"no team {tid}", field="team_ids")
    campaign.agents.clear()
    session.flush()
    for uid in dict.fromkeys(user_ids):
        campaign.agents.append(CampaignAgent(user_id=uid))
    for tid in dict.fromkeys(team_ids):
        campaign.agents.append(CampaignAgent(team_id=tid))
    if campaign.status == "active" and not agent_ids(session, campaign):
        raise ValidationFailed(N_("an active campaign needs at least one agent"), field="agents")
    session.flush()
    audit.record(
        session,
        user_id=actor_id,
        action="campaign.agents",
        entity_type="campaign",
        entity_id=campaign.id,
        after={"user_ids": sorted(set(user_ids)), "team_ids": sorted(set(team_ids))},
    )
    return campaign


def _disposition(data: dict[str, Any], position: int) -> Disposition:
    code = str(data.get("code") or "").strip()
    if not code:
        raise ValidationFailed(N_("a disposition needs a code"), field="dispositions")
    return Disposition(
        code=code,
        label=str(data.get("label") or code),
        is_final=bool(data.get("is_final", False)),
        is_success=bool(data.get("is_success", False)),
        is_dnc=bool(data.get("is_dnc", False)),
        is_callback=bool(data.get("is_callback", False)),
        hotkey=data.get("hotkey") or None,
        retry_after_minutes=data.get("retry_after_minutes"),
        position=position,
    )


def do_set_dispositions(
    session: Session,
    campaign: Campaign,
    items: Sequence[dict[str, Any]],
    *,
    user_id: int | None = None,
) -> list[Disposition]:
    """Replace the disposition set (codes and hotkeys unique within the campaign)."""
    codes = [str(i.get("code") or "") for i in items]
    if len(set(codes)) != len(codes):
        raise ValidationFailed(N_("disposition codes must be unique"), field="dispositions")
    keys = [i.get("hotkey") for i in items if i.get("hotkey")]
    if len(set(keys)) != len(keys):
        raise ValidationFailed(N_("hotkeys must be unique"), field="dispositions")
    if not items:
        raise ValidationFailed(
            N_("a campaign needs at least one disposition"), field="dispositions"
        )
    campaign.dispositions.clear()
    session.flush()
    for i, item in enumerate(items):
        campaign.dispositions.append(_disposition(item, i))
    session.flush()
    audit.record(
        session,
        user_id=user_id,
        action="campaign.dispositions",
        entity_type="campaign",
        entity_id=campaign.id,
        after={"codes": codes},
    )
    return list(campaign.dispositions)


def do_set_window_rules(
    session: Session, campaign: Campaign, rules: Sequence[dict[str, Any]]
) -> list[CampaignWindowRule]:
    """Replace the per-region calling hours (``region``, ``start``, ``end``, ``weekdays``)."""
    campaign.window_rules.clear()
    session.flush()
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        region = str(rule.get("region") or "").upper()
        if len(region) != 2 or region in seen:
            raise ValidationFailed(
                N_("each rule needs a distinct two-letter region"), field=f"rules.{i}"
            )
        seen.add(region)
        start, end = rule["start"], rule["end"]
        if start >= end:
            raise ValidationFailed(
                N_("the window must end after it starts"), field=f"rules.{i}.end"
            )
        campaign.window_rules.append(
            CampaignWindowRule(region=region, start=start, end=end, weekdays=rule.get("weekdays"))
        )
    session.flush()
    return list(campaign.window_rules)


# -------------------------------------------------------------------------- lists


def do_create_list(
    session: Session,
    campaign: Campaign,
    *,
    name: str,
    source: str,
    segment_id: int | None = None,
    agent_id: int | None = None,
    team_id: int | None = None,
    user_id: int | None = None,
) -> CampaignList:
    if not name.strip():
        raise ValidationFailed(N_("a list needs a name"), field="name")
    row = CampaignList(
        campaign_id=campaign.id,
        name=name.strip(),
        source=source,
        segment_id=segment_id,
        agent_id=agent_id,
        team_id=team_id,
        created_by_id=user_id,
    )
    session.add(row)
    session.flush()
    return row


def existing_phones(session: Session, campaign_id: int) -> set[str]:
    return set(session.scalars(select(Lead.phone).where(Lead.campaign_id == campaign_id)))


def do_build_list_from_segment(
    session: Session,
    campaign: Campaign,
    *,
    name: str,
    flt: dict[str, Any],
    segment_id: int | None = None,
    agent_id: int | None = None,
    team_id: int | None = None,
    user_id: int | None = None,
) -> tuple[CampaignList, dict[str, int]]:
    """A list of every customer the segment filter selects, one lead per customer (their
    primary phone, else the first). Returns the list and a tally: ``added``,
    ``no_phone`` (customers without a phone), ``already_in_campaign``."""
    customers_q = segment_stmt(session, flt).with_only_columns(Customer.id).order_by(None)
    ids = list(session.scalars(customers_q))
    phones: dict[int, str] = {}
    if ids:
        for chunk_start in range(0, len(ids), 5000):
            chunk = ids[chunk_start : chunk_start + 5000]
            rows = session.execute(
                select(ContactPoint.customer_id, ContactPoint.value)
                .where(ContactPoint.kind == "phone", ContactPoint.customer_id.in_(chunk))
                .order_by(ContactPoint.customer_id, ContactPoint.is_primary.desc(), ContactPoint.id)
            ).all()
            for cid, value in rows:
                phones.setdefault(cid, value)
    the_list = do_create_list(
        session,
        campaign,
        name=name,
        source="segment",
        segment_id=segment_id,
        agent_id=agent_id,
        team_id=team_id,
        user_id=user_id,
    )
    taken = existing_phones(session, campaign.id)
    tally = {"selected": len(ids), "added": 0, "no_phone": 0, "already_in_campaign": 0}
    rows_out = []
    for cid in ids:
        phone = phones.get(cid)
        if phone is None:
            tally["no_phone"] += 1
            continue
        if phone in taken:
            tally["already_in_campaign"] += 1
            continue
        taken.add(phone)
        rows_out.append(_lead_row(campaign.id, the_list, cid, phone))
    if rows_out:
        session.execute(insert(Lead), rows_out)
    tally["added"] = len(rows_out)
    audit.record(
        session,
        user_id=user_id,
        action="campaign.list_built",
        entity_type="campaign_list",
        entity_id=the_list.id,
        after=tally,
    )
    session.flush()
    return the_list, tally


def _lead_row(
    campaign_id: int, the_list: CampaignList, customer_id: int, phone: str
) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {
        "campaign_id": campaign_id,
        "list_id": the_list.id,
        "customer_id": customer_id,
        "phone": phone,
        "state": "pending",
        "priority": 0,
        "attempts": 0,
        "assigned_agent_id": the_list.agent_id,
        "assigned_team_id": the_list.team_id,
        "created_at": now,
        "updated_at": now,
    }


def lead_counts(session: Session, campaign_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Lead.state, func.count()).where(Lead.campaign_id == campaign_id).group_by(Lead.state)
    ).all()
    return {state: int(n) for state, n in rows}
