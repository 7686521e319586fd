"""Telemarketer workstation (preview) through its JSON endpoints: next lead, a number
listed after it was shown is not dialled, dial through the call port, dispositions,
a callback stored in UTC from the callee's local time, skip with a reason."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import select

from campaigns.dnc import do_add_dnc
from campaigns.models import Callback, Lead, LeadAttempt
from campaigns.service import do_create_campaign, do_set_agents, do_set_status
from crm_core.models import Interaction
from tests.factories import PASSWORD, make_customer, make_user
from tests.routing_helpers import Db


def _login(app: Flask, user: Any) -> Any:
    client = app.test_client()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code in (302, 303)
    return client


def test_preview_workstation_flow(app: Flask) -> None:
    db = Db(app)
    with db() as s:
        agent = make_user(s)
        outsider = make_user(s)
        campaign = do_create_campaign(
            s,
            fields={
                "name": "Preview",
                "caller_id": "+48223070000",
                "window_start": dt.time(0, 0),
                "window_end": dt.time(23, 59),
            },
        )
        do_set_agents(s, campaign, user_ids=[agent.id])
        do_set_status(s, campaign, "active")
        for i, name in enumerate(("Alicja", "Bogdan", "Celina", "Dorota")):
            c = make_customer(s, first_name=name, phones=(f"+4860123450{i}",))
            s.add(
                Lead(
                    campaign_id=campaign.id,
                    customer_id=c.id,
                    phone=f"+4860123450{i}",
                    state="pending",
                    priority=10 - i,
                    attempts=0,
                )
            )
        cid = campaign.id
    base = f"/campaigns/{cid}/workstation"
    assert _login(app, outsider).post(base + "/next").status_code == 403
    client = _login(app, agent)
    assert client.get(base).status_code == 200

    first = client.post(base + "/next").get_json()["lead"]
    assert first["card"]["name"].startswith("Alicja") and first["timezone"] == "Europe/Warsaw"
    # Asking again shows the same lead (it is held for this agent).
    assert client.post(base + "/next").get_json()["lead"]["id"] == first["id"]
    # A disposition before the dial is refused; so is another lead's dial.
    assert (
        client.post(base + f"/leads/{first['id']}/disposition", json={"code": "sale"}).status_code
        == 409
    )
    # The number is listed after the card was shown: the dial is refused, nothing placed.
    with db() as s:
        do_add_dnc(s, first["phone"], campaign_id=None)
    refused = client.post(base + f"/leads/{first['id']}/dial").get_json()
    assert refused == {"dialled": False, "reason": "dnc_global", "message": refused["message"]}

    second = client.post(base + "/next").get_json()["lead"]
    assert second["card"]["name"].startswith("Bogdan")
    dialled = client.post(base + f"/leads/{second['id']}/dial").get_json()
    assert dialled["dialled"] is True
    done = client.post(
        base + f"/leads/{second['id']}/disposition", json={"code": "sale", "note": "two units"}
    )
    assert done.status_code == 200 and done.get_json()["state"] == "done"

    third = client.post(base + "/next").get_json()["lead"]
    client.post(base + f"/leads/{third['id']}/dial")
    no_time = client.post(base + f"/leads/{third['id']}/disposition", json={"code": "callback"})
    assert no_time.status_code == 422
    cb = client.post(
        base + f"/leads/{third['id']}/disposition",
        json={
            "code": "callback",
            "callback_at": "2030-07-01T18:30",
            "callback_timezone": "Europe/Warsaw",
        },
    )
    assert cb.status_code == 200 and cb.get_json()["state"] == "callback"

    fourth = client.post(base + "/next").get_json()["lead"]
    skipped = client.post(base + f"/leads/{fourth['id']}/skip", json={"reason": "not_now"})
    assert skipped.status_code == 200
    assert client.post(base + "/next").get_json()["lead"] is None

    with db() as s:
        a, b, c, d = (s.get(Lead, x["id"]) for x in (first, second, third, fourth))
        assert a.state == "refused" and a.attempts == 0
        assert b.state == "done" and b.last_disposition == "sale" and "two units" in (b.notes or "")
        attempt = s.scalars(select(LeadAttempt).where(LeadAttempt.lead_id == b.id)).one()
        assert attempt.agent_id == agent.id and attempt.interaction_id is not None
        call = s.get(Interaction, attempt.interaction_id)
        assert call is not None and call.direction == "outbound" and call.campaign_id == cid
        callback = s.scalars(select(Callback).where(Callback.lead_id == c.id)).one()
        expected = dt.datetime(2030, 7, 1, 18, 30, tzinfo=ZoneInfo("Europe/Warsaw"))
        assert callback.due_at == expected.astimezone(dt.UTC)
        assert callback.agent_id == agent.id and c.next_attempt_at == callback.due_at
        assert d.state == "pending" and "skipped: not_now" in (d.notes or "")
