"""Inbound calls through the signed webhooks: signatures, dedupe, identification, IVR,
closed lines and voicemail, unknown numbers, malformed parameters."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from channels.twilio_voice.models import TwilioWebhookReceipt, VoiceCall, VoiceRecording
from crm_core.models import Attachment, Interaction
from hub.cards import unknown_caller_card
from hub.db import db as database
from tests.factories import make_customer
from tests.integration.twilio_voice.conftest import (
    CLOSED,
    CLOSED_NO_VM,
    COMPANY,
    DIRECT,
    ActAsTwilio,
    fixture,
    incoming,
    twiml,
)

CALLER = "+48601234567"


def _customer(app: Flask, phone: str = CALLER, **kw: Any) -> int:
    with app.app_context():
        session = database.session
        customer = make_customer(session, phones=(phone,), **kw)
        session.commit()
        return customer.id


def _interactions(app: Flask) -> list[Interaction]:
    with app.app_context():
        return list(database.session.scalars(select(Interaction).order_by(Interaction.id)))


def _call(app: Flask, sid: str) -> VoiceCall:
    with app.app_context():
        call = database.session.scalar(select(VoiceCall).where(VoiceCall.call_sid == sid))
        assert call is not None
        return call


def _nothing_written(twilio: ActAsTwilio) -> None:
    assert twilio.count(Interaction) == 0
    assert twilio.count(VoiceCall) == 0
    assert twilio.count(TwilioWebhookReceipt) == 0


# ----------------------------------------------------------------------------- signatures


def test_forged_signature_is_403_and_writes_nothing(twilio: ActAsTwilio) -> None:
    params = incoming()
    forged = twilio.signature("/webhooks/twilio/voice", params)[:-4] + "AAA="
    resp = twilio.post("/webhooks/twilio/voice", params, signature=forged)
    assert resp.status_code == 403
    _nothing_written(twilio)


def test_missing_signature_is_403_and_writes_nothing(twilio: ActAsTwilio) -> None:
    resp = twilio.post("/webhooks/twilio/voice", incoming(), signature="")
    assert resp.status_code == 403
    _nothing_written(twilio)


def test_signature_signed_with_another_token_is_403(twilio: ActAsTwilio) -> None:
    from twilio.request_validator import RequestValidator

    params = incoming()
    other = RequestValidator("not-our-token").compute_signature(
        twilio.url("/webhooks/twilio/voice"), params
    )
    assert twilio.post("/webhooks/twilio/voice", params, signature=other).status_code == 403
    _nothing_written(twilio)


@pytest.mark.parametrize(
    "change",
    [
        {"From": "+48601000000"},  # someone else's number, to pop their card
        {"To": "+48223070002"},
        {"CallSid": "CA99999999999999999999999999999999"},
        {"Extra": "1"},
    ],
)
def test_replay_with_changed_params_is_403(twilio: ActAsTwilio, change: dict[str, str]) -> None:
    original = incoming()
    signature = twilio.signature("/webhooks/twilio/voice", original)
    assert (
        twilio.post(
            "/webhooks/twilio/voice", {**original, **change}, signature=signature
        ).status_code
        == 403
    )
    _nothing_written(twilio)


def test_signature_for_another_url_is_403(twilio: ActAsTwilio) -> None:
    """A signature is bound to the URL, query string included."""
    params = incoming()
    signature = twilio.signature("/webhooks/twilio/voice/menu?attempt=1", params)
    assert twilio.post("/webhooks/twilio/voice", params, signature=signature).status_code == 403
    signature = twilio.signature("/webhooks/twilio/voice/menu?attempt=1", params)
    resp = twilio.post("/webhooks/twilio/voice/menu?attempt=2", params, signature=signature)
    assert resp.status_code == 403
    _nothing_written(twilio)


@pytest.mark.parametrize(
    "path",
    [
        "/webhooks/twilio/voice/menu",
        "/webhooks/twilio/voice/status",
        "/webhooks/twilio/voice/wait",
        "/webhooks/twilio/voice/voicemail",
        "/webhooks/twilio/voice/agent?vc=1",
        "/webhooks/twilio/voice/outbound?vc=1",
        "/webhooks/twilio/voice/conference",
        "/webhooks/twilio/recording",
    ],
)
def test_every_webhook_wants_a_signature(twilio: ActAsTwilio, path: str) -> None:
    assert twilio.post(path, incoming(), signature="").status_code == 403
    assert twilio.post(path, incoming(), signature="bm9wZQ==").status_code == 403


def test_signature_checked_against_public_url_behind_a_proxy(twilio: ActAsTwilio) -> None:
    """The app sees http://localhost/...; Twilio signed the public URL: that one counts."""
    params = incoming()
    resp = twilio.client.post(
        "/webhooks/twilio/voice",
        data=params,
        headers={
            "X-Twilio-Signature": twilio.signature("/webhooks/twilio/voice", params),
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "elsewhere.example",
        },
    )
    assert resp.status_code == 200


