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


def dial(session: Session, leg: VoiceCall, *, url: str, status_url: str) -> str:
    """Ask Twilio to create the call of ``leg``; stores and returns its CallSid."""
    client = twilio_client()
    created: Any = client.calls.create(
        to=leg.to_number,
        from_=leg.from_number,
        url=url,
        method="POST",
        status_callback=status_url,
        status_callback_method="POST",
        status_callback_event=STATUS_EVENTS,
        timeout=20,
    )
    sid = str(created.sid)
    if leg.call_sid is None:
        leg.call_sid = sid
    interaction = session.get(Interaction, leg.interaction_id)
    if interaction is not None and interaction.direction == "outbound":
        interaction.external_id = interaction.external_id or sid
    return sid
