"""The voice channel's background work (Celery; in-process in the embedded default).

Tasks take ids and are idempotent: a leg that has its CallSid is not dialled again, a
recording already in the attachment store is not fetched again.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import urlencode

from celery import shared_task
from flask import current_app
from sqlalchemy import select
from twilio.base.exceptions import TwilioException

from channels.twilio_voice import calls, rest
from channels.twilio_voice.config import VoiceConfig
from channels.twilio_voice.models import VoiceCall, VoiceRecording
from crm_core.db import utcnow
from crm_core.models import Interaction
from crm_core.services.blobs import BlobStore, do_attach_file
from hub.db import db

log = logging.getLogger(__name__)
_hook_lock = threading.Lock()


def _cfg() -> VoiceConfig:
    cfg: VoiceConfig = current_app.extensions["switchboard.voice"]
    return cfg


def _url(path: str, **query: Any) -> str:
    return _cfg().url(path + "?" + urlencode(query))


@shared_task(name="channels.twilio_voice.dial_outbound", ignore_result=True)
def dial_outbound(voice_call_id: int) -> None:
    """Click-to-call: ring the agent; the customer is dialled when the agent answers."""
    from channels.twilio_voice.webhooks import OUTBOUND_PATH, STATUS_PATH

    with db.transaction() as session:
        leg = session.get(VoiceCall, voice_call_id)
        if leg is None or leg.call_sid is not None or leg.status != "queued":
            return
        if leg.leg == "customer":
            _dial_for_dialer(session, leg)
            return
        try:
            rest.dial(
                session,
                leg,
                url=_url(OUTBOUND_PATH, vc=leg.id),
                status_url=_url(STATUS_PATH, vc=leg.id, leg="agent"),
            )
        except TwilioException as exc:
            _failed(session, leg, exc)


def _dial_for_dialer(session: Any, leg: VoiceCall) -> None:
    """A campaign dialer's call: asked once more whether it may be dialled (a number put
    on the do-not-call list a moment ago is not), then dialled with async AMD."""
    from channels.twilio_voice.webhooks import DIALER_AMD_PATH, DIALER_PATH, STATUS_PATH
    from hub.ports import dialer_handler

    interaction = session.get(Interaction, leg.interaction_id)
    ref = calls.dialer_ref(interaction)
    handler = dialer_handler()
    if ref is None or handler is None:
        return
    if not handler.may_dial(session, ref):
        leg.status = "canceled"
        leg.stage = "ended"
        interaction.status = "closed"
        interaction.summary = f"call to {interaction.to_address} not placed: refused before dial"
        calls.refresh_interaction(session, interaction)
        return
    amd = bool((interaction.payload or {}).get("dialer", {}).get("amd"))
    try:
        rest.dial(
            session,
            leg,
            url=_url(DIALER_PATH, vc=leg.id),
            status_url=_url(STATUS_PATH, vc=leg.id, leg="customer"),
            amd_url=_url(DIALER_AMD_PATH, vc=leg.id) if amd else None,
            timeout=25,
        )
    except TwilioException as exc:
        _failed(session, leg, exc)
        handler.on_ended(session, ref, "failed")


@shared_task(name="channels.twilio_voice.hang_up", ignore_result=True)
def hang_up_call(call_sid: str) -> None:
    """End a call in progress (a campaign call answered by a machine)."""
    try:
        rest.hang_up(call_sid)
    except TwilioException as exc:
        log.warning("could not hang up %s: %s", call_sid, exc)


@shared_task(name="channels.twilio_voice.connect_agent", ignore_result=True)
def connect_agent(interaction_id: int, agent_id: int) -> None:
    """The agent accepted a waiting call: ring the agent's phone or browser into the
    caller's conference."""
    from channels.twilio_voice.webhooks import AGENT_PATH, STATUS_PATH

    with db.transaction() as session:
        main = calls.customer_leg(session, interaction_id)
        if main is None or main.stage not in ("queued",):
            return
        if main.direction != "inbound" and main.conference is None:
            return  # only inbound calls and answered dialer calls wait in a conference
        existing = session.scalar(
            select(VoiceCall).where(
                VoiceCall.interaction_id == interaction_id,
                VoiceCall.leg == "agent",
                VoiceCall.agent_id == agent_id,
                VoiceCall.status.notin_(tuple(calls.FINAL_STATUSES)),
            )
        )
        if existing is not None:
            return
        leg = VoiceCall(
            interaction_id=interaction_id,
            leg="agent",
            direction="outbound",
            agent_id=agent_id,
            from_number=main.company_number,
            to_number=rest.agent_endpoint(session, agent_id)[:64],
            status="queued",
            stage="dialing",
            company_number=main.company_number,
            conference=main.conference,
        )
        session.add(leg)
        session.flush()
        try:
            rest.dial(
                session,
                leg,
                url=_url(AGENT_PATH, vc=leg.id),
                status_url=_url(STATUS_PATH, vc=leg.id, leg="agent"),
            )
        except TwilioException as exc:
            _failed(session, leg, exc)


def _failed(session: Any, leg: VoiceCall, exc: Exception) -> None:
    log.error("Twilio refused the call of leg %s: %s", leg.id, exc)
    leg.status = "failed"
    leg.stage = "ended"
    interaction = session.get(Interaction, leg.interaction_id)
    if interaction is not None:
        if interaction.direction == "outbound":
            interaction.status = "closed"
            interaction.summary = f"call to {interaction.to_address} failed: Twilio refused it"
        calls.refresh_interaction(session, interaction)


@shared_task(name="channels.twilio_voice.fetch_recording", ignore_result=True)
def fetch_recording(recording_id: int) -> None:
    """Copy a recording's audio from Twilio into the attachment store."""
    settings = current_app.extensions["switchboard.settings"]
    with db.transaction() as session:
        recording = session.get(VoiceRecording, recording_id)
        if recording is None or recording.attachment_id is not None:
            return
        audio = fetch_media(rest.twilio_client(), recording.url + ".wav")
        interaction = session.get(Interaction, recording.interaction_id)
        attachment = do_attach_file(
            session,
            BlobStore(settings.effective_blob_dir),
            data=audio,
            filename=f"{recording.kind}-{recording.recording_sid}.wav",
            declared_type="audio/x-wav",
            max_size=settings.max_upload_bytes,
            customer_id=interaction.customer_id if interaction else None,
            interaction_id=recording.interaction_id,
            category="voicemail" if recording.kind == "voicemail" else "recording",
        )
        recording.attachment_id = attachment.id
        recording.fetched_at = utcnow()
        if interaction is not None:
            calls.refresh_interaction(session, interaction)


def fetch_media(client: Any, url: str) -> bytes:
    """GET a media URL through the SDK's HTTP client, as bytes.

    The SDK hands back text; a response hook makes that text Latin-1, which maps every
    byte to one character, so the audio survives the round trip unchanged.
    """

    def latin1(response: Any, *args: Any, **kwargs: Any) -> Any:
        response.encoding = "latin-1"
        return response

    http = client.http_client
    with _hook_lock:
        hooks = http.request_hooks.setdefault("response", [])
        hooks.append(latin1)
        try:
            response = client.request("GET", url, allow_redirects=True)
        finally:
            hooks.remove(latin1)
    if response.status_code != 200:
        raise TwilioException(f"fetching {url}: HTTP {response.status_code}")
    return str(response.text).encode("latin-1")
