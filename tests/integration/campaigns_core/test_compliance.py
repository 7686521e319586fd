"""Do-not-call, consent and calling windows: table-driven over time zones.

No lead is selected or dialled outside the window in the callee's local time (in every
zone a number may ring in), across DST changes, on holidays, to a listed number or a
customer without consent, also when the list changes between selection and dial.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from campaigns.compliance import (
    callee_timezones,
    may_call,
    recheck_before_dial,
    select_leads,
)
from campaigns.dnc import do_add_dnc
from campaigns.leads import finish_attempt, start_attempt
from campaigns.models import CampaignHoliday, Lead
from campaigns.service import do_set_window_rules
from crm_core.errors import Conflict
from tests.integration.campaigns_core.helpers import active_campaign, add_lead, utc

BOISE_OR_LA = "+12085550100"  # area code 208: Mountain (Boise) and Pacific time
CHICAGO = "+13125550100"
WARSAW = "+48221234567"
KYIV = "+380441234567"
PHOENIX = "+15205550100"  # Arizona: no DST

# (case, number, UTC moment, expected refusal code or None). Default window 08:00-21:00.
WINDOW_CASES = [
    # Poland, winter (CET, UTC+1)
    ("pl winter before 8", WARSAW, utc(2026, 1, 15, 6, 59), "outside_window"),
    ("pl winter at 8", WARSAW, utc(2026, 1, 15, 7, 0), None),
    ("pl winter 20:59", WARSAW, utc(2026, 1, 15, 19, 59), None),
    ("pl winter at 21", WARSAW, utc(2026, 1, 15, 20, 0), "outside_window"),
    # Poland, spring DST change on Sunday 29 March 2026: 06:30 UTC is 07:30 the day
    # before (CET) and 08:30 on the day (CEST).
    ("pl day before DST 06:30Z", WARSAW, utc(2026, 3, 28, 6, 30), "outside_window"),
    ("pl DST day 06:30Z", WARSAW, utc(2026, 3, 29, 6, 30), None),
    ("pl DST day 19:30Z = 21:30", WARSAW, utc(2026, 3, 29, 19, 30), "outside_window"),
    # Poland, autumn change on Sunday 25 October 2026: back to CET.
    ("pl autumn day before 06:30Z", WARSAW, utc(2026, 10, 24, 6, 30), None),
    ("pl autumn DST day 06:30Z", WARSAW, utc(2026, 10, 25, 6, 30), "outside_window"),
    # Ukraine (EET, UTC+2 / EEST, UTC+3)
    ("ua winter 05:59Z", KYIV, utc(2026, 1, 15, 5, 59), "outside_window"),
    ("ua winter 06:00Z", KYIV, utc(2026, 1, 15, 6, 0), None),
    ("ua winter 18:59Z", KYIV, utc(2026, 1, 15, 18, 59), None),
    ("ua winter 19:00Z", KYIV, utc(2026, 1, 15, 19, 0), "outside_window"),
    ("ua summer 05:00Z", KYIV, utc(2026, 7, 15, 5, 0), None),
    ("ua summer 18:00Z", KYIV, utc(2026, 7, 15, 18, 0), "outside_window"),
    # USA: Chicago's DST starts Sunday 8 March 2026.
    ("chicago before DST 13:30Z", CHICAGO, utc(2026, 3, 7, 13, 30), "outside_window"),
    ("chicago DST day 13:30Z", CHICAGO, utc(2026, 3, 8, 13, 30), None),
    # Arizona keeps MST: the same UTC moment differs from Denver in summer.
    ("phoenix summer 14:59Z", PHOENIX, utc(2026, 7, 15, 14, 59), "outside_window"),
    ("phoenix summer 15:00Z", PHOENIX, utc(2026, 7, 15, 15, 0), None),
    # Area code 208 rings in Boise (UTC-7) and Los Angeles (UTC-8): the window must hold
    # in both, so it opens at 08:00 Pacific and closes at 21:00 Mountain.
    ("208 open in Boise only", BOISE_OR_LA, utc(2026, 1, 15, 15, 30), "outside_window"),
    ("208 open in both", BOISE_OR_LA, utc(2026, 1, 15, 16, 0), None),
    ("208 20:59 Boise", BOISE_OR_LA, utc(2026, 1, 16, 3, 59), None),
    ("208 21:00 Boise, 20:00 LA", BOISE_OR_LA, utc(2026, 1, 16, 4, 0), "outside_window"),
]


def test_multi_zone_number_has_several_zones() -> None:
    names = sorted(z.key for z in callee_timezones(BOISE_OR_LA))
    assert names == ["America/Boise", "America/Los_Angeles"]
    assert [z.key for z in callee_timezones(WARSAW)] == ["Europe/Warsaw"]
    assert [z.key for z in callee_timezones(KYIV)] == ["Europe/Kyiv"]


def test_calling_window(session: Session) -> None:
    """Every row of ``WINDOW_CASES`` through ``may_call`` and ``select_leads``."""
    campaign = active_campaign(session)
    leads = {n: add_lead(session, campaign, n) for n in {c[1] for c in WINDOW_CASES}}
    failures = []
    for case, number, now, expected in WINDOW_CASES:
        lead = leads[number]
        lead.state, lead.next_attempt_at, lead.refused_reason = "pending", None, None
        refusal = may_call(session, lead, now, campaign)
        if (refusal.code if refusal else None) != expected:
            failures.append((case, refusal))
            continue
        # Selection obeys the same rule; a refused lead records why and when to try again.
        chosen = [c for c in select_leads(session, campaign, 10, now) if c.phone == number]
        if expected is None:
            assert [c.id for c in chosen] == [lead.id], case
            assert lead.state == "reserved", case
        else:
            assert chosen == [], case
            assert lead.refused_reason == expected, case
            assert lead.state == "pending", case
            assert lead.next_attempt_at is not None and lead.next_attempt_at > now, case
            # The rescheduled moment is itself inside the window in every zone.
            assert may_call(session, lead, lead.next_attempt_at, campaign) is None, case
        for other in leads.values():
            other.state, other.reserved_at = "pending", None
    assert failures == []


def test_region_rule_holiday_weekdays_and_customer_zone(session: Session) -> None:
    campaign = active_campaign(session, calling_days=[1, 2, 3, 4, 5])
    do_set_window_rules(
        session, campaign, [{"region": "UA", "start": dt.time(9, 0), "end": dt.time(20, 0)}]
    )
    session.add(CampaignHoliday(campaign_id=None, country="PL", day=dt.date(2026, 11, 11)))
    ua = add_lead(session, campaign, KYIV)
    pl = add_lead(session, campaign, WARSAW)
    # A Polish number whose customer lives in New York: the card's zone wins.
    abroad = add_lead(
        session, campaign, "+48601234567", customer_fields={"timezone": "America/New_York"}
    )
    session.flush()
    thursday_0630 = utc(2026, 1, 15, 6, 30)  # Kyiv 08:30: before the UA rule's 09:00
    assert may_call(session, ua, thursday_0630, campaign).code == "outside_window"  # type: ignore[union-attr]
    assert may_call(session, ua, utc(2026, 1, 15, 7, 0), campaign) is None
    assert may_call(session, ua, utc(2026, 1, 15, 18, 0), campaign).code == "outside_window"  # type: ignore[union-attr]
    # Saturday is not a calling day; 11 November is a Polish holiday.
    assert may_call(session, pl, utc(2026, 1, 17, 12, 0), campaign).code == "outside_window"  # type: ignore[union-attr]
    assert may_call(session, pl, utc(2026, 11, 11, 12, 0), campaign).code == "holiday"  # type: ignore[union-attr]
    assert may_call(session, pl, utc(2026, 11, 12, 12, 0), campaign) is None
    # 12:00 UTC is 13:00 in Warsaw but 07:00 in New York.
    assert may_call(session, abroad, utc(2026, 1, 15, 12, 0), campaign).code == "outside_window"  # type: ignore[union-attr]
    assert may_call(session, abroad, utc(2026, 1, 15, 13, 0), campaign) is None


DNC_CASES = [
    ("global list", "global", "dnc_global"),
    ("campaign list", "campaign", "dnc_campaign"),
    ("other campaign's list", "other", None),
    ("no calls consent", "consent", "no_calls_consent"),
]


@pytest.mark.parametrize(("case", "listing", "expected"), DNC_CASES)
def test_dnc_and_consent_between_selection_and_dial(
    session: Session, case: str, listing: str, expected: str | None
) -> None:
    campaign = active_campaign(session)
    other = active_campaign(session, name="Other")
    lead = add_lead(session, campaign, WARSAW)
    now = utc(2026, 1, 15, 10, 0)
    [chosen] = select_leads(session, campaign, 1, now)
    assert chosen.id == lead.id
    # The list (or the consent) changes after selection, before the dial.
    if listing == "global":
        do_add_dnc(session, "22 123 45 67", campaign_id=None, region="PL")
    elif listing == "campaign":
        do_add_dnc(session, WARSAW, campaign_id=campaign.id)
    elif listing == "other":
        do_add_dnc(session, WARSAW, campaign_id=other.id)
    else:
        from crm_core.models import Customer

        customer = session.get(Customer, lead.customer_id)
        assert customer is not None
        customer.no_calls = True
    session.flush()
    refusal = recheck_before_dial(session, lead, now)
    assert (refusal.code if refusal else None) == expected, case
    if expected is None:
        start_attempt(session, lead, now)
        assert lead.state == "in_call"
    else:
        assert lead.state == "refused" and lead.refused_reason == expected
        with pytest.raises(Conflict):
            start_attempt(session, lead, now)
        # And it is never selected again.
        assert select_leads(session, campaign, 5, now + dt.timedelta(days=1)) == []


def test_attempts_retry_interval_and_abandoned_rest(session: Session) -> None:
    campaign = active_campaign(session, max_attempts=2, min_retry_minutes=30)
    second = active_campaign(session, name="Second")
    lead = add_lead(session, campaign, WARSAW)
    twin = add_lead(session, second, WARSAW)  # the same number in another campaign
    t0 = utc(2026, 1, 15, 9, 0)
    [chosen] = select_leads(session, campaign, 1, t0)
    attempt = start_attempt(session, lead, t0)
    finish_attempt(session, attempt, t0 + dt.timedelta(minutes=1), outcome="no_answer")
    assert lead.state == "pending" and lead.attempts == 1
    # Not before the retry interval.
    assert select_leads(session, campaign, 1, t0 + dt.timedelta(minutes=20)) == []
    assert (
        may_call(session, lead, t0 + dt.timedelta(minutes=20), campaign, ignore_schedule=True).code
        == "retry_interval"
    )  # type: ignore[union-attr]
    t1 = t0 + dt.timedelta(minutes=31)
    [chosen] = select_leads(session, campaign, 1, t1)
    attempt = start_attempt(session, chosen, t1)
    finish_attempt(
        session, attempt, t1 + dt.timedelta(seconds=5), outcome="answered", abandoned=True
    )
    # Two attempts used: exhausted, never selected again.
    assert lead.state == "exhausted"
    assert select_leads(session, campaign, 1, t1 + dt.timedelta(days=5)) == []
    # The abandoned call rests the number for 72 h in the other campaign too.
    r = may_call(session, twin, t1 + dt.timedelta(hours=71), second)
    assert r is not None and r.code == "abandoned_recently"
    assert r.retry_at == t1 + dt.timedelta(hours=72)
    assert select_leads(session, second, 1, t1 + dt.timedelta(hours=71)) == []
    assert twin.refused_reason == "abandoned_recently"
    later = twin.next_attempt_at
    assert later is not None and later >= t1 + dt.timedelta(hours=72)
    [again] = select_leads(session, second, 1, later)
    assert again.id == twin.id


def test_no_lead_selected_outside_window_over_a_day(session: Session) -> None:
    """Sweep a whole day in 20-minute steps over a mixed list: every selected lead is in
    its window in every zone, and every in-window lead not on the list gets selected."""
    campaign = active_campaign(session, min_retry_minutes=1)
    numbers = [WARSAW, KYIV, CHICAGO, PHOENIX, BOISE_OR_LA, "+48601234567", "+380671234567"]
    leads = [add_lead(session, campaign, n) for n in numbers]
    do_add_dnc(session, "+48601234567", campaign_id=None)
    session.flush()
    moment = utc(2026, 3, 29, 0, 0)  # the European DST day
    seen: set[str] = set()
    while moment < utc(2026, 3, 30, 0, 0):
        for lead in select_leads(session, campaign, 10, moment):
            seen.add(lead.phone)
            for zone in callee_timezones(lead.phone):
                local = moment.astimezone(zone)
                assert dt.time(8) <= local.time() < dt.time(21), (lead.phone, zone, local)
            assert lead.phone != "+48601234567"
            lead.state = "pending"  # hand it back untouched for the next step
            lead.reserved_at = None
        moment += dt.timedelta(minutes=20)
    assert seen == set(numbers) - {"+48601234567"}
    assert next(x for x in leads if x.phone == "+48601234567").state == "refused"


def test_recheck_needs_a_reserved_lead(session: Session) -> None:
    campaign = active_campaign(session)
    lead = add_lead(session, campaign, WARSAW)
    with pytest.raises(Conflict):
        recheck_before_dial(session, lead, utc(2026, 1, 15, 10, 0))
    assert session.get(Lead, lead.id) is not None
    assert ZoneInfo("Europe/Warsaw")  # tzdata present