# ----------------------------------------------------------------------------- dedupe


def test_same_callsid_three_times_makes_one_interaction(
    twilio: ActAsTwilio, voice_app: Flask
) -> None:
    customer_id = _customer(voice_app)
    params = incoming()
    answers = []
    for attempt in range(3):
        headers = {"I-Twilio-Idempotency-Token": "e3b0c442-retry"} if attempt else {}
        resp = twilio.post("/webhooks/twilio/voice", params, headers=headers)
        assert resp.status_code == 200
        answers.append(xml_text(twiml(resp)))
    assert answers[0] == answers[1] == answers[2]
    rows = _interactions(voice_app)
    assert len(rows) == 1
    assert rows[0].external_id == params["CallSid"]
    assert rows[0].customer_id == customer_id
    assert twilio.count(VoiceCall) == 1


def xml_text(root: Any) -> str:
    import xml.etree.ElementTree as ET

    return ET.tostring(root, encoding="unicode")


# ----------------------------------------------------------------------------- identification


def test_known_caller_is_identified_and_hears_the_menu(
    twilio: ActAsTwilio, voice_app: Flask
) -> None:
    customer_id = _customer(voice_app, phone="601 234 567")  # stored as +48601234567
    resp = twilio.post("/webhooks/twilio/voice", incoming())
    assert resp.status_code == 200
    assert resp.mimetype == "application/xml"
    root = twiml(resp)
    gather = root.find("./Gather")
    assert gather is not None
    assert gather.get("numDigits") == "1"
    assert gather.get("input") == "dtmf"
    assert gather.get("action") == twilio.url("/webhooks/twilio/voice/menu?attempt=1")
    said = " ".join(s.text or "" for s in gather.findall("./Say"))
    assert "Thank you for calling" in said and "press 2" in said
    # No key pressed: Twilio falls through to the redirect, back to the same action.
    redirect = root.find("./Redirect")
    assert redirect is not None and redirect.text == gather.get("action")
    [interaction] = _interactions(voice_app)
    assert interaction.customer_id == customer_id
    assert interaction.channel == "voice" and interaction.direction == "inbound"
    assert interaction.to_address == COMPANY
    assert _call(voice_app, incoming()["CallSid"]).stage == "menu"


@pytest.mark.parametrize(
    "withheld",
    [
        "Anonymous",
        "Restricted",
        "Unavailable",
        "+266696687",
        "+7378742833",
        "+2562533",
        "+8656696",
        "+86282452253",
        "",
    ],
)
def test_anonymous_caller_is_never_matched(
    twilio: ActAsTwilio, voice_app: Flask, withheld: str
) -> None:
    _customer(voice_app, phone=CALLER)
    # A card that holds a look-alike of Twilio's placeholder must not be found either.
    _customer(voice_app, phone="+48 266 696 687")
    resp = twilio.post("/webhooks/twilio/voice", incoming(From=withheld))
    assert resp.status_code == 200
    assert twiml(resp).find("./Gather") is not None  # the same flow as everyone
    [interaction] = _interactions(voice_app)
    assert interaction.customer_id is None
    card = unknown_caller_card(interaction.from_address, region="PL")
    assert card.get("withheld") is True


def test_unknown_caller_gets_the_unknown_card_whisper(
    twilio: ActAsTwilio, voice_app: Flask
) -> None:
    twilio.post("/webhooks/twilio/voice", incoming(From="+48500100200", To=DIRECT))
    [interaction] = _interactions(voice_app)
    assert interaction.customer_id is None
    with voice_app.app_context():
        session = database.session
        leg = VoiceCall(
            interaction_id=interaction.id,
            leg="agent",
            direction="outbound",
            status="ringing",
            stage="dialing",
        )
        session.add(leg)
        session.commit()
        leg_id = leg.id
    params = {
        "AccountSid": incoming()["AccountSid"],
        "CallSid": "CA" + "7" * 32,
        "CallStatus": "in-progress",
    }
    root = twiml(twilio.post(f"/webhooks/twilio/voice/agent?vc={leg_id}", params))
    assert root.findtext("./Say") == "Call from an unknown caller."


