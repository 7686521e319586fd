"""A survey as a Twilio IVR: the same definition, asked with ``<Gather>``.

``POST /webhooks/twilio/survey/<survey_id>`` starts (or, on Twilio's retry, resumes) the
response of a call: point a Twilio number's voice URL at it, or use it as the TwiML URL of
an outbound call placed for a campaign (``?customer_id=`` and ``?interaction_id=`` say who
was called; Twilio signs the query string, so nobody can change them). Without
``customer_id`` the caller (inbound) or the called number (outbound) identifies the
customer. The response is keyed by the CallSid.

Each question is a ``<Gather>`` whose action is
``/webhooks/twilio/survey/responses/<response_id>/<question_key>``: keys for single choice
(1..9), yes/no (1 yes, 2 no), a scale up to 9 (one key) and numbers (keys then ``#``);
speech too for yes/no and choices. Question types a keypad cannot answer (text, date,
multiple choice, single choice with more than 9 options) are skipped and the response is
marked ``partial``. A wrong answer is said to be wrong and asked again; silence three times
skips the question. TwiML is built only with the ``twilio`` SDK.

Every webhook must carry Twilio's signature (``X-Twilio-Signature``) over the public URL
(``SWITCHBOARD_PUBLIC_BASE_URL`` + path + query) and the form parameters, checked with the
SDK's ``RequestValidator`` and ``SWITCHBOARD_TWILIO_AUTH_TOKEN``, the way the voice
channel checks its own (``campaigns`` may not import ``channels``). Without a token the
routes answer 404.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)
from twilio.twiml.voice_response import VoiceResponse

from campaigns.survey_models import CampaignSurveyResponse, CampaignSurveyVersion
from campaigns.surveys import (
    AnswersInvalid,
    answers_of,
    current_version,
    definition_of,
    do_complete_response,
    do_start_response,
    do_submit_answers,
    get_response,
    get_survey,
    ivr_fits,
    next_question,
)
from crm_core.errors import NotFound
from crm_core.models import Interaction
from crm_core.services.identify import identify_by_phone
from hub.db import db
from hub.errors import problem
from hub.i18n import LANGUAGES

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
bp = Blueprint("survey_ivr", __name__)

SPEECH_LANGUAGES = {"en": "en-US", "pl": "pl-PL", "uk": "uk-UA"}
YES_WORDS = frozenset({"yes", "yeah", "yep", "tak", "так", "1"})
NO_WORDS = frozenset({"no", "nope", "nie", "ні", "2"})
MAX_ATTEMPTS = 3
GATHER_TIMEOUT = 8


# ------------------------------------------------------------------------------ signatures


def _token() -> str:
    return str(current_app.extensions["switchboard.settings"].twilio_auth_token or "").strip()


def public_url() -> str:
    """The URL Twilio requested, as it signed it."""
    full = request.full_path
    if full.endswith("?") and not request.query_string:
        full = full[:-1]
    base = current_app.extensions["switchboard.settings"].public_base_url.rstrip("/")
    return base + request.script_root + full


def signature_ok() -> bool:
    token = _token()
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not token or not signature or len(signature) > 200:
        return False
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER, ""))
    params = request.form if request.mimetype == "application/x-www-form-urlencoded" else {}
    return bool(RequestValidator(token).validate(public_url(), params, signature, algorithm))


def twilio_signed(view: F) -> F:
    """404 without a Twilio token, 403 (nothing touched) unless Twilio signed the request."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not _token():
            return problem(404, "not_found", "the survey IVR needs SWITCHBOARD_TWILIO_AUTH_TOKEN")
        if not signature_ok():
            log.warning("survey IVR %s refused: missing or wrong signature", request.path)
            return problem(403, "forbidden", "the request is not signed by Twilio")
        return view(*args, **kwargs)

    return cast(F, wrapped)


# ---------------------------------------------------------------------------------- TwiML


def _twiml(vr: VoiceResponse) -> Response:
    return Response(str(vr), mimetype="text/xml")


def _absolute(endpoint: str, **values: Any) -> str:
    query = {k: v for k, v in values.pop("_query", {}).items() if v not in (None, "")}
    base = current_app.extensions["switchboard.settings"].public_base_url.rstrip("/")
    path = url_for(endpoint, **values)
    return base + path + ("?" + urlencode(query) if query else "")


