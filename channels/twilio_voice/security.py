"""Twilio webhook signatures, checked with the SDK's ``RequestValidator``.

Twilio signs the exact public URL it requested (scheme, host, path and query string) plus
the sorted form parameters. Behind a proxy the URL the app sees differs from the one
Twilio used, so the URL is rebuilt from the configured public base URL and the request's
path and query; that is also what makes a replay to another path or with changed
parameters fail.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import current_app, request
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

from channels.twilio_voice.config import VoiceConfig
from hub.errors import problem

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def voice_config() -> VoiceConfig:
    cfg: VoiceConfig = current_app.extensions["switchboard.voice"]
    return cfg


def public_url() -> str:
    """The URL Twilio requested, as it signed it."""
    full = request.full_path
    if full.endswith("?") and not request.query_string:
        full = full[:-1]
    return voice_config().url(request.script_root + full)


def signature_ok() -> bool:
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not signature or len(signature) > 200:
        return False
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER, ""))
    validator = RequestValidator(voice_config().auth_token)
    params = request.form if request.mimetype == "application/x-www-form-urlencoded" else {}
    return bool(validator.validate(public_url(), params, signature, algorithm))


def twilio_signed(view: F) -> F:
    """403 (and nothing touched) unless Twilio signed this request."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not signature_ok():
            log.warning(
                "twilio webhook %s refused: missing or wrong signature (from %s)",
                request.path,
                request.remote_addr,
            )
            return problem(403, "forbidden", "the request is not signed by Twilio")
        return view(*args, **kwargs)

    return cast(F, wrapped)
