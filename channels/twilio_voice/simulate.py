"""Acting as Twilio without Twilio: ``switchboard simulate call`` posts the same signed
webhooks Twilio would, and follows the TwiML it gets back (the IVR's Gather, Redirect).

The requests go through the app itself (its test client, so no server is needed) or, with
``base_url``, over HTTP to a running server. Either way they are signed for the public URL
(``SWITCHBOARD_PUBLIC_BASE_URL``) with the auth token, exactly as Twilio signs them.
"""

from __future__ import annotations

import email.utils
import logging
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Flask
from twilio.request_validator import RequestValidator

from channels.twilio_voice.config import VoiceConfig
from crm_core.db import utcnow

log = logging.getLogger(__name__)


class SimulationError(RuntimeError):
    """The simulation cannot run (channel off) or the app refused a step."""


@dataclass
class Step:
    what: str
    status: int
    twiml: str = ""


@dataclass
class SimulatedCall:
    call_sid: str
    steps: list[Step] = field(default_factory=list)
    waiting: bool = False
    voicemail: bool = False
    hung_up_by_app: bool = False


def sign(cfg: VoiceConfig, url: str, params: dict[str, str]) -> str:
    return str(RequestValidator(cfg.auth_token).compute_signature(url, params))


class WebhookPoster:
    """Posts signed form webhooks to the app (test client) or a server (HTTP)."""

    def __init__(self, app: Flask, base_url: str | None = None) -> None:
        self.app = app
        self.cfg: VoiceConfig = app.extensions["switchboard.voice"]
        self.base_url = base_url.rstrip("/") if base_url else None

    def post(self, public_url: str, params: dict[str, str]) -> tuple[int, str]:
        headers = {"X-Twilio-Signature": sign(self.cfg, public_url, params)}
        parts = urlsplit(public_url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if self.base_url is None:
            client = self.app.test_client()
            resp = client.post(path, data=params, headers=headers)
            return resp.status_code, resp.get_data(as_text=True)
        req = urllib.request.Request(  # noqa: S310  (an http(s) URL the operator gave)
            self.base_url + path,
            data=urlencode(params).encode(),
            headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=15) as answer:  # noqa: S310
                return int(answer.status), answer.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")


def _base_params(cfg: VoiceConfig, call_sid: str, caller: str, called: str) -> dict[str, str]:
    return {
        "AccountSid": cfg.account_sid,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "From": caller,
        "Caller": caller,
        "To": called,
        "Called": called,
        "Direction": "inbound",
    }


def simulate_call(
    app: Flask,
    *,
    caller: str,
    called: str,
    press: str | None = None,
    hangup_after: float | None = None,
    base_url: str | None = None,
    call_sid: str | None = None,
    sleep: Any = time.sleep,
) -> SimulatedCall:
    """Play one inbound call through the app's webhooks, as Twilio would."""
    from channels.twilio_voice import new_call_sid
    from channels.twilio_voice.webhooks import STATUS_PATH, VOICE_PATH

    cfg: VoiceConfig = app.extensions["switchboard.voice"]
    if not cfg.enabled:
        raise SimulationError(
            "the voice channel is off: set SWITCHBOARD_TWILIO_SIMULATOR=1 (or Twilio "
            "credentials) to take calls"
        )
    poster = WebhookPoster(app, base_url)
    sim = SimulatedCall(call_sid=call_sid or new_call_sid())
    base = _base_params(cfg, sim.call_sid, caller, called)
    status, body = poster.post(cfg.url(VOICE_PATH), {**base, "CallStatus": "ringing"})
    sim.steps.append(Step("incoming call", status, body))
    pressed = False
    for _ in range(5):  # follow the IVR: Gather -> action, Redirect -> target
        if status != 200:
            break
        nxt = _next_request(body, press if not pressed else None)
        if nxt is None:
            break
        url, extra = nxt
        pressed = pressed or "Digits" in extra
        status, body = poster.post(url, {**base, "CallStatus": "in-progress", **extra})
        sim.steps.append(
            Step("pressed " + extra["Digits"] if "Digits" in extra else url, status, body)
        )
    if status == 200 and body:
        root = ET.fromstring(body)  # noqa: S314
        sim.waiting = root.find("./Dial/Conference") is not None
        sim.voicemail = root.find("./Record") is not None
        sim.hung_up_by_app = root.find("./Hangup") is not None
    if hangup_after is not None and not sim.hung_up_by_app:
        if hangup_after > 0:
            sleep(hangup_after)
        end = {
            **base,
            "CallStatus": "completed",
            "CallDuration": str(int(hangup_after)),
            "Timestamp": email.utils.format_datetime(utcnow()),
            "SequenceNumber": "0",
        }
        status, body = poster.post(cfg.url(STATUS_PATH), end)
        sim.steps.append(Step("caller hung up", status, body))
    return sim


def _next_request(body: str, press: str | None) -> tuple[str, dict[str, str]] | None:
    """The request Twilio would make next after this TwiML, or None (the call waits/ends)."""
    try:
        root = ET.fromstring(body)  # noqa: S314
    except ET.ParseError:
        return None
    gather = root.find("./Gather")
    if gather is not None and press:
        return gather.get("action", ""), {"Digits": press}
    if gather is not None and gather.get("actionOnEmptyResult") == "true":
        return gather.get("action", ""), {}
    redirect = root.find("./Redirect")
    if redirect is not None and redirect.text:
        return redirect.text.strip(), {}
    return None


def answer_as_agent(interaction_id: int, agent_id: int) -> None:
    """Simulator: the agent accepted, so their leg 'answers' at once (there is no phone)."""
    from channels.twilio_voice import calls, new_call_sid
    from channels.twilio_voice.models import VoiceCall
    from hub.db import db

    with db.transaction() as session:
        main = calls.customer_leg(session, interaction_id)
        if main is None or main.stage != "queued":
            return
        leg = VoiceCall(
            call_sid=new_call_sid(),
            interaction_id=interaction_id,
            leg="agent",
            direction="outbound",
            agent_id=agent_id,
            from_number=main.company_number,
            to_number=f"client:agent-{agent_id}",
            status="ringing",
            stage="dialing",
            company_number=main.company_number,
            conference=main.conference,
        )
        session.add(leg)
        session.flush()
        calls.do_apply_status(session, leg, "in-progress", at=utcnow())
    log.info("simulator: agent %s connected to call %s", agent_id, interaction_id)
