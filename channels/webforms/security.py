"""Abuse controls of the public forms: the page token, the per-IP rate limit and the
captcha hook.

The page token is our CSRF token for the hosted page. It is signed with the app's secret
and bound to the form and the submission id the page was served with, instead of living
in the session: an embedded form runs in a third-party iframe where browsers withhold
the session cookie, and a token that needs no cookie works there too.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import defaultdict, deque
from typing import Any, Protocol

from flask import Flask, current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

log = logging.getLogger(__name__)

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
    The embedded default has one process; with several web nodes and Redis configured,
    :class:`SharedRateLimiter` keeps one count for all of them.
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


# One sliding window in Redis, atomically: drop hits older than the window, count, add.
_SLIDING_WINDOW = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1] - ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(ARGV[2] * 1000))
return 1
"""


class SharedRateLimiter:
    """The same sliding window, kept in Redis so that every web node counts together (a bot
    spreading its posts over the nodes behind a load balancer gets the limit once, not once
    per node). If Redis does not answer, this node's own count applies for that request: a
    customer's form is never refused because our Redis is down."""

    PREFIX = "switchboard:webform-rate:"

    def __init__(self, client: Any, window_seconds: float = 60.0) -> None:
        self.window = window_seconds
        self.client = client
        self._script = client.register_script(_SLIDING_WINDOW)
        self.local = RateLimiter(window_seconds)

    def hit(self, key: str, limit: int) -> bool:
        """Count one attempt; False when ``key`` has used up ``limit`` in the window."""
        now = time.time()
        member = f"{now:.6f}:{secrets.token_hex(4)}"
        try:
            allowed = self._script(keys=[self.PREFIX + key], args=[now, self.window, limit, member])
        except Exception as exc:  # any Redis failure: count locally instead
            log.warning("shared form rate limit unavailable (%s); counting in this process", exc)
            return self.local.hit(key, limit)
        return bool(allowed)


def rate_limiter(app: Flask) -> RateLimiter | SharedRateLimiter:
    """The web-form rate limiter of ``app``: shared through Redis when the deployment has
    Redis (several web nodes), else this process's own."""
    limiter = app.extensions.get("switchboard.webform_limiter")
    if limiter is None:
        client = app.extensions.get("switchboard.redis")
        limiter = SharedRateLimiter(client) if client is not None else RateLimiter()
        app.extensions["switchboard.webform_limiter"] = limiter
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
