"""Abuse controls of the public forms: the page token, the per-IP rate limit and the
captcha hook.

The page token is our CSRF token for the hosted page. It is signed with the app's secret
and bound to the form and the submission id the page was served with, instead of living
in the session: an embedded form runs in a third-party iframe where browsers withhold
the session cookie, and a token that needs no cookie works there too.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from typing import Protocol

from flask import Flask, current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

TOKEN_MAX_AGE = 24 * 3600  # a page left open over night still submits the next morning


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="switchboard.webform")


def make_token(slug: str, submission_id: str) -> str:
    return _serializer().dumps([slug, submission_id])


def check_token(token: str | None, slug: str, submission_id: str) -> bool:
    if not token:
        return False
    try:
        data = _serializer().loads(token, max_age=TOKEN_MAX_AGE)
    except (SignatureExpired, BadSignature):
        return False
    return bool(data == [slug, submission_id])


class RateLimiter:
    """Sliding-window counter per key (a client IP and a form), in this process.

    A sliding log rather than fixed windows: a burst cannot double up across a window edge.
    Several web processes each keep their own count; put a shared limit in front (the
    reverse proxy) when that matters.
    """

    def __init__(self, window_seconds: float = 60.0) -> None:
        self.window = window_seconds
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int) -> bool:
        """Count one attempt; False when ``key`` has used up ``limit`` in the window."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits[key]
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= limit:
                return False
            hits.append(now)
            return True


def rate_limiter(app: Flask) -> RateLimiter:
    limiter: RateLimiter = app.extensions.setdefault("switchboard.webform_limiter", RateLimiter())
    return limiter


class CaptchaVerifier(Protocol):
    """A captcha provider (hCaptcha, reCAPTCHA, Turnstile, ...).

    ``widget_html`` is put into the form as it is (the provider's script and div; it is
    trusted configuration, not visitor input); ``verify`` gets the response the widget
    posted (the form field ``captcha``, or ``captcha`` in JSON) and the visitor's IP.
    """

    def widget_html(self) -> str: ...

    def verify(self, response: str | None, remote_addr: str | None) -> bool: ...


class NoCaptcha:
    """The default: no captcha; the honeypot, the token and the rate limit still apply."""

    def widget_html(self) -> str:
        return ""

    def verify(self, response: str | None, remote_addr: str | None) -> bool:
        return True


def register_captcha(app: Flask, verifier: CaptchaVerifier) -> None:
    """Use ``verifier`` for every public form of ``app``."""
    app.extensions["switchboard.webform_captcha"] = verifier


def captcha() -> CaptchaVerifier:
    verifier: CaptchaVerifier = current_app.extensions.get(
        "switchboard.webform_captcha", NoCaptcha()
    )
    return verifier
