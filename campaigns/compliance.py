"""Who may be called, and when: the compliance rules of outbound campaigns.

Every rule is checked when a lead is **selected** (:func:`select_leads`) and again
**immediately before the dial** (:func:`recheck_before_dial`), so a number put on the
do-not-call list, a customer who withdrew consent or a window that closed in between is
never dialled. A refusal is recorded on the lead (``refused_reason``, ``refused_at``):
permanent ones (DNC, consent, invalid number, attempts used up) take the lead out of the
campaign; temporary ones (outside the window, a holiday, the retry interval, the rest after
an abandoned call) push ``next_attempt_at`` to the first moment the rule allows.

The dialer's loop (``campaigns/dialer.py``) uses, in this order::

    leads = select_leads(session, campaign, n, now)            # reserved, checked
    for lead in leads:
        refusal = recheck_before_dial(session, lead, now)      # again, just before
        if refusal is None:
            attempt = start_attempt(session, lead, now)        # then place the call
    ...
    finish_attempt(session, attempt, now, outcome="no_answer")  # or answered/abandoned…

Nothing here commits; the caller's unit of work (request, task) does. Times are aware UTC.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as pn_timezone
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from campaigns.models import (
    Campaign,
    CampaignHoliday,
    DncEntry,
    Lead,
    LeadAttempt,
)
from crm_core.errors import N_, Conflict
from crm_core.models import Customer

DEFAULT_WINDOW = (dt.time(8, 0), dt.time(21, 0))
ALL_DAYS = (1, 2, 3, 4, 5, 6, 7)
# A reserved lead whose dial never started is handed back after this long.
RESERVATION_TTL = dt.timedelta(minutes=15)
# How far ahead the next allowed moment is searched (longer holidays: tried again then).
_SEARCH_HORIZON = dt.timedelta(days=14)
_SEARCH_STEP = dt.timedelta(minutes=15)

# code -> permanent?  The codes are what ``Lead.refused_reason`` holds.
REFUSALS: dict[str, bool] = {
    "campaign_inactive": False,
    "campaign_dates": False,
    "invalid_number": True,
    "dnc_global": True,
    "dnc_campaign": True,
    "no_calls_consent": True,
    "max_attempts": True,
    "unknown_timezone": True,
    "outside_window": False,
    "holiday": False,
    "retry_interval": False,
    "abandoned_recently": False,
    "not_due": False,
}


@dataclass(frozen=True)
class Refusal:
    """Why a lead may not be called now. ``retry_at``: the first moment the rule allows
    (None when permanent or unknown)."""

    code: str
    message: str
    retry_at: dt.datetime | None = None

    @property
    def permanent(self) -> bool:
        return REFUSALS[self.code]


# ------------------------------------------------------------------------- time zones


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@functools.lru_cache(maxsize=4096)
def _number_zone_names(e164: str) -> tuple[str, ...]:
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return ()
    names = pn_timezone.time_zones_for_number(number)
    return tuple(n for n in names if n != pn_timezone.UNKNOWN_TIMEZONE and _zone(n) is not None)


def callee_timezones(e164: str) -> list[ZoneInfo]:
    """The time zones a number may ring in (``phonenumbers.timezone``): one for most
    numbers, several for a region that spans zones (the window must hold in all of them);
    empty when unknown."""
    return [ZoneInfo(n) for n in _number_zone_names(e164)]


def number_region(e164: str) -> str | None:
    """ISO 3166 alpha-2 region of an E.164 number, or None."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.region_code_for_number(number)


def is_valid_e164(value: str) -> bool:
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(number) and (
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == value
    )


def lead_timezones(lead: Lead, customer: Customer | None) -> list[ZoneInfo]:
    """The customer's own zone when the card has one, else the number's zones."""
    if customer is not None:
        own = _zone(customer.timezone)
        if own is not None:
            return [own]
    return callee_timezones(lead.phone)


# ----------------------------------------------------------------------- the window


@dataclass(frozen=True)
class Window:
    start: dt.time
    end: dt.time
    days: tuple[int, ...]


