"""Talking to Twilio's REST API, only through the SDK's ``Client``.

Tests (and anyone with a Twilio-compatible server) pass an ``http_client`` in the Flask
config key ``TWILIO_HTTP_CLIENT``; the SDK builds the same requests either way.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app
from sqlalchemy.orm import Session
from twilio.rest import Client

from channels.twilio_voice import calls
from channels.twilio_voice.config import VoiceConfig
from channels.twilio_voice.models import VoiceAgentLine, VoiceCall
from crm_core.events import DomainEvent, publish_on_commit
from crm_core.models import Interaction
from hub.ports import OutboundCall, record_outbound_call

log = logging.getLogger(__name__)

STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]


def twilio_client(app: Flask | None = None) -> Client:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    cfg: VoiceConfig = app.extensions["switchboard.voice"]
    http_client = app.config.get("TWILIO_HTTP_CLIENT")
    if cfg.api_key_sid:
        return Client(cfg.api_key_sid, cfg.api_key_secret, cfg.account_sid, http_client=http_client)
    return Client(cfg.account_sid, cfg.auth_token, http_client=http_client)


def agent_endpoint(session: Session, agent_id: int) -> str:
    """Where an agent takes calls: their outside phone, or their browser (Voice JS SDK)."""
    line = session.get(VoiceAgentLine, agent_id)
    if line is not None and line.phone_number:
        return line.phone_number
    return f"client:{browser_identity(agent_id)}"


def browser_identity(agent_id: int) -> str:
    return f"agent-{agent_id}"


class TwilioCallPlacer:
    """Click-to-call through Twilio: the agent's phone (or browser) rings first; when the
    agent answers, Twilio fetches ``/webhooks/twilio/voice/outbound`` and dials the customer
    from the company number."""

    def __init__(self, cfg: VoiceConfig) -> None:
        self.cfg = cfg

    def place_call(self, session: Session, call: OutboundCall) -> Interaction:
        if call.dialer is not None:
            return self._place_dialer_call(session, call)
        assert call.agent_id is not None, "click-to-call needs the agent"
        from_number = self.cfg.company_numbers[0] if self.cfg.company_numbers else None
        interaction = record_outbound_call(session, call, status="active", from_number=from_number)
        leg = VoiceCall(
            interaction_id=interaction.id,
            leg="agent",
            direction="outbound",
            agent_id=call.agent_id,
            from_number=from_number,
            to_number=agent_endpoint(session, call.agent_id)[:64],
            status="queued",
            stage="dialing",
            company_number=from_number,
        )
        session.add(leg)
        session.flush()
        calls.refresh_interaction(session, interaction)
        # Dial only once the interaction is committed: the callbacks must find it.
        publish_on_commit(
            session,
            DomainEvent(calls.VOICE_DIAL_REQUESTED, {"voice_call_id": leg.id}),
        )
        return interaction

    def _place_dialer_call(self, session: Session, call: OutboundCall) -> Interaction:
        """A campaign call: the customer's leg is dialled first (with async AMD); when
        answered it waits in its own conference for the agent the dialer picks."""
        assert call.dialer is not None
        from_number = call.caller_id or (
            self.cfg.company_numbers[0] if self.cfg.company_numbers else None
        )
        interaction = record_outbound_call(session, call, status="active", from_number=from_number)
        interaction.payload = {
            **(interaction.payload or {}),
            "dialer": {
                "campaign_id": call.dialer.campaign_id,
                "lead_id": call.dialer.lead_id,
                "attempt_id": call.dialer.attempt_id,
                "amd": call.machine_detection,
            },
        }
        leg = VoiceCall(
            interaction_id=interaction.id,
            leg="customer",
            direction="outbound",
            from_number=from_number,
            to_number=call.to[:64],
            status="queued",
            stage="dialing",
            company_number=from_number,
            conference=calls.conference_name(interaction.id),
        )
        session.add(leg)
        session.flush()
        calls.refresh_interaction(session, interaction)
        publish_on_commit(
            session,
            DomainEvent(calls.VOICE_DIAL_REQUESTED, {"voice_call_id": leg.id}),
        )
        return interaction


def dial(
    session: Session,
    leg: VoiceCall,
    *,
    url: str,
    status_url: str,
    amd_url: str | None = None,
    timeout: int = 20,
) -> str:
    """Ask Twilio to create the call of ``leg``; stores and returns its CallSid. With
    ``amd_url``, answering-machine detection runs asynchronously (the call is connected at
    once; the verdict is posted to ``amd_url``)."""
    client = twilio_client()
    extra: dict[str, Any] = {}
    if amd_url is not None:
        extra = {
            "machine_detection": "DetectMessageEnd",
            "async_amd": "true",
            "async_amd_status_callback": amd_url,
            "async_amd_status_callback_method": "POST",
        }
    created: Any = client.calls.create(
        to=leg.to_number,
        from_=leg.from_number,
        url=url,
        method="POST",
        status_callback=status_url,
        status_callback_method="POST",
        status_callback_event=STATUS_EVENTS,
        timeout=timeout,
        **extra,
    )
    sid = str(created.sid)
    if leg.call_sid is None:
        leg.call_sid = sid
    interaction = session.get(Interaction, leg.interaction_id)
    if interaction is not None and interaction.direction == "outbound":
        interaction.external_id = interaction.external_id or sid
    return sid


def hang_up(call_sid: str) -> None:
    """End a call in progress (a machine the dialer does not want)."""
    twilio_client().calls(call_sid).update(status="completed")
