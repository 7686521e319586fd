"""Twilio's webhooks: the incoming call, the IVR, the wait music, voicemail, the agent's and
click-to-call legs, call status and recording callbacks.

Every route is signed by Twilio (403 otherwise, before anything is read from the
database); parameters are checked before the database is touched (400); the incoming call
goes through ``hub.intake.receive``. Views never commit: the request does.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, request
from flask_babel import force_locale, gettext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from channels.twilio_voice import calls, twiml
from channels.twilio_voice import params as p
from channels.twilio_voice.config import Menu
from channels.twilio_voice.models import TwilioWebhookReceipt, VoiceCall, VoiceRecording
from channels.twilio_voice.security import twilio_signed, voice_config
from channels.twilio_voice.twiml import SPEECH_LANGUAGES
from crm_core.db import utcnow
from crm_core.events import DomainEvent, publish_on_commit
from crm_core.models import Customer, Interaction, User
from hub.db import db
from hub.errors import problem
from hub.i18n import LANGUAGES
from hub.intake import InboundEvent, IntakeError, receive

log = logging.getLogger(__name__)

bp = Blueprint("twilio_voice", __name__, url_prefix="/webhooks/twilio")

IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
# The parameters of an incoming call worth keeping on the interaction.
KEEP_PARAMS = (
    "CallSid",
    "AccountSid",
    "From",
    "To",
    "CallStatus",
    "Direction",
    "CallerName",
    "FromCountry",
    "FromCity",
    "ToCountry",
    "StirVerstat",
)

VOICE_PATH = "/webhooks/twilio/voice"
MENU_PATH = "/webhooks/twilio/voice/menu"
WAIT_PATH = "/webhooks/twilio/voice/wait"
VOICEMAIL_PATH = "/webhooks/twilio/voice/voicemail"
STATUS_PATH = "/webhooks/twilio/voice/status"
CONFERENCE_PATH = "/webhooks/twilio/voice/conference"
AGENT_PATH = "/webhooks/twilio/voice/agent"
OUTBOUND_PATH = "/webhooks/twilio/voice/outbound"
RECORDING_PATH = "/webhooks/twilio/recording"
DIALER_PATH = "/webhooks/twilio/voice/dialer"
DIALER_AMD_PATH = "/webhooks/twilio/voice/dialer/amd"
# A campaign call answered while nobody is free holds this long (the connect window).
DIALER_CONNECT_WINDOW = 2


def xml(vr: Any) -> Response:
    return Response(str(vr), status=200, mimetype="application/xml")


def no_content() -> Response:
    return Response(status=204)


@bp.errorhandler(p.BadParams)
def _bad_params(exc: p.BadParams) -> Response:
    log.warning("twilio webhook %s refused: %s", request.path, exc)
    return problem(400, "bad_request", str(exc))


def _url(path: str, **query: Any) -> str:
    from urllib.parse import urlencode

    qs = urlencode({k: v for k, v in query.items() if v is not None})
    return voice_config().url(path + (f"?{qs}" if qs else ""))


def _check_account(form: Any) -> None:
    account = p.sid(form, "AccountSid", "AC")
    if account != voice_config().account_sid:
        raise p.BadParams("AccountSid is not this account's")


def _menu_of(call: VoiceCall) -> Menu | None:
    return voice_config().menus.get(call.company_number or "")


def _seen(session: Session, path: str, call_sid: str | None) -> bool:
    """True if Twilio's idempotency token of this request was handled before."""
    token = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if not token or len(token) > 128:
        return False
    try:
        with session.begin_nested():
            session.add(TwilioWebhookReceipt(token=token, path=path[:120], call_sid=call_sid))
            session.flush()
    except IntegrityError:
        log.info("twilio retry of %s (token %s) ignored", path, token)
        return True
    return False


# ----------------------------------------------------------------------------- incoming