def campaign_window(campaign: Campaign, region: str | None) -> Window:
    """The calling hours for a callee of ``region``: its rule if the campaign has one."""
    days = tuple(campaign.calling_days or ALL_DAYS)
    for rule in campaign.window_rules:
        if region and rule.region.upper() == region.upper():
            return Window(rule.start, rule.end, tuple(rule.weekdays or days))
    start = campaign.window_start or DEFAULT_WINDOW[0]
    end = campaign.window_end or DEFAULT_WINDOW[1]
    return Window(start, end, days)


def _holidays(
    session: Session, campaign: Campaign, countries: set[str | None]
) -> set[tuple[str | None, dt.date]]:
    rows = session.execute(
        select(CampaignHoliday.country, CampaignHoliday.day).where(
            or_(CampaignHoliday.campaign_id.is_(None), CampaignHoliday.campaign_id == campaign.id),
            or_(
                CampaignHoliday.country.is_(None),
                CampaignHoliday.country.in_([c for c in countries if c]),
            ),
        )
    ).all()
    return {(c, d) for c, d in rows}


def window_refusal(
    moment: dt.datetime,
    zones: Sequence[ZoneInfo],
    window: Window,
    holidays: set[tuple[str | None, dt.date]],
    country: str | None,
) -> str | None:
    """``outside_window`` / ``holiday`` if ``moment`` is not allowed in *every* zone."""
    for zone in zones:
        local = moment.astimezone(zone)
        day = local.date()
        if (None, day) in holidays or (country, day) in holidays:
            return "holiday"
        if local.isoweekday() not in window.days:
            return "outside_window"
        wall = local.time().replace(tzinfo=None)
        if not window.start <= wall < window.end:
            return "outside_window"
    return None


def next_window_opening(
    moment: dt.datetime,
    zones: Sequence[ZoneInfo],
    window: Window,
    holidays: set[tuple[str | None, dt.date]],
    country: str | None,
) -> dt.datetime | None:
    """The first quarter hour after ``moment`` when the window holds in every zone."""
    probe = moment.replace(second=0, microsecond=0)
    probe += dt.timedelta(minutes=15 - probe.minute % 15)
    limit = moment + _SEARCH_HORIZON
    while probe <= limit:
        if window_refusal(probe, zones, window, holidays, country) is None:
            return probe
        probe += _SEARCH_STEP
    return None


# ------------------------------------------------------------------------- may_call


def _messages() -> dict[str, str]:
    return {
        "campaign_inactive": N_("the campaign is not active"),
        "campaign_dates": N_("today is outside the campaign's dates"),
        "invalid_number": N_("the number is not a valid E.164 number"),
        "dnc_global": N_("the number is on the global do-not-call list"),
        "dnc_campaign": N_("the number is on this campaign's do-not-call list"),
        "no_calls_consent": N_("the customer does not want calls"),
        "max_attempts": N_("the maximum number of attempts is used up"),
        "unknown_timezone": N_("the callee's time zone is unknown"),
        "outside_window": N_("outside the calling hours in the callee's time zone"),
        "holiday": N_("a holiday in the callee's time zone"),
        "retry_interval": N_("the minimum interval between attempts has not passed"),
        "abandoned_recently": N_("an abandoned call to this number is too recent"),
        "not_due": N_("the lead is not due yet"),
    }


def _refuse(code: str, retry_at: dt.datetime | None = None) -> Refusal:
    return Refusal(code, _messages()[code], retry_at)


def dnc_listing(session: Session, number: str, campaign_id: int | None) -> str | None:
    """``dnc_global`` / ``dnc_campaign`` when ``number`` is listed, else None."""
    rows = session.execute(
        select(DncEntry.campaign_id).where(
            DncEntry.number == number,
            or_(DncEntry.campaign_id.is_(None), DncEntry.campaign_id == campaign_id),
        )
    ).all()
    if any(r[0] is None for r in rows):
        return "dnc_global"
    return "dnc_campaign" if rows else None


