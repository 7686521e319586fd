"""TwiML documents, built only with the ``twilio`` SDK (never by hand).

Every function returns a :class:`VoiceResponse`; URLs passed in are absolute public URLs
(Twilio signs the exact URL it requests, query string included).
"""

from __future__ import annotations

from typing import Any

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from twilio.twiml.voice_response import VoiceResponse

from channels.twilio_voice.config import Menu
from hub.i18n import LANGUAGES

# The system's own prompts, spoken in the language of the number's menu (``_say``); the
# menu's greeting and prompts are configured per number, already in its language.
UNKNOWN_NUMBER = _l(
    "Sorry, this number is not in service. Please check the number and call again. Goodbye."
)
TROUBLE = _l("Sorry, we are having technical trouble. Please call again in a few minutes. Goodbye.")
NOT_AN_OPTION = _l("Sorry, that is not one of the options.")
NO_MESSAGE = _l("We did not receive a message. Goodbye.")
THANKS_MESSAGE = _l("Thank you. We will get back to you. Goodbye.")
ABANDON_MESSAGE = _l(
    "Hello, we called you but all our consultants are busy. We will call you again later. Goodbye."
)
MAX_MENU_ATTEMPTS = 3
# The voice Twilio speaks to an agent in, per catalogue language (whispers on the agent's leg).
SPEECH_LANGUAGES = {"en": "en-US", "pl": "pl-PL", "uk": "uk-UA"}


def _say(vr: Any, text: Any, menu: Menu | None) -> None:
    if not text:
        return
    if menu is None:
        vr.say(str(text))
        return
    # "pl-PL" speaks the Polish catalogue; a language without one falls back to English.
    language = (menu.language or "en").split("-")[0].lower()
    with force_locale(language if language in LANGUAGES else "en"):
        vr.say(str(text), voice=menu.voice, language=menu.language)


def polite_hangup(
    text: Any, menu: Menu | None = None, *, speech: str | None = None
) -> VoiceResponse:
    """Say ``text`` and hang up; in the menu's voice, or (an agent's leg) in ``speech``."""
    vr = VoiceResponse()
    if menu is None and speech is not None:
        vr.say(str(text), language=speech)
    else:
        _say(vr, text, menu)
    vr.hangup()
    return vr


def menu_prompt(menu: Menu, action_url: str, *, attempt: int, sorry: bool) -> VoiceResponse:
    """Greeting (first time only) and the options, gathering one key.

    Without a key press Twilio falls through to the redirect, which lands on the same
    action without ``Digits``: the default queue.
    """
    vr = VoiceResponse()
    if sorry:
        _say(vr, NOT_AN_OPTION, menu)
    gather = vr.gather(
        input="dtmf",
        num_digits=1,
        action=action_url,
        method="POST",
        timeout=6,
        action_on_empty_result=True,
    )
    if attempt == 1:
        _say(gather, menu.greeting, menu)
    _say(gather, menu.prompt, menu)
    vr.redirect(action_url, method="POST")
    return vr


def wait_for_agent(
    *,
    conference: str,
    wait_url: str,
    conference_status_url: str,
    recording_url: str | None,
    greeting: str | None,
    menu: Menu,
) -> VoiceResponse:
    """The caller waits in the call's own conference until an agent joins it.

    The conference does not start (the caller hears the wait URL) until the agent enters;
    it ends when the caller leaves, so an agent never stays in an empty room.
    """
    vr = VoiceResponse()
    if greeting:
        _say(vr, greeting, menu)
    dial = vr.dial()
    extra: dict[str, str] = {}
    if recording_url is not None:
        extra = {
            "record": "record-from-start",
            "recording_status_callback": recording_url,
            "recording_status_callback_method": "POST",
            "recording_status_callback_event": "completed",
        }
    dial.conference(
        conference,
        start_conference_on_enter=False,
        end_conference_on_exit=True,
        beep=False,
        wait_url=wait_url,
        wait_method="POST",
        status_callback=conference_status_url,
        status_callback_method="POST",
        status_callback_event="start end join leave hold",
        **extra,
    )
    return vr


def hold_music(menu: Menu | None, message: str) -> VoiceResponse:
    """What Twilio plays to the waiting caller (a conference wait URL allows Say/Play/Pause)."""
    vr = VoiceResponse()
    _say(vr, message, menu)
    if menu is not None and menu.hold_music_url:
        vr.play(menu.hold_music_url)
    else:
        vr.pause(length=20)
    return vr


def voicemail(menu: Menu, *, message: str, action_url: str, recording_url: str) -> VoiceResponse:
    vr = VoiceResponse()
    _say(vr, message, menu)
    vr.record(
        action=action_url,
        method="POST",
        max_length=menu.voicemail_max_seconds,
        play_beep=True,
        finish_on_key="#",
        timeout=5,
        recording_status_callback=recording_url,
        recording_status_callback_method="POST",
        recording_status_callback_event="completed",
    )
    _say(vr, NO_MESSAGE, menu)
    vr.hangup()
    return vr


def join_conference(
    conference: str, *, whisper: str | None = None, speech: str | None = None
) -> VoiceResponse:
    """The agent's leg: enter the caller's conference (which starts it); the whisper in the
    agent's language (``speech``: a Twilio language code)."""
    vr = VoiceResponse()
    if whisper:
        vr.say(whisper, language=speech)
    dial = vr.dial()
    dial.conference(
        conference,
        start_conference_on_enter=True,
        end_conference_on_exit=True,
        beep=False,
    )
    return vr


def connect_outbound(
    *,
    customer_number: str,
    caller_id: str,
    status_url: str,
    whisper: str | None,
    speech: str | None = None,
) -> VoiceResponse:
    """Click-to-call, once the agent answered: dial the customer from the company number."""
    vr = VoiceResponse()
    if whisper:
        vr.say(whisper, language=speech)
    dial = vr.dial(caller_id=caller_id, answer_on_bridge=True, timeout=30)
    dial.number(
        customer_number,
        status_callback=status_url,
        status_callback_method="POST",
        status_callback_event="initiated ringing answered completed",
    )
    return vr


def dialer_abandon(audio_url: str | None) -> VoiceResponse:
    """A campaign call answered by a person nobody could take within the connect window:
    the recorded message (or, without a recording, the spoken one), then hang up."""
    vr = VoiceResponse()
    if audio_url:
        vr.play(audio_url)
    else:
        vr.say(str(ABANDON_MESSAGE))
    vr.hangup()
    return vr


def dialer_hold(seconds: int, redirect_url: str) -> VoiceResponse:
    """An answered campaign call while no agent is free: silence for the rest of the
    connect window, then ask again."""
    vr = VoiceResponse()
    vr.pause(length=max(1, seconds))
    vr.redirect(redirect_url, method="POST")
    return vr


def dialer_wait_in_conference(conference: str) -> VoiceResponse:
    """An answered campaign call handed to an agent: the callee waits in the call's
    conference (silently) while the agent is rung in; the call ends when the callee
    leaves."""
    vr = VoiceResponse()
    dial = vr.dial()
    dial.conference(
        conference,
        start_conference_on_enter=True,
        end_conference_on_exit=True,
        wait_url="",
        beep=False,
    )
    return vr