class _Voice:
    """Says things in the survey's language (``definition["language"]``: en, pl or uk)."""

    def __init__(self, definition: dict[str, Any]) -> None:
        lang = str(definition.get("language") or "en").split("-")[0].lower()
        self.lang = lang if lang in LANGUAGES else "en"
        self.speech = SPEECH_LANGUAGES.get(self.lang, "en-US")

    def say(self, verb: Any, text: str) -> None:
        if text:
            verb.say(text, language=self.speech)


def _prompt(question: dict[str, Any]) -> str:
    qtype = question["type"]
    if qtype == "yes_no":
        return _("For yes press 1, for no press 2.")
    if qtype == "single_choice":
        return " ".join(
            _("For %(label)s press %(digit)s.", label=o["label"], digit=n)
            for n, o in enumerate(question["options"], start=1)
        )
    if qtype == "scale":
        if question["max"] <= 9:
            return _(
                "Press a number from %(lo)s to %(hi)s.", lo=question["min"], hi=question["max"]
            )
        return _(
            "Enter a number from %(lo)s to %(hi)s, then press the hash key.",
            lo=question["min"],
            hi=question["max"],
        )
    return _("Enter the number, then press the hash key.")


def _ask(
    vr: VoiceResponse,
    voice: _Voice,
    response_id: int,
    question: dict[str, Any],
    *,
    skip: list[str],
    attempt: int,
) -> None:
    action = _absolute(
        "survey_ivr.answer",
        response_id=response_id,
        key=question["key"],
        _query={"skip": ",".join(skip), "attempt": attempt},
    )
    qtype = question["type"]
    one_key = qtype in ("yes_no", "single_choice") or (qtype == "scale" and question["max"] <= 9)
    options: dict[str, Any] = {
        "action": action,
        "method": "POST",
        "timeout": GATHER_TIMEOUT,
        "action_on_empty_result": False,
    }
    if qtype in ("yes_no", "single_choice"):
        options["input"] = "dtmf speech"
        options["language"] = voice.speech
        hints = ["yes", "no"] if qtype == "yes_no" else [o["label"] for o in question["options"]]
        options["hints"] = ", ".join(hints)[:500]
    else:
        options["input"] = "dtmf"
    if one_key:
        options["num_digits"] = 1
    else:
        options["finish_on_key"] = "#"
    gather = vr.gather(**options)
    voice.say(gather, question["text"])
    voice.say(gather, _prompt(question))
    # No key within the timeout: Twilio falls through to this redirect (no Digits).
    vr.redirect(
        _absolute(
            "survey_ivr.answer",
            response_id=response_id,
            key=question["key"],
            _query={"skip": ",".join(skip), "attempt": attempt + 1, "silent": 1},
        ),
        method="POST",
    )


def _continue(
    vr: VoiceResponse,
    voice: _Voice,
    response: CampaignSurveyResponse,
    definition: dict[str, Any],
    skip: list[str],
) -> Response:
    """Ask the next question a phone can answer, or finish the response."""
    answers = answers_of(db.session, response)
    while True:
        question = next_question(definition, answers, skip=frozenset(skip))
        if question is None:
            break
        if ivr_fits(question):
            _ask(vr, voice, response.id, question, skip=skip, attempt=1)
            return _twiml(vr)
        skip.append(question["key"])
    try:
        do_complete_response(db.session, response, skipped=frozenset(skip))
    except AnswersInvalid:  # pragma: no cover - every unanswered question is in skip
        log.exception("survey response %s could not be completed", response.id)
    voice.say(vr, definition.get("thanks") or _("Thank you for your answers. Goodbye."))
    vr.hangup()
    return _twiml(vr)


# -------------------------------------------------------------------------------- webhooks


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "")
    return int(raw) if raw.isdigit() else None