# ----------------------------------------------------------------------------- IVR and queue


def test_menu_choice_puts_the_call_in_the_chosen_queue(
    twilio: ActAsTwilio, voice_app: Flask
) -> None:
    routing = pytest.importorskip("hub.routing")
    with voice_app.app_context():
        session = database.session
        routing.do_create_queue(session, name="Sales", channels=["voice"])
        routing.do_create_queue(session, name="Service", channels=["voice"])
        session.commit()
    first = twiml(twilio.post("/webhooks/twilio/voice", incoming()))
    action = first.find("./Gather").get("action")  # type: ignore[union-attr]
    digits = dict(fixture("gather_digits.json")["params"])
    resp = twilio.follow(action, digits)
    assert resp.status_code == 200
    root = twiml(resp)
    conference = root.find("./Dial/Conference")
    assert conference is not None
    [interaction] = _interactions(voice_app)
    assert conference.text == f"sb-{interaction.id}"
    assert conference.get("startConferenceOnEnter") == "false"
    assert conference.get("endConferenceOnExit") == "true"
    assert conference.get("waitUrl") == twilio.url(
        f"/webhooks/twilio/voice/wait?interaction={interaction.id}"
    )
    # Service records its calls (menus file): the conference records, and says where to.
    assert conference.get("record") == "record-from-start"
    assert "/webhooks/twilio/recording?kind=call" in (
        conference.get("recordingStatusCallback") or ""
    )
    call = _call(voice_app, digits["CallSid"])
    assert (call.stage, call.queue_name, call.digits) == ("queued", "Service", "2")
    # Twilio retries the menu answer: same TwiML, still one queue entry.
    again = twilio.follow(action, digits)
    assert xml_text(twiml(again)) == xml_text(root)
    with voice_app.app_context():
        from hub.models import QueueEntry

        entries = list(database.session.scalars(select(QueueEntry)))
    assert [e.interaction_id for e in entries] == [interaction.id]
    # The wait URL plays something a conference wait URL may contain.
    wait = twiml(
        twilio.follow(conference.get("waitUrl") or "", {"AccountSid": digits["AccountSid"]})
    )
    assert {child.tag for child in wait} <= {"Say", "Play", "Pause", "Redirect"}


def test_ivr_choice_decides_the_hub_queue(twilio: ActAsTwilio, voice_app: Flask) -> None:
    from hub import routing

    with voice_app.app_context():
        session = database.session
        routing.do_create_queue(session, name="Sales", channels=["voice"])
        service = routing.do_create_queue(session, name="Service", channels=["voice"])
        session.commit()
        service_id = service.id
    twilio.post("/webhooks/twilio/voice", incoming())
    twilio.post("/webhooks/twilio/voice/menu?attempt=1", fixture("gather_digits.json")["params"])
    [interaction] = _interactions(voice_app)
    assert interaction.queue_id == service_id


def test_wrong_key_asks_again_then_default_queue(twilio: ActAsTwilio, voice_app: Flask) -> None:
    twilio.post("/webhooks/twilio/voice", incoming())
    digits = {**fixture("gather_digits.json")["params"], "Digits": "9"}
    root = twiml(twilio.post("/webhooks/twilio/voice/menu?attempt=1", digits))
    assert root.findtext("./Say") == "Sorry, that is not one of the options."
    assert root.find("./Gather").get("action").endswith("/voice/menu?attempt=2")  # type: ignore[union-attr]
    root = twiml(twilio.post("/webhooks/twilio/voice/menu?attempt=3", digits))
    assert root.find("./Dial/Conference") is not None
    assert _call(voice_app, digits["CallSid"]).queue_name == "General"


def test_no_key_goes_to_the_default_queue(twilio: ActAsTwilio, voice_app: Flask) -> None:
    twilio.post("/webhooks/twilio/voice", incoming())
    params = {k: v for k, v in fixture("gather_digits.json")["params"].items() if k != "Digits"}
    root = twiml(twilio.post("/webhooks/twilio/voice/menu?attempt=1", params))
    assert root.find("./Dial/Conference") is not None
    call = _call(voice_app, params["CallSid"])
    assert (call.stage, call.queue_name, call.digits) == ("queued", "General", None)


