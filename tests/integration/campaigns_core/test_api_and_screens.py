"""Campaign REST API and supervisor screens: create, the start refused with every missing
piece named, agents, lists from segments, DNC (API, bulk, screen), pages in pl/uk."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select

from campaigns.models import DncEntry, Lead
from crm_core.services.segments import do_save_segment
from tests.factories import PASSWORD, make_customer, make_user
from tests.routing_helpers import Db


def _login(app: Flask, user: Any) -> Any:
    client = app.test_client()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code in (302, 303)
    return client


def test_campaign_cannot_start_without_caller_id_window_and_agent(app: Flask) -> None:
    db = Db(app)
    with db() as s:
        boss = make_user(s, role="supervisor")
        agent = make_user(s, teams=("Telesales",))
        team_id = agent.teams[0].id
    client = _login(app, boss)
    created = client.post(
        "/api/v1/campaigns", json={"name": "Winter", "window_start": None, "window_end": None}
    )
    assert created.status_code == 201, created.get_json()
    c = created.get_json()
    assert c["status"] == "draft" and c["window_start"] is None
    assert [d["code"] for d in c["dispositions"]][:2] == ["sale", "not_interested"]
    assert c["start_blockers"] == ["caller_id", "calling_window", "agents"]

    refused = client.post(f"/api/v1/campaigns/{c['id']}/status", json={"status": "active"})
    assert refused.status_code == 422
    problem = refused.get_json()
    assert [d["field"] for d in problem["detail"]] == ["caller_id", "calling_window", "agents"]
    assert "caller_id" in problem["message"] and "agents" in problem["message"]

    bad_cid = client.patch(f"/api/v1/campaigns/{c['id']}", json={"caller_id": "0048 22 307"})
    assert bad_cid.status_code == 422 and bad_cid.get_json()["field"] == "caller_id"
    bad_window = client.patch(
        f"/api/v1/campaigns/{c['id']}", json={"window_start": "21:00", "window_end": "08:00"}
    )
    assert bad_window.status_code == 422 and bad_window.get_json()["field"] == "window_end"
    ok = client.patch(
        f"/api/v1/campaigns/{c['id']}",
        json={"caller_id": "+48223070000", "window_start": "09:00", "window_end": "20:00"},
    )
    assert ok.status_code == 200 and ok.get_json()["start_blockers"] == ["agents"]
    still = client.post(f"/api/v1/campaigns/{c['id']}/status", json={"status": "active"})
    assert [d["field"] for d in still.get_json()["detail"]] == ["agents"]

    # A team with a member counts as agents.
    put = client.put(f"/api/v1/campaigns/{c['id']}/agents", json={"team_ids": [team_id]})
    assert put.status_code == 200
    started = client.post(f"/api/v1/campaigns/{c['id']}/status", json={"status": "active"})
    assert started.status_code == 200 and started.get_json()["status"] == "active"
    # An active campaign keeps its agents and caller ID.
    emptied = client.put(f"/api/v1/campaigns/{c['id']}/agents", json={"team_ids": []})
    assert emptied.status_code == 422
    cleared = client.patch(f"/api/v1/campaigns/{c['id']}", json={"caller_id": None})
    assert cleared.status_code == 422
    assert (
        client.post(f"/api/v1/campaigns/{c['id']}/status", json={"status": "draft"}).status_code
        == 409
    )

    # Agents read but do not write.
    agent_client = _login(app, agent)
    assert agent_client.get(f"/api/v1/campaigns/{c['id']}").status_code == 200
    assert agent_client.post("/api/v1/campaigns", json={"name": "Mine"}).status_code == 403


def test_list_from_segment_and_dnc_api(app: Flask) -> None:
    db = Db(app)
    with db() as s:
        boss = make_user(s, role="supervisor")
        for i in range(5):
            make_customer(s, first_name=f"Vip{i}", phones=(f"+4860100000{i}",), tags=("vip-list",))
        make_customer(s, first_name="NoPhone", tags=("vip-list",))
        make_customer(s, first_name="Other", phones=("+48601999999",))
        segment = do_save_segment(
            s, name="VIPs", flt={"field": "tag", "op": "has", "value": "vip-list"}
        )
        segment_id = segment.id
    client = _login(app, boss)
    cid = client.post("/api/v1/campaigns", json={"name": "VIP"}).get_json()["id"]
    built = client.post(
        f"/api/v1/campaigns/{cid}/lists/from-segment",
        json={"name": "VIPs", "segment_id": segment_id},
    )
    assert built.status_code == 201, built.get_json()
    tally = built.get_json()
    assert (tally["selected"], tally["added"], tally["no_phone"]) == (6, 5, 1)
    again = client.post(
        f"/api/v1/campaigns/{cid}/lists/from-segment",
        json={"name": "Again", "segment_id": segment_id},
    ).get_json()
    assert again["added"] == 0 and again["already_in_campaign"] == 5
    leads = client.get(f"/api/v1/campaigns/{cid}/leads?state=pending").get_json()
    assert len(leads["items"]) == 5

    added = client.post("/api/v1/campaigns/dnc", json={"number": "601 000 001", "reason": "asked"})
    assert added.status_code == 201 and added.get_json()["number"] == "+48601000001"
    again_dnc = client.post("/api/v1/campaigns/dnc", json={"number": "+48601000001"})
    assert again_dnc.get_json()["id"] == added.get_json()["id"]
    bad = client.post("/api/v1/campaigns/dnc", json={"number": "hello"})
    assert bad.status_code == 422 and bad.get_json()["field"] == "number"
    bulk = client.post(
        "/api/v1/campaigns/dnc/bulk",
        json={
            "numbers": "number\n601000002\n+48 601 000 003\n601000002\nxyz\n",
            "campaign_id": cid,
        },
    ).get_json()
    assert bulk["added"] == 2 and bulk["repeated"] == 1
    assert [r["line"] for r in bulk["rejected"]] == [1, 5]
    listing = client.get(f"/api/v1/campaigns/dnc?campaign_id={cid}").get_json()
    assert listing["total"] == 2
    assert client.get("/api/v1/campaigns/dnc?scope=global").get_json()["total"] == 1
    gone = client.delete(f"/api/v1/campaigns/dnc/{added.get_json()['id']}")
    assert gone.status_code == 204
    with db() as s:
        assert s.scalar(select(DncEntry).where(DncEntry.campaign_id.is_(None))) is None
        assert len(s.scalars(select(Lead)).all()) == 5


def test_supervisor_screens_render_and_work(app: Flask) -> None:
    db = Db(app)
    with db() as s:
        boss = make_user(s, role="supervisor")
        agent = make_user(s)
        agent_id = agent.id
    client = _login(app, boss)
    assert client.get("/campaigns").status_code == 200
    new = client.post(
        "/campaigns/new",
        data={
            "name": "Screen <b>test</b>",
            "dialer_mode": "progressive",
            "window_start": "08:00",
            "window_end": "21:00",
            "calling_days": ["1", "2", "3", "4", "5"],
            "max_attempts": "4",
            "min_retry_minutes": "30",
            "abandoned_no_redial_hours": "72",
            "abandon_cap_pct": "3",
            "currency": "PLN",
            "budget": "12500.50",
            "caller_id": "+48223070000",
            "user_ids": [str(agent_id)],
        },
    )
    assert new.status_code == 302, new.get_data(as_text=True)
    page = client.get(new.headers["Location"])
    html = page.get_data(as_text=True)
    assert "Screen &lt;b&gt;test&lt;/b&gt;" in html and "<b>test</b>" not in html
    cid = int(new.headers["Location"].rstrip("/").split("/")[-1])
    bad = client.post(f"/campaigns/{cid}/edit", data={"name": "X", "max_attempts": "zero"})
    assert bad.status_code == 422
    started = client.post(
        f"/campaigns/{cid}/status", data={"status": "active"}, follow_redirects=True
    )
    assert "Active" in started.get_data(as_text=True)
    dnc_page = client.post(
        "/campaigns/dnc", data={"action": "add", "number": "+48 601 234 567"}, follow_redirects=True
    )
    assert "+48601234567" in dnc_page.get_data(as_text=True)
    assert client.get(f"/campaigns/{cid}/import").status_code == 200
    # In Polish and Ukrainian.
    with db() as s:
        from crm_core.models import User

        user = s.get(User, boss.id)
        assert user is not None
        user.language = "pl"
    pl = client.get("/campaigns/dnc").get_data(as_text=True)
    assert "Lista zastrzeżonych numerów" in pl
    with db() as s:
        user = s.get(User, boss.id)
        assert user is not None
        user.language = "uk"
    uk = client.get(f"/campaigns/{cid}").get_data(as_text=True)
    assert "Кампанії" in uk
    # Money and percentages in the reader's locale (Babel): "12 500,50 PLN", "3 %".
    from decimal import Decimal

    from babel.numbers import format_currency, format_percent

    assert format_currency(Decimal("12500.50"), "PLN", locale="uk") in uk
    assert format_percent(Decimal("0.03"), "#,##0.#%", locale="uk") in uk
    # Agents may not open supervisor screens.
    assert _login(app, agent).get("/campaigns").status_code == 403
