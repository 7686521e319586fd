"""Call life: status callbacks out of order, an agent accepting (conference legs through the
stand-in), click-to-call, the simulator, and the channel's settings."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from channels.twilio_voice.config import Menu, voice_config
from channels.twilio_voice.models import VoiceCall
from crm_core.models import Interaction
from hub.db import db as database
from hub.settings import ConfigurationError, load_settings
from tests.conftest import make_test_app
from tests.factories import bearer, make_customer
from tests.integration.twilio_voice.conftest import (
    ACCOUNT,
    COMPANY,
    DIRECT,
    TOKEN,
    ActAsTwilio,
    fixture,
    incoming,
    twiml,
)
from tests.integration.twilio_voice.standin import TwilioStandIn
from tests.routing_helpers import available, make_agent, make_queue

STATUS = "/webhooks/twilio/voice/status"
API_SECRET = "k" * 32


def _sid(n: int) -> str:
    return f"CA{n:032x}"


def _status_callbacks(call_sid: str, to: str = DIRECT) -> list[dict[str, str]]:
    data = fixture("call_status.json")
    common = {**data["common"], "CallSid": call_sid, "To": to, "Called": to}
    return [{**common, **cb} for cb in data["callbacks"]]


def _leg(app: Flask, sid: str) -> VoiceCall:
    with app.app_context():
        leg = database.session.scalar(select(VoiceCall).where(VoiceCall.call_sid == sid))
        assert leg is not None
        return leg


def _interaction(app: Flask, interaction_id: int) -> Interaction:
    with app.app_context():
        row = database.session.get(Interaction, interaction_id)
        assert row is not None
        return row


# ----------------------------------------------------------------------------- status order


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_shuffled_status_callbacks_end_in_the_right_state(
    twilio: ActAsTwilio, voice_app: Flask, order: tuple[int, ...]
) -> None:
    call_sid = _sid(1000 + sum(i * 10**k for k, i in enumerate(order)))
    assert (
        twilio.post("/webhooks/twilio/voice", incoming(CallSid=call_sid, To=DIRECT)).status_code
        == 200
    )
    callbacks = _status_callbacks(call_sid)
    sequence = [callbacks[i] for i in order]
    sequence += random.Random(hash(order)).sample(callbacks, len(callbacks))  # twins, late
    for params in sequence:
        assert twilio.post(STATUS, params).status_code == 204
    leg = _leg(voice_app, call_sid)
    assert leg.status == "completed"
    assert leg.duration_seconds == 98
    assert leg.stage == "ended"
    # Hung up while waiting for an agent: abandoned, however the callbacks came.
    assert leg.abandoned is True
    assert leg.started_at == dt.datetime(2026, 11, 23, 10, 0, 2, tzinfo=dt.UTC)
    assert leg.ended_at == dt.datetime(2026, 11, 23, 10, 1, 40, tzinfo=dt.UTC)
    interaction = _interaction(voice_app, leg.interaction_id)
    assert interaction.status == "abandoned"
    assert interaction.payload is not None
    assert interaction.payload["call"]["status"] == "completed"
    assert interaction.payload["call"]["abandoned"] is True


def test_status_retry_with_the_same_idempotency_token_is_a_no_op(
    twilio: ActAsTwilio, voice_app: Flask
) -> None:
    call_sid = _sid(77)
    twilio.post("/webhooks/twilio/voice", incoming(CallSid=call_sid, To=DIRECT))
    ringing, _, completed = _status_callbacks(call_sid)
    token = {"I-Twilio-Idempotency-Token": "0b8e1f3c-1"}
    assert twilio.post(STATUS, ringing, headers=token).status_code == 204
    # The same token again, even with other content: handled already.
    assert twilio.post(STATUS, completed, headers=token).status_code == 204
    assert _leg(voice_app, call_sid).status == "ringing"


def test_status_for_an_unknown_call_is_ignored(twilio: ActAsTwilio) -> None:
    [params, *_] = _status_callbacks(_sid(5))
    assert twilio.post(STATUS, params).status_code == 204
    assert twilio.count(VoiceCall) == 0


# ----------------------------------------------------------------------------- agent accepts


def _route_call_to_agent(voice_app: Flask, twilio: ActAsTwilio, call_sid: str) -> tuple[int, Any]:
    from hub.routing import do_accept_offer

    with voice_app.app_context():
        session = database.session
        queue = make_queue(session, "General", channels=["voice"])
        agent = make_agent(session, (queue,))
        session.commit()
        available(session, agent)
        agent_id = agent.id
    root = twiml(twilio.post("/webhooks/twilio/voice", incoming(CallSid=call_sid, To=DIRECT)))
    assert root.find("./Dial/Conference") is not None
    leg = _leg(voice_app, call_sid)
    with voice_app.app_context():
        session = database.session
        agent = session.get(type(agent), agent_id)
        do_accept_offer(session, agent, leg.interaction_id)
        session.commit()  # after the commit: the voice channel rings the agent
    return leg.interaction_id, agent_id


def test_accepted_call_rings_the_agent_into_the_callers_conference(
    twilio: ActAsTwilio, voice_app: Flask, standin: TwilioStandIn
) -> None:
    call_sid = _sid(4242)
    interaction_id, agent_id = _route_call_to_agent(voice_app, twilio, call_sid)
    [created] = standin.calls_created()
    assert created.path == f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json"
    assert created.auth == (ACCOUNT, TOKEN)
    form = {k: v[0] for k, v in created.form.items() if k != "StatusCallbackEvent"}
    assert form["To"] == f"client:agent-{agent_id}"
    assert form["From"] == DIRECT
    agent_leg = _leg(voice_app, _agent_sid(voice_app, interaction_id))
    assert form["Url"] == twilio.url(f"/webhooks/twilio/voice/agent?vc={agent_leg.id}")
    assert form["StatusCallback"] == twilio.url(f"{STATUS}?vc={agent_leg.id}&leg=agent")
    assert created.form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    # Twilio fetches the agent's TwiML when the agent picks up.
    root = twiml(
        twilio.follow(form["Url"], {"AccountSid": ACCOUNT, "CallSid": agent_leg.call_sid or ""})
    )
    conference = root.find("./Dial/Conference")
    assert conference is not None
    assert conference.text == f"sb-{interaction_id}"
    assert conference.get("startConferenceOnEnter") == "true"
    assert root.findtext("./Say") == "Call from an unknown caller."
    # The stand-in reports the agent's leg over HTTP, signed; then the caller hangs up.
    base = {"AccountSid": ACCOUNT, "CallSid": agent_leg.call_sid or "", "To": form["To"]}
    answered = {**base, "CallStatus": "in-progress", "Timestamp": "Mon, 23 Nov 2026 10:00:32 +0000"}
    status, _ = standin.post_signed(form["StatusCallback"], answered)
    assert status == 204
    main = _leg(voice_app, call_sid)
    assert (main.stage, main.agent_id) == ("connected", agent_id)
    caller_done = {
        **_status_callbacks(call_sid)[2],
        "Timestamp": "Mon, 23 Nov 2026 10:02:12 +0000",
        "CallDuration": "132",
    }
    assert twilio.post(STATUS, caller_done).status_code == 204
    status, _ = standin.post_signed(
        form["StatusCallback"],
        {
            **base,
            "CallStatus": "completed",
            "CallDuration": "100",
            "Timestamp": "Mon, 23 Nov 2026 10:02:12 +0000",
        },
    )
    assert status == 204
    main = _leg(voice_app, call_sid)
    assert main.status == "completed" and main.abandoned is False
    assert main.talk_seconds == 100
    interaction = _interaction(voice_app, interaction_id)
    assert interaction.agent_id == agent_id
    assert interaction.ended_at == dt.datetime(2026, 11, 23, 10, 2, 12, tzinfo=dt.UTC)
    assert interaction.payload["call"]["talk_seconds"] == 100  # type: ignore[index]
    assert interaction.payload["call"]["wait_seconds"] is not None  # type: ignore[index]


def _agent_sid(app: Flask, interaction_id: int) -> str:
    with app.app_context():
        sid = database.session.scalar(
            select(VoiceCall.call_sid).where(
                VoiceCall.interaction_id == interaction_id, VoiceCall.leg == "agent"
            )
        )
        assert sid is not None
        return sid


def test_caller_gone_before_the_agent_answers(
    twilio: ActAsTwilio, voice_app: Flask, standin: TwilioStandIn
) -> None:
    call_sid = _sid(4343)
    interaction_id, _ = _route_call_to_agent(voice_app, twilio, call_sid)
    for params in _status_callbacks(call_sid):
        twilio.post(STATUS, params)
    [created] = standin.calls_created()
    url = created.form["Url"][0]
    agent_leg = _leg(voice_app, _agent_sid(voice_app, interaction_id))
    root = twiml(twilio.follow(url, {"AccountSid": ACCOUNT, "CallSid": agent_leg.call_sid or ""}))
    assert [c.tag for c in root] == ["Say", "Hangup"]


# ----------------------------------------------------------------------------- click-to-call


def _agent_and_customer(app: Flask, **customer: Any) -> tuple[int, int, dict[str, str]]:
    with app.app_context():
        session = database.session
        agent = make_agent(session)
        person = make_customer(session, phones=("+48 601 234 567",), **customer)
        headers = bearer(session, agent)
        session.commit()
        return agent.id, person.id, headers


def test_click_to_call_reaches_twilio_and_closes_the_loop(
    twilio: ActAsTwilio, voice_app: Flask, standin: TwilioStandIn
) -> None:
    agent_id, customer_id, headers = _agent_and_customer(voice_app)
    resp = twilio.client.post(f"/api/v1/customers/{customer_id}/calls", json={}, headers=headers)
    assert resp.status_code == 202, resp.get_json()
    body = resp.get_json()
    assert body["placed"] is True and body["to"] == "+48601234567"
    [created] = standin.calls_created()
    form = {k: v[0] for k, v in created.form.items()}
    assert created.auth == (ACCOUNT, TOKEN)
    assert form["To"] == f"client:agent-{agent_id}"  # the agent first
    assert form["From"] == COMPANY
    assert form["Url"].startswith(twilio.url("/webhooks/twilio/voice/outbound?vc="))
    assert form["StatusCallback"].startswith(twilio.url(f"{STATUS}?vc="))
    assert created.form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    interaction = _interaction(voice_app, body["interaction_id"])
    assert (interaction.direction, interaction.customer_id, interaction.agent_id) == (
        "outbound",
        customer_id,
        agent_id,
    )
    agent_sid = interaction.external_id
    assert agent_sid is not None and agent_sid.startswith("CA")
    # The agent answers: Twilio fetches the TwiML that dials the customer.
    base = {"AccountSid": ACCOUNT, "CallSid": agent_sid}
    status, _ = standin.post_signed(form["StatusCallback"], {**base, "CallStatus": "ringing"})
    assert status == 204
    status, _ = standin.post_signed(
        form["StatusCallback"],
        {**base, "CallStatus": "in-progress", "Timestamp": "Mon, 23 Nov 2026 11:00:00 +0000"},
    )
    assert status == 204
    status, xml_body = standin.post_signed(form["Url"], {**base, "CallStatus": "in-progress"})
    assert status == 200
    root = twiml(xml_body)
    dial = root.find("./Dial")
    assert dial is not None and dial.get("callerId") == COMPANY
    number = dial.find("./Number")
    assert number is not None and number.text == "+48601234567"
    assert root.findtext("./Say", "").startswith("Calling ")
    # The customer's leg reports to the URL in <Number>; then the agent hangs up.
    child = {
        "AccountSid": ACCOUNT,
        "CallSid": _sid(9001),
        "ParentCallSid": agent_sid,
        "To": "+48601234567",
    }
    child_url = number.get("statusCallback") or ""
    for state in ("ringing", "in-progress", "completed"):
        status, _ = standin.post_signed(child_url, {**child, "CallStatus": state})
        assert status == 204
    status, _ = standin.post_signed(
        form["StatusCallback"],
        {
            **base,
            "CallStatus": "completed",
            "CallDuration": "75",
            "Timestamp": "Mon, 23 Nov 2026 11:01:15 +0000",
        },
    )
    assert status == 204
    interaction = _interaction(voice_app, body["interaction_id"])
    assert interaction.status == "wrap_up"
    assert interaction.ended_at == dt.datetime(2026, 11, 23, 11, 1, 15, tzinfo=dt.UTC)
    legs = interaction.payload["call"]["legs"]  # type: ignore[index]
    assert sorted((leg["leg"], leg["status"]) for leg in legs) == [
        ("agent", "completed"),
        ("customer", "completed"),
    ]


def test_click_to_call_refused_for_no_calls_consent(
    twilio: ActAsTwilio, voice_app: Flask, standin: TwilioStandIn
) -> None:
    _, customer_id, headers = _agent_and_customer(voice_app, no_calls=True)
    resp = twilio.client.post(f"/api/v1/customers/{customer_id}/calls", json={}, headers=headers)
    assert resp.status_code == 409
    assert "asked not to be called" in resp.get_json()["message"]
    assert standin.calls_created() == []
    assert twilio.count(Interaction) == 0


def test_click_to_call_with_a_number_twilio_refuses(
    twilio: ActAsTwilio, voice_app: Flask, standin: TwilioStandIn
) -> None:
    _, customer_id, headers = _agent_and_customer(voice_app)
    standin.fail_next_call = 400
    resp = twilio.client.post(f"/api/v1/customers/{customer_id}/calls", json={}, headers=headers)
    assert resp.status_code == 202
    interaction = _interaction(voice_app, resp.get_json()["interaction_id"])
    assert interaction.status == "closed"
    assert "failed" in (interaction.summary or "")


def test_click_to_call_without_telephony_is_recorded_not_placed(client: Any, app: Flask) -> None:
    _, customer_id, headers = _agent_and_customer(app)
    resp = client.post(f"/api/v1/customers/{customer_id}/calls", json={}, headers=headers)
    assert resp.status_code == 202
    assert resp.get_json()["placed"] is False
    assert _interaction(app, resp.get_json()["interaction_id"]).direction == "outbound"


# ----------------------------------------------------------------------------- simulator


@pytest.fixture
def simulator_app(database_url: str, tmp_path: Path) -> Any:
    from tests.conftest import _empty_tables

    application = make_test_app(database_url, tmp_path / "var", twilio_simulator=True)
    yield application
    _empty_tables(application)
    database.engine_for(application).dispose()


def test_simulate_call_goes_through_the_signed_webhooks(simulator_app: Flask) -> None:
    from hub.cli import main

    with simulator_app.app_context():
        session = database.session
        make_customer(session, first_name="Ewa", last_name="Nowak", phones=("+48601234567",))
        session.commit()
    runner = simulator_app.test_cli_runner()
    result = runner.invoke(
        main,
        ["simulate", "call", "--from", "+48601234567", "--press", "2", "--hangup-after", "0"],
    )
    assert result.exit_code == 0, result.output
    assert "pressed 2" in result.output
    assert "waits in conference" in result.output
    assert "Ewa Nowak" in result.output
    with simulator_app.app_context():
        [interaction] = list(database.session.scalars(select(Interaction)))
        leg = database.session.scalar(select(VoiceCall))
    assert leg is not None
    assert (leg.queue_name, leg.digits, leg.status, leg.abandoned) == (
        "Service",
        "2",
        "completed",
        True,
    )
    assert interaction.status == "abandoned"


def test_simulate_call_when_the_channel_is_off(runner: Any) -> None:
    from hub.cli import main

    result = runner.invoke(main, ["simulate", "call", "--from", "+48601234567"])
    assert result.exit_code == 1
    assert "voice channel is off" in result.output


# ----------------------------------------------------------------------------- settings


def test_channel_is_off_without_credentials(client: Any) -> None:
    assert client.post("/webhooks/twilio/voice", data=incoming()).status_code == 404


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"twilio_account_sid": ACCOUNT}, "SWITCHBOARD_TWILIO_AUTH_TOKEN"),
        ({"twilio_auth_token": TOKEN}, "SWITCHBOARD_TWILIO_ACCOUNT_SID"),
        (
            {"twilio_account_sid": "nope", "twilio_auth_token": TOKEN},
            "SWITCHBOARD_TWILIO_ACCOUNT_SID",
        ),
        (
            {"twilio_account_sid": ACCOUNT, "twilio_auth_token": TOKEN},
            "SWITCHBOARD_TWILIO_MENUS_FILE",
        ),
        (
            {
                "twilio_account_sid": ACCOUNT,
                "twilio_auth_token": TOKEN,
                "twilio_menus_file": "/nonexistent/menus.toml",
            },
            "SWITCHBOARD_TWILIO_MENUS_FILE",
        ),
        (
            {
                "twilio_account_sid": ACCOUNT,
                "twilio_auth_token": TOKEN,
                "twilio_api_key_sid": "SK1",
            },
            "SWITCHBOARD_TWILIO_API_KEY_SECRET",
        ),
        (
            {
                "twilio_account_sid": ACCOUNT,
                "twilio_auth_token": TOKEN,
                "env": "production",
                "secret_key": "s" * 40,
                "twilio_menus_file": "x",
            },
            "SWITCHBOARD_PUBLIC_BASE_URL",
        ),
    ],
)
def test_missing_secret_stops_start_up_naming_it(
    settings: dict[str, Any], named: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError, match=named):
        voice_config(load_settings({"var_dir": str(tmp_path), "env": "test", **settings}))


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ('[numbers."+48223070000"]\noptions = {x = "Sales"}\n', "options"),
        ('[numbers."hello"]\n', "not a phone number"),
        ('[numbers."+48223070000"]\ntimezone = "Mars/Base"\n', "time zone"),
        ('[numbers."+48223070000".hours]\nmon = [["18:00", "08:00"]]\n', "HH:MM"),
        ("numbers = [", "not TOML"),
    ],
)
def test_bad_menus_file_stops_start_up(toml: str, named: str, tmp_path: Path) -> None:
    path = tmp_path / "menus.toml"
    path.write_text(toml)
    settings = load_settings(
        {
            "var_dir": str(tmp_path),
            "env": "test",
            "twilio_simulator": True,
            "twilio_menus_file": str(path),
        }
    )
    with pytest.raises(ConfigurationError, match=named):
        voice_config(settings)


def test_business_hours_and_holidays() -> None:
    menu = Menu(
        timezone="Europe/Warsaw",
        hours={"mon": [("08:00", "12:00"), ("13:00", "18:00")], "sat": [("09:00", "13:00")]},
        holidays=[dt.date(2026, 12, 25)],
    )
    warsaw = dt.timezone(dt.timedelta(hours=1))  # CET in November/December
    at = lambda d, h, m=0: dt.datetime(2026, 11, d, h, m, tzinfo=warsaw)  # noqa: E731
    assert menu.is_open(at(23, 8))  # Monday 08:00
    assert not menu.is_open(at(23, 7, 59))
    assert not menu.is_open(at(23, 12, 30))  # lunch
    assert menu.is_open(at(23, 17, 59))
    assert not menu.is_open(at(23, 18))
    assert not menu.is_open(at(24, 10))  # Tuesday: not listed, closed
    assert menu.is_open(at(28, 9))  # Saturday
    assert not menu.is_open(dt.datetime(2026, 12, 25, 10, tzinfo=warsaw))  # holiday
    assert Menu().is_open(at(24, 3))  # no hours: round the clock
    # Evaluated in the menu's zone: 07:30 UTC on a Monday is 08:30 in Warsaw.
    assert menu.is_open(dt.datetime(2026, 11, 23, 7, 30, tzinfo=dt.UTC))


# ----------------------------------------------------------------------------- races, abandon


def test_same_callsid_three_times_at_once_makes_one_interaction(
    voice_app: Flask, standin: TwilioStandIn, postgres_only: None
) -> None:
    """Twilio's retries can overlap the first request: three at once over real sockets."""
    import threading

    params = incoming(CallSid=_sid(31337), To=DIRECT)
    url = voice_app.extensions["switchboard.voice"].url("/webhooks/twilio/voice")
    results: list[tuple[int, bytes]] = []
    barrier = threading.Barrier(3)

    def post() -> None:
        barrier.wait()
        results.append(standin.post_signed(url, params))

    threads = [threading.Thread(target=post) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [status for status, _ in results] == [200, 200, 200]
    answers = {twiml(body).find("./Dial/Conference").text for _, body in results}  # type: ignore[union-attr]
    with voice_app.app_context():
        rows = list(database.session.scalars(select(Interaction)))
        legs = list(database.session.scalars(select(VoiceCall)))
    assert len(rows) == 1 and len(legs) == 1
    assert answers == {f"sb-{rows[0].id}"}


def test_caller_hanging_up_in_the_queue_cancels_the_offer_and_asks_for_a_callback(
    twilio: ActAsTwilio, voice_app: Flask
) -> None:
    from hub.models import Offer, QueueEntry

    with voice_app.app_context():
        session = database.session
        queue = make_queue(session, "General", channels=["voice"])
        agent = make_agent(session, (queue,))
        session.commit()
        available(session, agent)
    call_sid = _sid(5150)
    twilio.post("/webhooks/twilio/voice", incoming(CallSid=call_sid))  # COMPANY: the IVR
    params = {k: v for k, v in fixture("gather_digits.json")["params"].items() if k != "Digits"}
    twilio.post("/webhooks/twilio/voice/menu?attempt=1", {**params, "CallSid": call_sid})
    leg = _leg(voice_app, call_sid)
    with voice_app.app_context():
        offer = database.session.scalar(
            select(Offer).where(Offer.interaction_id == leg.interaction_id)
        )
        assert offer is not None and offer.status == "pending"
    for cb in _status_callbacks(call_sid, to=COMPANY)[::2]:  # ringing, completed: no answer
        assert twilio.post(STATUS, cb).status_code == 204
    with voice_app.app_context():
        session = database.session
        offer = session.scalar(select(Offer).where(Offer.interaction_id == leg.interaction_id))
        entry = session.get(QueueEntry, leg.interaction_id)
        task = session.scalar(
            select(Interaction).where(Interaction.parent_id == leg.interaction_id)
        )
    assert offer is not None and offer.status == "cancelled"
    assert entry is not None and entry.state == "abandoned"
    assert _interaction(voice_app, leg.interaction_id).status == "abandoned"
    assert task is not None and task.channel == "task"
    assert task.to_address == "+48601234567"


# ----------------------------------------------------------------------------- agent device


def test_agent_takes_calls_on_an_outside_phone(
    twilio: ActAsTwilio, voice_app: Flask, standin: TwilioStandIn
) -> None:
    _, customer_id, headers = _agent_and_customer(voice_app)
    resp = twilio.client.get("/api/v1/voice/line", headers=headers)
    assert resp.get_json() == {"phone_number": None, "device": "browser"}
    resp = twilio.client.put(
        "/api/v1/voice/line", json={"phone_number": "600 700 800"}, headers=headers
    )
    assert resp.status_code == 200
    assert resp.get_json() == {"phone_number": "+48600700800", "device": "phone"}
    bad = twilio.client.put(
        "/api/v1/voice/line", json={"phone_number": "Anonymous"}, headers=headers
    )
    assert bad.status_code == 422
    twilio.client.post(f"/api/v1/customers/{customer_id}/calls", json={}, headers=headers)
    [created] = standin.calls_created()
    assert created.form["To"] == ["+48600700800"]


def test_browser_token_needs_an_api_key(twilio: ActAsTwilio, voice_app: Flask) -> None:
    _, _, headers = _agent_and_customer(voice_app)
    resp = twilio.client.get("/api/v1/voice/token", headers=headers)
    assert resp.status_code == 409
    assert "SWITCHBOARD_TWILIO_API_KEY_SID" in resp.get_json()["message"]
    assert twilio.client.get("/api/v1/voice/token").status_code == 401


def test_browser_token_carries_a_voice_grant(
    database_url: str, tmp_path: Path, menus_file: Path
) -> None:
    from twilio.jwt import Jwt

    from tests.conftest import _empty_tables

    app = make_test_app(
        database_url,
        tmp_path / "var",
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=TOKEN,
        twilio_api_key_sid="SK" + "a" * 32,
        twilio_api_key_secret=API_SECRET,
        twilio_twiml_app_sid="AP" + "b" * 32,
        twilio_menus_file=str(menus_file),
    )
    try:
        agent_id, _, headers = _agent_and_customer(app)
        resp = app.test_client().get("/api/v1/voice/token", headers=headers)
        assert resp.status_code == 200
        body = resp.get_json()
        assert body["identity"] == f"agent-{agent_id}"
        claims = Jwt.from_jwt(body["token"], API_SECRET).payload
        assert claims["iss"] == "SK" + "a" * 32 and claims["sub"] == ACCOUNT
        voice = claims["grants"]["voice"]
        assert voice["incoming"] == {"allow": True}
        assert voice["outgoing"]["application_sid"] == "AP" + "b" * 32
        assert claims["grants"]["identity"] == f"agent-{agent_id}"
    finally:
        _empty_tables(app)
        database.engine_for(app).dispose()


def test_agent_starts_recording_on_demand(
    twilio: ActAsTwilio, voice_app: Flask, standin: TwilioStandIn, menus_file: Path
) -> None:
    from channels.twilio_voice.config import QueueOptions

    cfg = voice_app.extensions["switchboard.voice"]
    cfg.queues["General"] = QueueOptions(recording="on-demand")
    call_sid = _sid(6006)
    interaction_id, agent_id = _route_call_to_agent(voice_app, twilio, call_sid)
    with voice_app.app_context():
        session = database.session
        from crm_core.models import User

        headers = bearer(session, session.get(User, agent_id))  # type: ignore[arg-type]
        session.commit()
    url = f"/api/v1/voice/calls/{interaction_id}/recording"
    assert twilio.client.post(url, headers=headers).status_code == 409  # not connected yet
    agent_leg = _leg(voice_app, _agent_sid(voice_app, interaction_id))
    [created] = standin.calls_created()
    status, _ = standin.post_signed(
        created.form["StatusCallback"][0],
        {"AccountSid": ACCOUNT, "CallSid": agent_leg.call_sid or "", "CallStatus": "in-progress"},
    )
    assert status == 204
    resp = twilio.client.post(url, headers=headers)
    assert resp.status_code == 202, resp.get_json()
    assert resp.get_json()["call_sid"] == call_sid
    [request] = [r for r in standin.received if r.path.endswith("/Recordings.json")]
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{call_sid}/Recordings.json"
    assert request.form["RecordingStatusCallback"] == [
        twilio.url(f"/webhooks/twilio/recording?kind=call&interaction={interaction_id}")
    ]
    with voice_app.app_context():
        session = database.session
        other = make_agent(session)
        other_headers = bearer(session, other)
        session.commit()
    assert twilio.client.post(url, headers=other_headers).status_code == 403