def test_number_without_menu_goes_straight_to_the_queue(
    twilio: ActAsTwilio, voice_app: Flask
) -> None:
    root = twiml(twilio.post("/webhooks/twilio/voice", incoming(To=DIRECT)))
    assert root.findtext("./Say") == "Hello, connecting you."
    conference = root.find("./Dial/Conference")
    assert conference is not None and conference.get("record") is None
    assert _call(voice_app, incoming()["CallSid"]).stage == "queued"


# ----------------------------------------------------------------------------- closed, voicemail


def test_closed_line_takes_a_voicemail_into_the_queue_with_the_audio(
    twilio: ActAsTwilio, voice_app: Flask, standin: Any
) -> None:
    customer_id = _customer(voice_app)
    root = twiml(twilio.post("/webhooks/twilio/voice", incoming(To=CLOSED)))
    assert root.findtext("./Say") == "We are closed. Please leave a message after the tone."
    record = root.find("./Record")
    assert record is not None
    assert record.get("playBeep") == "true"
    assert record.get("action") == twilio.url("/webhooks/twilio/voice/voicemail")
    callback = record.get("recordingStatusCallback") or ""
    [interaction] = _interactions(voice_app)
    assert callback == twilio.url(
        f"/webhooks/twilio/recording?kind=voicemail&interaction={interaction.id}"
    )
    assert root.find("./Hangup") is not None  # nothing recorded: goodbye
    params = dict(fixture("recording_completed.json")["params"])
    params["RecordingUrl"] = params["RecordingUrl"]  # the stand-in serves the audio
    for _ in range(2):  # announced twice (a retry): one recording, one attachment
        resp = twilio.follow(callback, params)
        assert resp.status_code == 204
    assert twilio.count(VoiceRecording) == 1
    with voice_app.app_context():
        session = database.session
        recording = session.scalar(select(VoiceRecording))
        assert recording is not None
        assert (recording.kind, recording.duration_seconds) == ("voicemail", 14)
        attachment = session.get(Attachment, recording.attachment_id)
        assert attachment is not None
        assert attachment.interaction_id == interaction.id
        assert attachment.customer_id == customer_id
        assert attachment.category == "voicemail"
        from crm_core.services.blobs import BlobStore

        settings = voice_app.extensions["switchboard.settings"]
        from tests.integration.twilio_voice.standin import WAV

        assert BlobStore(settings.effective_blob_dir).get(attachment.sha256 or "") == WAV
        row = session.get(Interaction, interaction.id)
        assert row is not None and row.payload is not None
        assert row.payload["call"]["recordings"][0]["kind"] == "voicemail"
        assert row.summary == "Voicemail (14 s)"
    downloads = [r for r in standin.received if r.method == "GET"]
    assert [r.path for r in downloads] == [
        f"/2010-04-01/Accounts/{params['AccountSid']}/Recordings/{params['RecordingSid']}.wav"
    ]
    assert downloads[0].auth == (params["AccountSid"], twilio.validator.token.decode())
    done = twiml(
        twilio.post(
            "/webhooks/twilio/voice/voicemail",
            {
                **incoming(To=CLOSED),
                "RecordingDuration": "14",
                "RecordingUrl": params["RecordingUrl"],
            },
        )
    )
    assert done.findtext("./Say") == "Thank you. We will get back to you. Goodbye."


def test_closed_line_without_voicemail_says_so_and_hangs_up(
    twilio: ActAsTwilio, voice_app: Flask
) -> None:
    root = twiml(twilio.post("/webhooks/twilio/voice", incoming(To=CLOSED_NO_VM)))
    assert [c.tag for c in root] == ["Say", "Hangup"]
    assert root.findtext("./Say") == "We are closed. Goodbye."


# ----------------------------------------------------------------------------- bad input


def test_unknown_to_number_is_a_polite_hangup(twilio: ActAsTwilio, caplog: Any) -> None:
    resp = twilio.post("/webhooks/twilio/voice", incoming(To="+48229999999"))
    assert resp.status_code == 200
    root = twiml(resp)
    assert [c.tag for c in root] == ["Say", "Hangup"]
    assert "not in service" in (root.findtext("./Say") or "")
    assert "not one of our numbers" in caplog.text
    _nothing_written(twilio)