@bp.post("/voice")
@twilio_signed
def incoming_call() -> Response:
    form = request.form
    cfg = voice_config()
    call_sid = p.sid(form, "CallSid", "CA")
    _check_account(form)
    caller = p.text(form, "From")
    called = p.text(form, "To", required=True)
    p.choice(form, "CallStatus", p.CALL_STATUSES)
    p.choice(form, "Direction", ("inbound", "outbound-api", "outbound-dial"))
    for key in KEEP_PARAMS:
        p.text(form, key, max_len=200)
    found = cfg.menu_for(called)
    if found is None:
        log.warning("call %s to %r: not one of our numbers; hung up politely", call_sid, called)
        return xml(twiml.polite_hangup(twiml.UNKNOWN_NUMBER))
    number, menu = found
    assert call_sid is not None
    event = InboundEvent(
        channel="voice",
        external_id=call_sid,
        from_address=caller,
        to_address=number,
        payload={k: form[k] for k in KEEP_PARAMS if k in form},
        headers={
            "company_number": number,
            "defer_routing": True,
            "idempotency_token": request.headers.get(IDEMPOTENCY_HEADER),
        },
    )
    try:
        interaction = receive(event)
    except IntakeError:
        log.exception("intake failed for call %s", call_sid)
        return xml(twiml.polite_hangup(twiml.TROUBLE, menu))
    session = db.session
    call = calls.call_by_sid(session, call_sid, lock=True)
    interaction = session.get(Interaction, interaction.id) or interaction
    if call is None:  # the interaction came in through another door (a hub simulation)
        call = new_customer_leg(session, interaction, event)
    return xml(_answer(session, call, interaction, menu))


def new_customer_leg(session: Session, interaction: Interaction, event: InboundEvent) -> VoiceCall:
    """The customer's leg of a new inbound call (intake's hook for the voice channel)."""
    status = (event.payload or {}).get("CallStatus")
    call = VoiceCall(
        call_sid=event.external_id,
        interaction_id=interaction.id,
        leg="customer",
        direction="inbound",
        from_number=(event.from_address or "")[:64] or None,
        to_number=(event.to_address or "")[:64] or None,
        status=status if status in calls.STATUS_RANK else "ringing",
        stage="menu",
        company_number=event.headers.get("company_number") or event.to_address,
    )
    session.add(call)
    session.flush()
    return call


def _answer(session: Session, call: VoiceCall, interaction: Interaction, menu: Menu) -> Any:
    """The TwiML for where the call is now (the same answer for a retried request)."""
    cfg = voice_config()
    if call.stage == "menu":
        if not menu.is_open(utcnow()):
            if not menu.voicemail:
                calls._move_stage(call, "ended")
                interaction.status = "closed"
                calls.refresh_interaction(session, interaction)
                return twiml.polite_hangup(menu.closed_message, menu)
            calls.do_start_voicemail(session, call, interaction)
        elif menu.options:
            return twiml.menu_prompt(menu, _url(MENU_PATH, attempt=1), attempt=1, sorry=False)
        else:
            calls.do_choose_queue(
                session, call, interaction, menu.default_queue, digits=None, cfg=cfg
            )
            return _wait(call, interaction, menu, greeting=menu.greeting)
    if call.stage == "voicemail":
        return twiml.voicemail(
            menu,
            message=menu.closed_message,
            action_url=_url(VOICEMAIL_PATH),
            recording_url=_url(RECORDING_PATH, kind="voicemail", interaction=interaction.id),
        )
    if call.stage in ("queued", "connected"):
        return _wait(call, interaction, menu, greeting=None)
    return twiml.polite_hangup("Goodbye.", menu)


def _wait(call: VoiceCall, interaction: Interaction, menu: Menu, *, greeting: str | None) -> Any:
    recording = (
        _url(RECORDING_PATH, kind="call", interaction=interaction.id)
        if call.recording_mode == "on"
        else None
    )
    return twiml.wait_for_agent(
        conference=call.conference or calls.conference_name(interaction.id),
        wait_url=_url(WAIT_PATH, interaction=interaction.id),
        conference_status_url=_url(CONFERENCE_PATH, interaction=interaction.id),
        recording_url=recording,
        greeting=greeting,
        menu=menu,
    )