def may_call(
    session: Session,
    lead: Lead,
    now: dt.datetime,
    campaign: Campaign | None = None,
    *,
    ignore_schedule: bool = False,
) -> Refusal | None:
    """None when ``lead`` may be dialled at ``now``; otherwise the first rule that forbids
    it. Pure apart from reads; records nothing (see :func:`check_and_record`).

    Checks, in order: campaign active and within its dates; a valid E.164 number; the
    global and the campaign's do-not-call list; the customer's "no calls" consent; the
    attempts used; the minimum retry interval; the rest after an abandoned call to this
    number (in any campaign); the calling window and holidays in the callee's local time,
    in every zone the callee may be in. ``ignore_schedule`` skips ``next_attempt_at``
    (a callback called early by hand still obeys every other rule).
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    campaign = campaign or lead.campaign
    if campaign.status != "active":
        return _refuse("campaign_inactive")
    today = now.astimezone(dt.UTC).date()
    if (campaign.start_date and today < campaign.start_date) or (
        campaign.end_date and today > campaign.end_date
    ):
        return _refuse("campaign_dates")
    if not is_valid_e164(lead.phone):
        return _refuse("invalid_number")
    listed = dnc_listing(session, lead.phone, campaign.id)
    if listed:
        return _refuse(listed)
    customer = session.get(Customer, lead.customer_id) if lead.customer_id else None
    if customer is not None and customer.no_calls:
        return _refuse("no_calls_consent")
    if lead.attempts >= campaign.max_attempts:
        return _refuse("max_attempts")
    if not ignore_schedule and lead.next_attempt_at is not None and lead.next_attempt_at > now:
        return _refuse("not_due", lead.next_attempt_at)
    if lead.last_attempt_at is not None:
        earliest = lead.last_attempt_at + dt.timedelta(minutes=campaign.min_retry_minutes)
        if earliest > now:
            return _refuse("retry_interval", earliest)
    rest = dt.timedelta(hours=campaign.abandoned_no_redial_hours)
    last_abandoned = session.execute(
        select(LeadAttempt.started_at)
        .where(LeadAttempt.phone == lead.phone, LeadAttempt.abandoned.is_(True))
        .order_by(LeadAttempt.started_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    if lead.last_abandoned_at and (
        last_abandoned is None or lead.last_abandoned_at > last_abandoned
    ):
        last_abandoned = lead.last_abandoned_at
    if last_abandoned is not None and last_abandoned + rest > now:
        return _refuse("abandoned_recently", last_abandoned + rest)
    zones = lead_timezones(lead, customer)
    if not zones:
        return _refuse("unknown_timezone")
    country = (customer.country if customer and customer.country else None) or number_region(
        lead.phone
    )
    window = campaign_window(campaign, country)
    holidays = _holidays(session, campaign, {country})
    code = window_refusal(now, zones, window, holidays, country)
    if code is not None:
        return _refuse(code, next_window_opening(now, zones, window, holidays, country))
    return None


def record_refusal(lead: Lead, refusal: Refusal, now: dt.datetime) -> None:
    """Write ``refusal`` on the lead: permanent ones end it, temporary ones reschedule it."""
    lead.refused_reason = refusal.code
    lead.refused_at = now
    lead.reserved_at = None
    if refusal.permanent:
        lead.state = "exhausted" if refusal.code == "max_attempts" else "refused"
        lead.next_attempt_at = None
        return
    if lead.state in ("reserved", "in_call"):
        lead.state = "pending"
    if refusal.code != "not_due":
        lead.next_attempt_at = refusal.retry_at or (now + _SEARCH_HORIZON)


def check_and_record(
    session: Session, lead: Lead, now: dt.datetime, campaign: Campaign | None = None
) -> Refusal | None:
    """:func:`may_call`, and the refusal (if any) written on the lead."""
    refusal = may_call(session, lead, now, campaign)
    if refusal is not None:
        record_refusal(lead, refusal, now)
    return refusal


# ------------------------------------------------------------------ selecting leads


def release_stale_reservations(session: Session, campaign: Campaign, now: dt.datetime) -> int:
    """Hand back leads reserved longer than ``RESERVATION_TTL`` whose dial never started."""
    stale = session.scalars(
        select(Lead).where(
            Lead.campaign_id == campaign.id,
            Lead.state == "reserved",
            Lead.reserved_at < now - RESERVATION_TTL,
        )
    ).all()
    for lead in stale:
        lead.state = "pending"
        lead.reserved_at = None
    return len(stale)


def select_leads(
    session: Session,
    campaign: Campaign,
    n: int,
    now: dt.datetime,
    *,
    agent_id: int | None = None,
    team_ids: Sequence[int] = (),
    scan_limit: int | None = None,
) -> list[Lead]:
    """Reserve up to ``n`` leads of ``campaign`` that may be called at ``now``.

    Candidates are due leads (``pending`` or ``callback`` with ``next_attempt_at`` unset
    or past), callbacks first, then by priority and age. For an agent (preview mode),
    only leads assigned to them, to one of ``team_ids`` or to nobody; without an agent
    (the dialer), only leads assigned to nobody in particular, so personal callbacks wait
    for their agent. Each candidate passes :func:`may_call`; refused ones get the reason
    recorded and are skipped. Chosen leads become ``reserved`` (on PostgreSQL the rows
    are taken with ``FOR UPDATE SKIP LOCKED``, so two dialer nodes never pick the same
    lead). Scans at most ``scan_limit`` candidates (default ``20 * n``).
    """
    if n <= 0 or campaign.status != "active":
        return []
    release_stale_reservations(session, campaign, now)
    limit = scan_limit or max(20 * n, 50)
    stmt = select(Lead).where(
        Lead.campaign_id == campaign.id,
        Lead.state.in_(("pending", "callback")),
        or_(Lead.next_attempt_at.is_(None), Lead.next_attempt_at <= now),
    )
    if agent_id is None:
        stmt = stmt.where(Lead.assigned_agent_id.is_(None), Lead.assigned_team_id.is_(None))
    else:
        stmt = stmt.where(
            or_(Lead.assigned_agent_id == agent_id, Lead.assigned_agent_id.is_(None)),
            or_(
                Lead.assigned_team_id.is_(None),
                Lead.assigned_team_id.in_(list(team_ids)),
                Lead.assigned_agent_id == agent_id,
            ),
        )
    stmt = stmt.order_by(
        (Lead.state == "callback").desc(),
        (Lead.assigned_agent_id.is_not(None)).desc(),
        Lead.priority.desc(),
        Lead.next_attempt_at.is_(None),
        Lead.next_attempt_at,
        Lead.id,
    ).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=Lead)
    chosen: list[Lead] = []
    for lead in session.scalars(stmt):
        if len(chosen) >= n:
            break
        if check_and_record(session, lead, now, campaign) is not None:
            continue
        lead.state = "reserved"
        lead.reserved_at = now
        chosen.append(lead)
    session.flush()
    return chosen


def recheck_before_dial(
    session: Session, lead: Lead, now: dt.datetime, campaign: Campaign | None = None
) -> Refusal | None:
    """Every rule again, right before the dial (DNC and consent may have changed since
    selection). On a refusal the reason is recorded and the reservation released.

    Raises :class:`Conflict` when the lead is not reserved (it was never selected, or is
    already being dialled)."""
    session.refresh(lead)
    if lead.state != "reserved":
        raise Conflict(f"lead {lead.id} is {lead.state}, not reserved for a dial")
    return check_and_record(session, lead, now, campaign)


def release_lead(lead: Lead, now: dt.datetime) -> None:
    """Give a reserved lead back untouched (an agent skipped it without a reason that
    ends it, or the dialer found no free line)."""
    if lead.state == "reserved":
        lead.state = "pending"
        lead.reserved_at = None


def any_listed(session: Session, numbers: Sequence[str], campaign_id: int | None) -> set[str]:
    """Which of ``numbers`` are on the global or the campaign's do-not-call list."""
    if not numbers:
        return set()
    rows = session.scalars(
        select(DncEntry.number).where(
            DncEntry.number.in_(list(numbers)),
            or_(DncEntry.campaign_id.is_(None), DncEntry.campaign_id == campaign_id),
        )
    ).all()
    return set(rows)


__all__ = [
    "REFUSALS",
    "Refusal",
    "any_listed",
    "callee_timezones",
    "campaign_window",
    "check_and_record",
    "dnc_listing",
    "lead_timezones",
    "may_call",
    "next_window_opening",
    "recheck_before_dial",
    "record_refusal",
    "release_lead",
    "release_stale_reservations",
    "select_leads",
    "window_refusal",
]