@pytest.mark.parametrize(
    "change",
    [
        {"CallSid": ""},
        {"CallSid": "CA123"},
        {"CallSid": "XX11111111111111111111111111111111"},
        {"AccountSid": "AC99999999999999999999999999999999"},
        {"To": ""},
        {"To": "+4822\x00307"},
        {"From": "+48" + "1" * 100},
        {"CallStatus": "exploded"},
        {"Direction": "sideways"},
    ],
)
def test_malformed_incoming_call_is_400_and_writes_nothing(
    twilio: ActAsTwilio, change: dict[str, str]
) -> None:
    resp = twilio.post("/webhooks/twilio/voice", incoming(**change))
    assert resp.status_code == 400
    assert resp.is_json and resp.get_json()["error"] == "bad_request"
    _nothing_written(twilio)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/webhooks/twilio/voice/menu?attempt=1", {"Digits": "1; DROP TABLE"}),
        ("/webhooks/twilio/voice/menu?attempt=x", {"Digits": "1"}),
        ("/webhooks/twilio/voice/status", {"CallStatus": "done"}),
        ("/webhooks/twilio/voice/status", {"CallStatus": "completed", "CallDuration": "-5"}),
        ("/webhooks/twilio/voice/status", {"CallStatus": "completed", "Timestamp": "yesterday"}),
        ("/webhooks/twilio/voice/status", {"CallStatus": "completed", "SequenceNumber": "1e9"}),
        ("/webhooks/twilio/recording", {"RecordingSid": "RE1", "RecordingUrl": "x"}),
        (
            "/webhooks/twilio/recording",
            {"RecordingSid": "RE" + "2" * 32, "RecordingUrl": "ftp://x/y"},
        ),
        ("/webhooks/twilio/voice/agent", {}),
    ],
)
def test_malformed_callbacks_are_400_and_write_nothing(
    twilio: ActAsTwilio, path: str, params: dict[str, str]
) -> None:
    base = {"AccountSid": incoming()["AccountSid"], "CallSid": incoming()["CallSid"]}
    resp = twilio.post(path, {**base, **params})
    assert resp.status_code == 400
    _nothing_written(twilio)
    assert twilio.count(VoiceRecording) == 0


def test_non_form_body_is_refused_without_5xx(twilio: ActAsTwilio) -> None:
    resp = twilio.client.post(
        "/webhooks/twilio/voice",
        data=b"\xff\xfe not a form",
        headers={"X-Twilio-Signature": "abc=", "Content-Type": "application/octet-stream"},
    )
    assert resp.status_code == 403
    _nothing_written(twilio)


def test_every_voice_route_refuses_unsigned_requests(voice_app: Flask, twilio: ActAsTwilio) -> None:
    """Walks the url map: a webhook added later is covered without anyone listing it."""
    rules = [r for r in voice_app.url_map.iter_rules() if r.endpoint.startswith("twilio_voice.")]
    assert len(rules) >= 9
    for rule in rules:
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            resp = twilio.client.open(rule.rule, method=method, data=incoming())
            assert resp.status_code == 403, (method, rule.rule)
    _nothing_written(twilio)


def test_voicemail_after_hang_up_lands_in_the_voicemail_queue(
    twilio: ActAsTwilio, voice_app: Flask
) -> None:
    """The recording callback usually comes after the call's final status."""
    from hub import routing

    with voice_app.app_context():
        session = database.session
        queue = routing.do_create_queue(session, name="Voicemail", channels=["voice"])
        session.commit()
        queue_id = queue.id
    root = twiml(twilio.post("/webhooks/twilio/voice", incoming(To=CLOSED)))
    callback = root.find("./Record").get("recordingStatusCallback") or ""  # type: ignore[union-attr]
    [interaction] = _interactions(voice_app)
    assert interaction.queue_id is None  # not routed while the caller is recording
    done = {
        **fixture("call_status.json")["common"],
        "To": CLOSED,
        "CallStatus": "completed",
        "CallDuration": "20",
    }
    assert twilio.post("/webhooks/twilio/voice/status", done).status_code == 204
    [interaction] = _interactions(voice_app)
    assert interaction.status == "closed"
    params = dict(fixture("recording_completed.json")["params"])
    assert twilio.follow(callback, params).status_code == 204
    [interaction] = _interactions(voice_app)
    assert (interaction.status, interaction.queue_id) == ("queued", queue_id)
    assert _call(voice_app, params["CallSid"]).abandoned is False