@bp.post("/voice/menu")
@twilio_signed
def menu_choice() -> Response:
    form = request.form
    call_sid = p.sid(form, "CallSid", "CA")
    _check_account(form)
    digits = p.digits(form)
    attempt = p.query_int(request.args, "attempt") or 1
    assert call_sid is not None
    session = db.session
    call = calls.call_by_sid(session, call_sid, lock=True)
    menu = _menu_of(call) if call is not None else None
    if call is None or menu is None:
        log.warning("menu answer for unknown call %s; hung up politely", call_sid)
        return xml(twiml.polite_hangup(twiml.TROUBLE))
    interaction = session.get(Interaction, call.interaction_id)
    assert interaction is not None
    if call.stage != "menu":
        return xml(_answer(session, call, interaction, menu))
    queue = menu.queue_for(digits)
    if digits and queue is None and attempt < twiml.MAX_MENU_ATTEMPTS:
        url = _url(MENU_PATH, attempt=attempt + 1)
        return xml(twiml.menu_prompt(menu, url, attempt=attempt + 1, sorry=True))
    calls.do_choose_queue(
        session,
        call,
        interaction,
        queue or menu.default_queue,
        digits=digits,
        cfg=voice_config(),
    )
    return xml(_wait(call, interaction, menu, greeting=None))


@bp.post("/voice/wait")
@twilio_signed
def wait_music() -> Response:
    interaction_id = p.query_int(request.args, "interaction")
    menu = None
    if interaction_id is not None:
        call = calls.customer_leg(db.session, interaction_id)
        menu = _menu_of(call) if call is not None else None
    message = menu.wait_message if menu is not None else Menu().wait_message
    return xml(twiml.hold_music(menu, message))


@bp.post("/voice/voicemail")
@twilio_signed
def voicemail_done() -> Response:
    form = request.form
    p.sid(form, "CallSid", "CA")
    duration = p.integer(form, "RecordingDuration")
    p.url(form, "RecordingUrl", required=False)
    if not duration:
        return xml(twiml.polite_hangup(twiml.NO_MESSAGE))
    return xml(twiml.polite_hangup(twiml.THANKS_MESSAGE))


# ----------------------------------------------------------------------------- call legs


def _leg_from_query(session: Session) -> VoiceCall:
    vc_id = p.query_int(request.args, "vc")
    if vc_id is None:
        raise p.BadParams("query parameter vc is missing")
    call = session.get(VoiceCall, vc_id)
    if call is None:
        raise p.BadParams("no such call leg")
    return call


@bp.post("/voice/agent")
@twilio_signed
def agent_leg() -> Response:
    """TwiML for the agent's leg of an inbound call: join the caller's conference."""
    p.sid(request.form, "CallSid", "CA")
    session = db.session
    leg = _leg_from_query(session)
    main = calls.customer_leg(session, leg.interaction_id)
    language = _agent_language(session, leg)
    if main is None or main.stage == "ended":
        with force_locale(language):
            gone = gettext("The caller has hung up.")
        return xml(twiml.polite_hangup(gone, speech=SPEECH_LANGUAGES[language]))
    interaction = session.get(Interaction, leg.interaction_id)
    with force_locale(language):
        whisper = _whisper(session, interaction)
    return xml(
        twiml.join_conference(
            main.conference or calls.conference_name(leg.interaction_id),
            whisper=whisper,
            speech=SPEECH_LANGUAGES[language],
        )
    )


def _agent_language(session: Session, leg: VoiceCall) -> str:
    """What the agent on ``leg`` hears whispers in: their own language."""
    agent = session.get(User, leg.agent_id) if leg.agent_id is not None else None
    return agent.language if agent is not None and agent.language in LANGUAGES else "en"


def _whisper(session: Session, interaction: Interaction | None) -> str:
    if interaction is None or interaction.customer_id is None:
        return gettext("Call from an unknown caller.")
    customer = session.get(Customer, interaction.customer_id)
    if customer is None:
        return gettext("Call from a customer.")
    return gettext("Call from %(name)s.", name=customer.display_name)


@bp.post("/voice/outbound")
@twilio_signed
def outbound_leg() -> Response:
    """Click-to-call: the agent answered; now dial the customer from the company number."""
    p.sid(request.form, "CallSid", "CA")
    session = db.session
    leg = _leg_from_query(session)
    interaction = session.get(Interaction, leg.interaction_id)
    if interaction is None or not interaction.to_address:
        return xml(twiml.polite_hangup(twiml.TROUBLE))
    name = None
    if interaction.customer_id is not None:
        customer = session.get(Customer, interaction.customer_id)
        name = customer.display_name if customer else None
    language = _agent_language(session, leg)
    with force_locale(language):
        whisper = gettext("Calling %(name)s.", name=name) if name else None
    return xml(
        twiml.connect_outbound(
            customer_number=interaction.to_address,
            caller_id=leg.from_number or "",
            status_url=_url(STATUS_PATH, vc=leg.id, leg="customer"),
            whisper=whisper,
            speech=SPEECH_LANGUAGES[language],
        )
    )


