# ruff: noqa: F811  (the voice fixtures are imported by name; pytest injects them)
"""The dialer against the local Twilio stand-in: the real app on a socket, the real Twilio
SDK (pointed at the stand-in) placing the calls, Twilio's callbacks signed with
RequestValidator. Nothing of ours is mocked."""

from __future__ import annotations

import datetime as dt
import random
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from campaigns.dialer import dial_step, run_dialer
from campaigns.models import Campaign, DncEntry, Lead, LeadAttempt
from campaigns.service import do_create_campaign, do_set_agents, do_set_status
from channels.twilio_voice.models import VoiceCall
from crm_core.models import Interaction, User
from hub.db import db
from hub.models import AgentStatus, Offer
from tests.factories import make_customer
from tests.integration.twilio_voice.conftest import (  # noqa: F401  (fixtures)
    ACCOUNT,
    ActAsTwilio,
    menus_file,
    standin,
    twilio,
    voice_app,
)
from tests.integration.twilio_voice.standin import TwilioStandIn
from tests.routing_helpers import available, make_agent, make_queue

CALLER_ID = "+48223070000"
DIALER = "/webhooks/twilio/voice/dialer"
AMD = "/webhooks/twilio/voice/dialer/amd"
STATUS = "/webhooks/twilio/voice/status"
# Mid-morning UTC on a weekday: inside the default calling window in Poland.
NOW = dt.datetime.now(dt.UTC).replace(hour=10, minute=0, second=0, microsecond=0)


def setup_campaign(app: Flask, *, agents: int, leads: int, mode: str) -> dict[str, Any]:
    with app.app_context():
        session = db.session
        queue = make_queue(session, "Outbound", channels=["voice"], wrap_up_seconds=15)
        users = [make_agent(session, (queue,)) for _ in range(agents)]
        campaign = do_create_campaign(
            session,
            fields={
                "name": "Autumn offer",
                "caller_id": CALLER_ID,
                "queue_id": queue.id,
                "dialer_mode": mode,
            },
        )
        do_set_agents(session, campaign, user_ids=[u.id for u in users])
        do_set_status(session, campaign, "active")
        phones = [f"+48601{100000 + i:06d}" for i in range(leads)]
        for phone in phones:
            customer = make_customer(session, phones=(phone,))
            session.add(
                Lead(
                    campaign_id=campaign.id,
                    customer_id=customer.id,
                    phone=phone,
                    state="pending",
                    priority=0,
                    attempts=0,
                )
            )
        session.commit()
        available(session, *users)
        return {"campaign_id": campaign.id, "agent_ids": [u.id for u in users], "phones": phones}


def in_flight(app: Flask, campaign_id: int) -> int:
    with app.app_context():
        return int(
            db.session.scalar(
                select(func.count())
                .select_from(LeadAttempt)
                .where(
                    LeadAttempt.campaign_id == campaign_id,
                    LeadAttempt.outcome == "dialling",
                    LeadAttempt.connected_at.is_(None),
                )
            )
            or 0
        )


def available_agents(app: Flask, agent_ids: list[int]) -> int:
    with app.app_context():
        return int(
            db.session.scalar(
                select(func.count())
                .select_from(AgentStatus)
                .where(AgentStatus.user_id.in_(agent_ids), AgentStatus.state == "available")
            )
            or 0
        )


def customer_legs(app: Flask) -> list[tuple[int, str | None, str | None]]:
    with app.app_context():
        return [
            (c.id, c.call_sid, c.to_number)
            for c in db.session.scalars(
                select(VoiceCall).where(VoiceCall.leg == "customer").order_by(VoiceCall.id)
            )
        ]


def step(app: Flask) -> int:
    with app.app_context():
        return sum(r.placed for r in run_dialer(NOW))


def twiml(body: bytes) -> ET.Element:
    root = ET.fromstring(body)
    assert root.tag == "Response"
    return root


