"""The telephony channel on Twilio: inbound calls with an IVR per company number, queueing
through the hub, agents joined to a conference per call, click-to-call, recordings and
voicemail, and ``switchboard simulate call``.

Webhooks (all signed by Twilio, see :mod:`channels.twilio_voice.security`):
``POST /webhooks/twilio/voice`` (incoming call), ``/voice/menu`` (IVR answer),
``/voice/wait`` (music while waiting), ``/voice/voicemail``, ``/voice/agent`` and
``/voice/outbound`` (TwiML of the legs we place), ``/voice/status`` (call status
callbacks), ``/voice/conference`` (conference events) and ``/webhooks/twilio/recording``.

Settings: ``SWITCHBOARD_TWILIO_ACCOUNT_SID``, ``SWITCHBOARD_TWILIO_AUTH_TOKEN`` (optional
API key SID/secret), ``SWITCHBOARD_TWILIO_MENUS_FILE``, ``SWITCHBOARD_PUBLIC_BASE_URL``,
``SWITCHBOARD_TWILIO_SIMULATOR``. See :mod:`channels.twilio_voice.config` for the modes.
"""

from __future__ import annotations

import logging
import secrets

from flask import Flask, current_app, has_app_context

from channels.twilio_voice.config import VoiceConfig, voice_config
from crm_core.events import DomainEvent
from crm_core.models import Interaction
from hub import events
from hub.intake import register_threader
from hub.ports import register_call_placer

log = logging.getLogger(__name__)
_subscribed = False


def init_app(app: Flask) -> None:
    """Read the voice settings (stopping start-up on a missing secret), register the
    webhooks when the channel is on, the place-call port, and the after-commit listeners."""
    from channels.twilio_voice import agents, models  # noqa: F401  (models: the tables)
    from channels.twilio_voice.rest import TwilioCallPlacer
    from channels.twilio_voice.webhooks import bp

    cfg = voice_config(app.extensions["switchboard.settings"])
    app.extensions["switchboard.voice"] = cfg
    register_threader("voice", _thread_inbound_call)
    if cfg.mode == "twilio":
        register_call_placer(app, TwilioCallPlacer(cfg))
    csrf = app.extensions.get("csrf")
    # The agent's device settings and token: JSON only, like the rest of /api/v1.
    app.register_blueprint(agents.bp)
    if csrf is not None:
        csrf.exempt(agents.bp)
    if cfg.enabled:
        app.register_blueprint(bp)
        if csrf is not None:
            csrf.exempt(bp)  # Twilio signs its requests; it cannot carry our CSRF token
        log.info("voice channel on (%s): %s", cfg.mode, ", ".join(cfg.company_numbers))
    _subscribe()


def _thread_inbound_call(session: object, event: object, interaction: Interaction) -> None:
    """Intake's hook for voice: the customer's call leg, in the intake transaction."""
    from sqlalchemy.orm import Session

    from channels.twilio_voice.webhooks import new_customer_leg
    from hub.intake import InboundEvent

    assert isinstance(session, Session) and isinstance(event, InboundEvent)
    # Intake calls this for new interactions only: a leg for this CallSid cannot exist yet.
    if event.direction == "inbound" and event.external_id is not None:
        new_customer_leg(session, interaction, event)


def _voice() -> VoiceConfig | None:
    if not has_app_context():
        return None
    cfg: VoiceConfig | None = current_app.extensions.get("switchboard.voice")
    return cfg


def _on_dial_requested(evt: DomainEvent) -> None:
    cfg = _voice()
    if cfg is None or cfg.mode != "twilio":
        return
    from channels.twilio_voice.tasks import dial_outbound

    dial_outbound.delay(int(evt.data["voice_call_id"]))


def _on_recording(evt: DomainEvent) -> None:
    cfg = _voice()
    if cfg is None or not cfg.fetch_recordings:
        return
    from channels.twilio_voice.tasks import fetch_recording

    fetch_recording.delay(int(evt.data["recording_id"]))


def _on_accepted(evt: DomainEvent) -> None:
    cfg = _voice()
    if cfg is None or not cfg.enabled or evt.data.get("channel") != "voice":
        return
    interaction_id = int(evt.data["interaction_id"])
    agent_id = int(evt.data["agent_id"])
    if cfg.mode == "twilio":
        from channels.twilio_voice.tasks import connect_agent

        connect_agent.delay(interaction_id, agent_id)
    else:
        from channels.twilio_voice.simulate import answer_as_agent

        answer_as_agent(interaction_id, agent_id)


def _on_hangup_requested(evt: DomainEvent) -> None:
    cfg = _voice()
    if cfg is None or cfg.mode != "twilio":
        return
    from channels.twilio_voice.tasks import hang_up_call

    hang_up_call.delay(str(evt.data["call_sid"]))


def _subscribe() -> None:
    global _subscribed
    if _subscribed:
        return
    from channels.twilio_voice.calls import (
        VOICE_DIAL_REQUESTED,
        VOICE_HANGUP_REQUESTED,
        VOICE_RECORDING_ADDED,
    )

    events.subscribe(VOICE_DIAL_REQUESTED, _on_dial_requested)
    events.subscribe(VOICE_RECORDING_ADDED, _on_recording)
    events.subscribe(VOICE_HANGUP_REQUESTED, _on_hangup_requested)
    events.subscribe(events.INTERACTION_ACCEPTED, _on_accepted)
    _subscribed = True


def new_call_sid() -> str:
    """A CallSid-shaped id for calls the simulator invents."""
    return "CA" + secrets.token_hex(16)