# ----------------------------------------------------------------------------- callbacks


@bp.post("/voice/status")
@twilio_signed
def call_status() -> Response:
    form = request.form
    call_sid = p.sid(form, "CallSid", "CA")
    _check_account(form)
    status = p.choice(form, "CallStatus", p.CALL_STATUSES, required=True)
    sequence = p.integer(form, "SequenceNumber")
    duration = p.integer(form, "CallDuration")
    at = p.timestamp(form)
    p.sid(form, "ParentCallSid", "CA", required=False)
    vc_id = p.query_int(request.args, "vc")
    leg_name = p.choice(request.args, "leg", ("customer", "agent"))
    assert call_sid is not None and status is not None
    session = db.session
    if _seen(session, STATUS_PATH, call_sid):
        return no_content()
    call = calls.call_by_sid(session, call_sid, lock=True)
    if call is None and vc_id is not None:
        call = _bind_leg(session, vc_id, call_sid, leg_name, form)
    if call is None:
        log.info("status %s for call %s we do not track; ignored", status, call_sid)
        return no_content()
    calls.do_apply_status(
        session,
        call,
        status,
        at=at,
        sequence=sequence,
        duration=duration,
        menus=voice_config().menus,
    )
    return no_content()


def _bind_leg(
    session: Session, vc_id: int, call_sid: str, leg_name: str | None, form: Any
) -> VoiceCall | None:
    """A callback for a leg we asked for: the one awaiting its SID, or its dialled child."""
    known = session.scalar(select(VoiceCall).where(VoiceCall.id == vc_id).with_for_update())
    if known is None:
        return None
    if leg_name != "customer" or known.leg == "customer":
        if known.call_sid is None:
            known.call_sid = call_sid
            return known
        return None
    # The customer's leg dialled from a click-to-call: a new row, once (unique SID).
    child = VoiceCall(
        call_sid=call_sid,
        interaction_id=known.interaction_id,
        leg="customer",
        direction="outbound",
        parent_call_sid=known.call_sid,
        from_number=known.from_number,
        to_number=(form.get("To") or "")[:64] or None,
        status="queued",
        stage="dialing",
        company_number=known.company_number,
    )
    try:
        with session.begin_nested():
            session.add(child)
            session.flush()
    except IntegrityError:
        return calls.call_by_sid(session, call_sid, lock=True)
    return child


@bp.post("/voice/conference")
@twilio_signed
def conference_event() -> Response:
    """Conference events (join, leave, hold): logged; the call legs' callbacks carry state."""
    form = request.form
    _check_account(form)
    event = p.text(form, "StatusCallbackEvent", required=True)
    p.sid(form, "ConferenceSid", "CF", required=False)
    p.sid(form, "CallSid", "CA", required=False)
    log.debug("conference %s: %s", p.text(form, "FriendlyName", max_len=128), event)
    return no_content()


@bp.post("/recording")
@twilio_signed
def recording_status() -> Response:
    form = request.form
    _check_account(form)
    recording_sid = p.sid(form, "RecordingSid", "RE")
    call_sid = p.sid(form, "CallSid", "CA", required=False)
    p.sid(form, "ConferenceSid", "CF", required=False)
    recording_url = p.url(form, "RecordingUrl")
    status = p.choice(form, "RecordingStatus", p.RECORDING_STATUSES) or "completed"
    duration = p.integer(form, "RecordingDuration")
    kind = p.choice(request.args, "kind", ("call", "voicemail")) or "call"
    interaction_id = p.query_int(request.args, "interaction")
    assert recording_sid is not None and recording_url is not None
    session = db.session
    if _seen(session, RECORDING_PATH, call_sid):
        return no_content()
    call = calls.call_by_sid(session, call_sid) if call_sid else None
    if interaction_id is None and call is not None:
        interaction_id = call.interaction_id
    interaction = session.get(Interaction, interaction_id) if interaction_id else None
    if interaction is None:
        log.info("recording %s for a call we do not track; ignored", recording_sid)
        return no_content()
    if status != "completed":
        log.warning("recording %s of interaction %s: %s", recording_sid, interaction.id, status)
        return no_content()
    if call is None:
        call = calls.customer_leg(session, interaction.id)
    recording = VoiceRecording(
        recording_sid=recording_sid,
        call_sid=call_sid or (call.call_sid if call else None) or "",
        interaction_id=interaction.id,
        kind=kind,
        url=recording_url,
        status=status,
        duration_seconds=duration,
    )
    try:
        with session.begin_nested():
            session.add(recording)
            session.flush()
    except IntegrityError:
        return no_content()  # announced before: nothing new
    if kind == "voicemail" and call is not None:
        menu = _menu_of(call)
        queue = (menu.voicemail_queue or menu.default_queue) if menu else "Voicemail"
        interaction.summary = f"Voicemail ({duration or 0} s)"[:500]
        from channels.twilio_voice import routing_link

        routing_link.enqueue(session, interaction, queue, now=utcnow())
        call.queue_name = queue
    calls.refresh_interaction(session, interaction)
    publish_on_commit(
        session,
        DomainEvent(
            calls.VOICE_RECORDING_ADDED,
            {"recording_id": recording.id, "interaction_id": interaction.id, "kind": kind},
        ),
    )
    return no_content()