@bp.post("/webhooks/twilio/survey/<int:survey_id>")
@twilio_signed
def start(survey_id: int) -> Any:
    session = db.session
    try:
        survey = get_survey(session, survey_id)
    except NotFound:
        vr = VoiceResponse()
        vr.say(_("Sorry, this survey is not available. Goodbye."))
        vr.hangup()
        return _twiml(vr)
    version_id = _int_arg("version_id")
    version = session.get(CampaignSurveyVersion, version_id) if version_id else None
    if version is None or version.survey_id != survey.id:
        version = current_version(session, survey.id)
    call_sid = request.form.get("CallSid", "")[:80] or None
    customer_id = _int_arg("customer_id")
    if customer_id is None:
        outbound = request.form.get("Direction", "inbound").startswith("outbound")
        number = request.form.get("To" if outbound else "From", "")
        region = current_app.extensions["switchboard.settings"].default_region
        customer = identify_by_phone(session, number, region) if number else None
        customer_id = customer.id if customer is not None else None
    interaction_id = _int_arg("interaction_id")
    if interaction_id is None and call_sid:
        interaction_id = session.scalar(
            select(Interaction.id).where(
                Interaction.channel == "voice", Interaction.external_id == call_sid
            )
        )
    response = do_start_response(
        session,
        survey_version_id=version.id,
        channel="ivr",
        customer_id=customer_id,
        interaction_id=interaction_id,
        external_ref=call_sid,
    )
    definition = definition_of(session, response)
    voice = _Voice(definition)
    with force_locale(voice.lang):
        vr = VoiceResponse()
        if response.completed:
            voice.say(vr, definition.get("thanks") or _("Thank you for your answers. Goodbye."))
            vr.hangup()
            return _twiml(vr)
        voice.say(vr, definition.get("intro") or "")
        return _continue(vr, voice, response, definition, [])


@bp.post("/webhooks/twilio/survey/responses/<int:response_id>/<key>")
@twilio_signed
def answer(response_id: int, key: str) -> Any:
    session = db.session
    try:
        response = get_response(session, response_id)
    except NotFound:
        vr = VoiceResponse()
        vr.hangup()
        return _twiml(vr)
    definition = definition_of(session, response)
    voice = _Voice(definition)
    skip = [k for k in request.args.get("skip", "").split(",") if k]
    attempt = _int_arg("attempt") or 1
    with force_locale(voice.lang):
        vr = VoiceResponse()
        if response.completed:
            vr.hangup()
            return _twiml(vr)
        by_key = {q["key"]: q for q in definition["questions"]}
        question = by_key.get(key)
        if question is None:
            return _continue(vr, voice, response, definition, skip)
        raw = _heard(question)
        if raw is None:
            if attempt > MAX_ATTEMPTS:
                skip.append(key)
                return _continue(vr, voice, response, definition, skip)
            if not request.args.get("silent"):
                voice.say(vr, _("Sorry, that is not a valid answer."))
            _ask(vr, voice, response.id, question, skip=skip, attempt=attempt)
            return _twiml(vr)
        try:
            do_submit_answers(session, response, {key: raw})
        except AnswersInvalid:
            if attempt >= MAX_ATTEMPTS:
                skip.append(key)
                return _continue(vr, voice, response, definition, skip)
            voice.say(vr, _("Sorry, that is not a valid answer."))
            _ask(vr, voice, response.id, question, skip=skip, attempt=attempt + 1)
            return _twiml(vr)
        return _continue(vr, voice, response, definition, skip)


def _heard(question: dict[str, Any]) -> Any:
    """What the caller keyed or said, as a raw answer for the question; None: nothing."""
    digits = request.form.get("Digits", "").strip().rstrip("#")
    speech = request.form.get("SpeechResult", "").strip().lower().rstrip(".!?")
    qtype = question["type"]
    if qtype == "yes_no":
        if digits:
            return {"1": "yes", "2": "no"}.get(digits, digits)
        if speech in YES_WORDS:
            return "yes"
        if speech in NO_WORDS:
            return "no"
        return speech or None
    if qtype == "single_choice":
        options = question["options"]
        if digits:
            if digits.isdigit() and 1 <= int(digits) <= len(options):
                return options[int(digits) - 1]["value"]
            return digits  # refused by the answer's validation, and asked again
        for option in options:
            if speech and speech == option["label"].strip().lower():
                return option["value"]
        return speech or None
    return digits or speech or None