def answer(twilio: ActAsTwilio, leg_id: int, sid: str, *, final: bool = False) -> ET.Element:
    path = f"{DIALER}?vc={leg_id}" + ("&final=1" if final else "")
    resp = twilio.post(path, {"CallSid": sid, "AccountSid": ACCOUNT, "CallStatus": "in-progress"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return twiml(resp.get_data())


def status(twilio: ActAsTwilio, leg_id: int, sid: str, value: str) -> None:
    resp = twilio.post(
        f"{STATUS}?vc={leg_id}&leg=customer",
        {"CallSid": sid, "AccountSid": ACCOUNT, "CallStatus": value, "SequenceNumber": "3"},
    )
    assert resp.status_code == 204, resp.get_data(as_text=True)


def test_progressive_never_more_calls_in_flight_than_available_agents(
    voice_app: Flask, twilio: ActAsTwilio, standin: TwilioStandIn
) -> None:
    s = setup_campaign(voice_app, agents=3, leads=12, mode="progressive")
    assert step(voice_app) == 3
    created = standin.calls_created()
    assert len(created) == 3
    form = created[0].form
    assert form["From"] == [CALLER_ID]
    assert form["MachineDetection"] == ["DetectMessageEnd"]
    assert form["AsyncAmd"] == ["true"]
    assert form["AsyncAmdStatusCallback"][0].startswith(twilio.base + AMD)
    assert form["StatusCallback"][0].startswith(twilio.base + STATUS)
    assert {f.form["To"][0] for f in created} <= set(s["phones"])

    # Nothing changed: no more calls.
    assert step(voice_app) == 0
    legs = customer_legs(voice_app)
    assert all(sid for _, sid, _ in legs)

    # One is answered by a person and handed to an agent; one rings out.
    root = answer(twilio, legs[0][0], legs[0][1])
    assert root.find("Dial/Conference") is not None
    status(twilio, legs[1][0], legs[1][1], "no-answer")
    for _ in range(3):
        step(voice_app)
        assert in_flight(voice_app, s["campaign_id"]) <= available_agents(voice_app, s["agent_ids"])
    # The freed line was used again: two calls ringing for the two agents still free.
    assert in_flight(voice_app, s["campaign_id"]) == 2
    assert len(standin.calls_created()) >= 4


def test_answered_call_is_offered_to_an_agent_with_the_lead(
    voice_app: Flask, twilio: ActAsTwilio, standin: TwilioStandIn
) -> None:
    s = setup_campaign(voice_app, agents=1, leads=2, mode="progressive")
    assert step(voice_app) == 1
    leg_id, sid, to = customer_legs(voice_app)[0]
    root = answer(twilio, leg_id, sid)
    assert root.find("Dial/Conference") is not None
    with voice_app.app_context():
        session = db.session
        attempt = session.scalars(select(LeadAttempt)).one()
        assert attempt.outcome == "answered" and attempt.connected_at is not None
        assert attempt.agent_id == s["agent_ids"][0] and not attempt.abandoned
        offer = session.scalars(select(Offer)).one()
        assert offer.agent_id == s["agent_ids"][0] and offer.status == "accepted"
        interaction = session.get(Interaction, attempt.interaction_id)
        lead = session.get(Lead, attempt.lead_id)
        assert interaction is not None and lead is not None
        assert interaction.customer_id == lead.customer_id and interaction.to_address == to
        assert session.get(AgentStatus, s["agent_ids"][0]).state == "busy"  # type: ignore[union-attr]
    # The agent's phone/browser is rung into the call's conference through the SDK.
    agent_calls = [c for c in standin.calls_created() if c.form["To"][0].startswith("client:")]
    assert agent_calls and agent_calls[0].form["To"] == [f"client:agent-{s['agent_ids'][0]}"]


def test_no_free_agent_within_the_window_is_abandoned_with_the_message(
    voice_app: Flask, twilio: ActAsTwilio, standin: TwilioStandIn
) -> None:
    s = setup_campaign(voice_app, agents=2, leads=4, mode="progressive")
    assert step(voice_app) == 2
    (leg1, sid1, _), (leg2, sid2, _) = customer_legs(voice_app)[:2]
    # The first answer takes one agent; the other agent goes on a break meanwhile.
    assert answer(twilio, leg1, sid1).find("Dial/Conference") is not None
    with voice_app.app_context():
        from hub.agents import do_set_agent_state

        session = db.session
        other = session.get(User, s["agent_ids"][1])
        assert other is not None
        do_set_agent_state(session, other, "break", actor=other, pause_code="coffee")
        session.commit()
    held = answer(twilio, leg2, sid2)
    assert held.find("Pause") is not None and held.find("Redirect") is not None
    assert "final=1" in (held.find("Redirect").text or "")  # type: ignore[union-attr]
    final = answer(twilio, leg2, sid2, final=True)
    assert final.find("Say") is not None or final.find("Play") is not None
    assert final.find("Hangup") is not None
    with voice_app.app_context():
        session = db.session
        attempts = list(session.scalars(select(LeadAttempt).order_by(LeadAttempt.id)))
        assert [a.abandoned for a in attempts] == [False, True]
        assert attempts[1].outcome == "abandoned" and attempts[1].answered_at is not None
        lead = session.get(Lead, attempts[1].lead_id)
        assert lead is not None and lead.last_abandoned_at is not None


def test_machine_is_hung_up_and_recorded(
    voice_app: Flask, twilio: ActAsTwilio, standin: TwilioStandIn
) -> None:
    setup_campaign(voice_app, agents=1, leads=1, mode="progressive")
    assert step(voice_app) == 1
    leg_id, sid, _ = customer_legs(voice_app)[0]
    resp = twilio.post(
        f"{AMD}?vc={leg_id}",
        {"CallSid": sid, "AccountSid": ACCOUNT, "AnsweredBy": "machine_end_beep"},
    )
    assert resp.status_code == 204
    hangups = [
        r for r in standin.received if r.method == "POST" and r.path.endswith(f"/Calls/{sid}.json")
    ]
    assert hangups and hangups[0].form["Status"] == ["completed"]
    with voice_app.app_context():
        attempt = db.session.scalars(select(LeadAttempt)).one()
        assert attempt.outcome == "machine" and attempt.amd_result == "machine_end_beep"


def test_no_call_to_a_number_put_on_the_dnc_list_between_selection_and_dial(
    voice_app: Flask, standin: TwilioStandIn
) -> None:
    s = setup_campaign(voice_app, agents=3, leads=3, mode="progressive")
    listed_early, listed_late = s["phones"][0], s["phones"][1]
    with voice_app.app_context():
        session = db.session
        session.add(DncEntry(number=listed_early, campaign_id=None, source="manual"))
        session.commit()
        result = dial_step(session, s["campaign_id"], NOW)
        # Selected and checked; now, before the commit that lets the channel dial, the
        # second number goes on the campaign's list.
        session.add(DncEntry(number=listed_late, campaign_id=s["campaign_id"], source="manual"))
        session.commit()
    assert result.placed == 2  # the early one was refused at selection
    dialled = [c.form["To"][0] for c in standin.calls_created()]
    assert dialled == [s["phones"][2]]
    with voice_app.app_context():
        session = db.session
        leads = {lead.phone: lead for lead in session.scalars(select(Lead))}
        assert leads[listed_early].refused_reason == "dnc_global"
        assert leads[listed_late].refused_reason == "dnc_campaign"
        assert leads[listed_late].state == "refused"
        late = session.scalars(select(LeadAttempt).where(LeadAttempt.phone == listed_late)).one()
        assert late.outcome == "cancelled"


def seed_history(app: Flask, campaign_id: int, *, dials: int = 400) -> None:
    """Finished attempts of the last days, as the issue's model would produce them, so that
    the predictive pacer has statistics to work from."""
    rng = random.Random(3)
    with app.app_context():
        session = db.session
        lead = session.scalars(select(Lead).where(Lead.campaign_id == campaign_id)).first()
        assert lead is not None
        start = NOW - dt.timedelta(days=1)
        for i in range(dials):
            t0 = start + dt.timedelta(seconds=30 * i)
            u = rng.random()
            row: dict[str, Any] = {
                "outcome": "no_answer",
                "ended_at": t0 + dt.timedelta(seconds=25),
            }
            if u < 0.05:
                row = {"outcome": "busy", "ended_at": t0 + dt.timedelta(seconds=3)}
            elif u < 0.35:
                ring = dt.timedelta(seconds=min(24.0, rng.lognormvariate(1.97, 0.47)))
                if rng.random() < 0.15:
                    row = {"outcome": "machine", "answered_at": t0 + ring, "ended_at": t0 + ring}
                else:
                    talk = dt.timedelta(seconds=rng.lognormvariate(4.68, 0.47))
                    row = {
                        "outcome": "answered",
                        "answered_at": t0 + ring,
                        "connected_at": t0 + ring,
                        "ended_at": t0 + ring + talk,
                    }
            session.add(
                LeadAttempt(
                    lead_id=lead.id,
                    campaign_id=campaign_id,
                    phone="+48601999999",
                    started_at=t0,
                    abandoned=False,
                    **row,
                )
            )
        session.commit()


def test_predictive_places_more_calls_than_agents_and_connects_answers(
    voice_app: Flask, twilio: ActAsTwilio, standin: TwilioStandIn
) -> None:
    s = setup_campaign(voice_app, agents=4, leads=40, mode="predictive")
    seed_history(voice_app, s["campaign_id"])
    placed = step(voice_app)
    assert placed > 4  # more calls than available agents
    legs = customer_legs(voice_app)
    assert len(legs) == placed == len(standin.calls_created())
    root = answer(twilio, legs[0][0], legs[0][1])
    assert root.find("Dial/Conference") is not None
    with voice_app.app_context():
        session = db.session
        connected = session.scalars(
            select(LeadAttempt).where(
                LeadAttempt.connected_at.is_not(None), LeadAttempt.phone != "+48601999999"
            )
        ).all()
        assert len(connected) == 1 and connected[0].agent_id in s["agent_ids"]


@pytest.mark.parametrize("mode", ["preview"])
def test_preview_campaign_is_never_dialled_by_the_loop(
    voice_app: Flask, standin: TwilioStandIn, mode: str
) -> None:
    setup_campaign(voice_app, agents=2, leads=2, mode=mode)
    assert step(voice_app) == 0
    assert standin.calls_created() == []
    with voice_app.app_context():
        campaign = db.session.scalars(select(Campaign)).one()
        assert campaign.dialer_mode == "preview"