# ----------------------------------------------------------------------------- dialer


def _dialer_leg(session: Session) -> tuple[VoiceCall, Interaction, Any]:
    leg = _leg_from_query(session)
    interaction = session.get(Interaction, leg.interaction_id)
    ref = calls.dialer_ref(interaction)
    if interaction is None or ref is None or leg.leg != "customer":
        raise p.BadParams("not a dialer call")
    return leg, interaction, ref


@bp.post("/voice/dialer")
@twilio_signed
def dialer_answered() -> Response:
    """A campaign call was answered: the campaign's dialer chooses an agent (connect: the
    callee waits in the call's conference while the agent is rung in), or holds for the
    connect window and is asked again (``final=1``), then plays the abandon message."""
    from flask import current_app

    from hub.ports import dialer_handler

    form = request.form
    call_sid = p.sid(form, "CallSid", "CA")
    _check_account(form)
    final = request.args.get("final") == "1"
    session = db.session
    leg, interaction, ref = _dialer_leg(session)
    if leg.call_sid is None:
        leg.call_sid = call_sid
    handler = dialer_handler()
    if handler is None:
        return xml(twiml.polite_hangup(twiml.TROUBLE))
    if leg.answered_at is None:
        leg.answered_at = utcnow()
    action = handler.on_answered(session, ref, interaction.id, final=final)
    if action.kind == "connect":
        leg.stage = "queued"
        leg.agent_id = action.agent_id
        leg.enqueued_at = leg.enqueued_at or utcnow()
        calls.refresh_interaction(session, interaction)
        return xml(
            twiml.dialer_wait_in_conference(leg.conference or calls.conference_name(interaction.id))
        )
    if action.kind == "wait" and not final:
        return xml(twiml.dialer_hold(DIALER_CONNECT_WINDOW, _url(DIALER_PATH, vc=leg.id, final=1)))
    leg.abandoned = action.kind == "abandon"
    calls.refresh_interaction(session, interaction)
    if action.kind == "hangup":
        vr = twiml.VoiceResponse()
        vr.hangup()
        return xml(vr)
    return xml(twiml.dialer_abandon(current_app.config.get("DIALER_ABANDON_AUDIO_URL")))


@bp.post("/voice/dialer/amd")
@twilio_signed
def dialer_amd() -> Response:
    """Async AMD's verdict on a campaign call: a machine is hung up (no agent needed)."""
    form = request.form
    call_sid = p.sid(form, "CallSid", "CA")
    _check_account(form)
    answered_by = p.text(form, "AnsweredBy", required=True) or "unknown"
    from hub.ports import dialer_handler

    session = db.session
    if _seen(session, DIALER_AMD_PATH, call_sid):
        return no_content()
    leg, _interaction, ref = _dialer_leg(session)
    handler = dialer_handler()
    if handler is not None and handler.on_amd(session, ref, answered_by[:24]):
        # Hang up after the commit (the channel's listener runs the task).
        publish_on_commit(
            session,
            DomainEvent(calls.VOICE_HANGUP_REQUESTED, {"call_sid": leg.call_sid or call_sid}),
        )
    return no_content()
