"""How an agent takes calls: in the browser (Twilio Voice JS SDK, with an access token the
server mints) or on an outside phone that Twilio rings and bridges into the call."""

from __future__ import annotations

from flask import Blueprint, current_app
from pydantic import BaseModel, Field
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant

from channels.twilio_voice.config import VoiceConfig
from channels.twilio_voice.models import VoiceAgentLine
from channels.twilio_voice.rest import browser_identity
from crm_core.errors import N_, Conflict, ValidationFailed
from crm_core.services.phones import normalize_phone
from hub.api.schemas import Strict
from hub.api.spec import operation
from hub.auth import current
from hub.db import db

bp = Blueprint("twilio_voice_agent", __name__, url_prefix="/api/v1/voice")
TAGS = ["voice"]
TOKEN_TTL = 3600


class VoiceTokenOut(BaseModel):
    token: str
    identity: str
    ttl: int


class AgentLineIn(Strict):
    phone_number: str | None = Field(
        None, max_length=64, description="an outside phone; null: take calls in the browser"
    )


class AgentLineOut(BaseModel):
    phone_number: str | None
    device: str = Field(description="phone | browser")


def _cfg() -> VoiceConfig:
    cfg: VoiceConfig = current_app.extensions["switchboard.voice"]
    return cfg


@operation(
    bp,
    "/token",
    "GET",
    summary="An access token for the Twilio Voice JS SDK in the agent's browser",
    tags=TAGS,
    response=VoiceTokenOut,
    errors=(409,),
)
def voice_token() -> VoiceTokenOut:
    """409 when browser calling is not configured (Twilio API key and TwiML app)."""
    cfg = _cfg()
    if cfg.mode != "twilio":
        raise Conflict(N_("browser calls need Twilio: the voice channel is not connected to it"))
    if not (cfg.api_key_sid and cfg.api_key_secret):
        raise Conflict(
            N_(
                "browser calls need SWITCHBOARD_TWILIO_API_KEY_SID and "
                "SWITCHBOARD_TWILIO_API_KEY_SECRET"
            )
        )
    identity = browser_identity(current().id)
    token = AccessToken(
        cfg.account_sid,
        cfg.api_key_sid,
        cfg.api_key_secret,
        identity=identity,
        ttl=TOKEN_TTL,
    )
    token.add_grant(
        VoiceGrant(
            incoming_allow=True,
            outgoing_application_sid=cfg.twiml_app_sid or None,
        )
    )
    return VoiceTokenOut(token=str(token.to_jwt()), identity=identity, ttl=TOKEN_TTL)


def _line_out(line: VoiceAgentLine | None) -> AgentLineOut:
    number = line.phone_number if line is not None else None
    return AgentLineOut(phone_number=number, device="phone" if number else "browser")


@operation(
    bp,
    "/line",
    "GET",
    summary="Where the current agent takes calls",
    tags=TAGS,
    response=AgentLineOut,
)
def get_agent_line() -> AgentLineOut:
    return _line_out(db.session.get(VoiceAgentLine, current().id))


@operation(
    bp,
    "/line",
    "PUT",
    summary="Take calls on an outside phone (or, with null, in the browser)",
    tags=TAGS,
    body=AgentLineIn,
    response=AgentLineOut,
    errors=(422,),
)
def put_agent_line(body: AgentLineIn) -> AgentLineOut:
    session = db.session
    number = None
    if body.phone_number:
        number = normalize_phone(body.phone_number, _cfg().default_region)
        if number is None:
            raise ValidationFailed(N_("not a phone number Twilio can call"), field="phone_number")
    user_id = current().id
    line = session.get(VoiceAgentLine, user_id)
    if line is None:
        line = VoiceAgentLine(user_id=user_id)
        session.add(line)
    line.phone_number = number
    session.flush()
    return _line_out(line)


class RecordingStartedOut(BaseModel):
    recording_sid: str
    call_sid: str


@operation(
    bp,
    "/calls/<int:interaction_id>/recording",
    "POST",
    summary="Start recording a connected call (queues whose recording is on-demand)",
    tags=TAGS,
    response=RecordingStartedOut,
    status=202,
    errors=(403, 404, 409),
)
def start_recording(interaction_id: int) -> RecordingStartedOut:
    """The agent on the call (or a supervisor) starts recording it; the audio arrives
    through the recording callback like any other recording."""
    from twilio.base.exceptions import TwilioException

    from channels.twilio_voice import calls, rest
    from channels.twilio_voice.webhooks import RECORDING_PATH
    from crm_core.errors import NotFound, PermissionDenied
    from crm_core.models import Interaction

    session = db.session
    user = current()
    interaction = session.get(Interaction, interaction_id)
    main = calls.customer_leg(session, interaction_id) if interaction is not None else None
    if interaction is None or main is None:
        raise NotFound(N_("call %(id)s not found"), id=interaction_id)
    if interaction.agent_id != user.id and user.role not in ("supervisor", "admin"):
        raise PermissionDenied(N_("only the agent on the call (or a supervisor) may record it"))
    if _cfg().mode != "twilio":
        raise Conflict(N_("recording needs Twilio: the voice channel is not connected to it"))
    if main.stage != "connected" or main.call_sid is None:
        raise Conflict(N_("only a connected call can be recorded"))
    if main.recording_mode != "on-demand":
        raise Conflict(
            N_("recording is '%(recording_mode)s' for this call's queue"),
            recording_mode=main.recording_mode,
        )
    try:
        created = (
            rest.twilio_client()
            .calls(main.call_sid)
            .recordings.create(
                recording_status_callback=_cfg().url(
                    f"{RECORDING_PATH}?kind=call&interaction={interaction_id}"
                ),
                recording_status_callback_method="POST",
                recording_status_callback_event=["completed"],
            )
        )
    except TwilioException as exc:
        raise Conflict(N_("Twilio refused to record the call: %(exc)s"), exc=exc) from exc
    return RecordingStartedOut(recording_sid=str(created.sid), call_sid=main.call_sid)
