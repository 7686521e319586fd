"""Every route refuses anonymous callers, except the few that are public on purpose.

The test walks ``app.url_map`` as the app builds it, so a route added anywhere later is
checked without anyone remembering to add it here. Refused means: 401 (API and JSON
callers) or a redirect that ends at the login page (pages for people).
"""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

# Endpoints anyone may call without logging in, each with its reason.
PUBLIC_ENDPOINTS = {
    "console.login",  # the login form itself
    "static",  # CSS and JavaScript of the pages
    "console.static",  # the console's own CSS and JavaScript (the login page uses them)
    "console.socket_io_client",  # the vendored Socket.IO browser client, a static file
    "health.healthz",  # liveness probe for the orchestrator; says "ok", nothing else
    "health.readyz",  # readiness probe; names the database and broker as up or down
    "api.openapi_document",  # the API's description is public, its data is not
    "api.api_docs",  # the browsable page that renders that description
    # "/" only redirects to /console, which itself sends anonymous callers to /login.
    "console.index",
}

# Routes that check the caller by other means than a login (a provider's signature, a
# public form's own abuse controls) are public at this layer. Add each by endpoint with
# the check it relies on, e.g. "twilio_voice.voice",  # X-Twilio-Signature, checked first
PUBLIC_BY_OTHER_MEANS: set[str] = {
    # Public web forms (ARCHITECTURE: POST /forms/<slug>): page token, honeypot, per-IP
    # rate limit and optional captcha (channels/webforms/security.py).
    "webforms.show",
    "webforms.submit",
    "webforms.submit_json",
    "webforms.embed_js",  # the embeddable script of a form
    "webforms.static",  # the forms' CSS and JavaScript
    # Twilio's webhooks: X-Twilio-Signature checked first (channels/twilio_voice/security.py);
    # registered only when the voice channel is on.
    "twilio_voice.incoming_call",
    "twilio_voice.menu_choice",
    "twilio_voice.wait_music",
    "twilio_voice.voicemail_done",
    "twilio_voice.agent_leg",
    "twilio_voice.outbound_leg",
    "twilio_voice.call_status",
    "twilio_voice.conference_event",
    "twilio_voice.recording_status",
    # Fax provider webhooks: the provider's request signature, 403 without it
    # (channels/fax/views.py).
    "fax_webhooks.inbound",
    "fax_webhooks.status",
    # The document a fax provider fetches to send: an unguessable signed token.
    "fax_webhooks.media",
    # Survey IVR webhooks: X-Twilio-Signature checked first, 404 without a Twilio token
    # (campaigns/ivr.py); the survey pages' CSS and JavaScript.
    "survey_ivr.start",
    "survey_ivr.answer",
    "surveys.static",
    "campaigns.static",  # the campaign screens' CSS and JavaScript (no data)
    # Prometheus metrics: a bearer token (SWITCHBOARD_METRICS_TOKEN) or, without one, only
    # callers on the same machine (hub/health.py); the test client calls from 127.0.0.1.
    "health.metrics",
    # A user's iCalendar feed: a secret per-user token (only its SHA-256 is stored), 404
    # for any other (hub/api/calendar.py, tests/integration/test_api_tasks.py).
    "api.calendar_feed",
}

SAMPLE = {"int": "1", "path": "x/y", "uuid": "00000000-0000-0000-0000-000000000000"}


def _url(rule: Rule) -> str:
    def fill(match: re.Match[str]) -> str:
        converter = match.group(1) or "default"
        return SAMPLE.get(converter.split("(")[0], "x")

    return re.sub(r"<(?:([a-zA-Z_]+(?:\([^)]*\))?):)?[a-zA-Z_]+>", fill, rule.rule)


def _ends_at_login(client: FlaskClient, method: str, url: str) -> tuple[bool, str]:
    response = client.open(url, method=method)
    hops = 0
    while response.status_code in (301, 302, 303, 307, 308) and hops < 5:
        response.close()
        location = response.headers["Location"]
        if location.split("?")[0].endswith("/login"):
            return True, location
        response = client.get(location)
        hops += 1
    what = f"{response.status_code} {response.get_data()[:200]!r}"
    response.close()
    return response.status_code == 401, what


def test_every_route_refuses_anonymous_callers(app: Flask, client: FlaskClient) -> None:
    checked = 0
    failures = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS | PUBLIC_BY_OTHER_MEANS:
            continue
        url = _url(rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            refused, what = _ends_at_login(client, method, url)
            checked += 1
            if not refused:
                failures.append(f"{method} {rule.rule} ({rule.endpoint}): {what}")
    assert not failures, "reachable without logging in:\n" + "\n".join(failures)
    assert checked >= 40  # the walk really walked


def test_api_refusal_is_a_json_problem(client: FlaskClient) -> None:
    r = client.get("/api/v1/tickets")
    assert r.status_code == 401
    assert r.is_json and r.json["error"] == "unauthorized"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_public_routes_answer_without_login(app: Flask, client: FlaskClient) -> None:
    for url in (
        "/login",
        "/healthz",
        "/readyz",
        "/api/v1/openapi.json",
        "/api/v1/docs",
        "/static/switchboard.css",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        response.close()
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints >= PUBLIC_ENDPOINTS, "an allowlisted endpoint no longer exists"
