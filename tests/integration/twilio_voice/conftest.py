"""Fixtures for the voice channel: an app with Twilio credentials served on a real socket
(so the stand-in can post callbacks back), the Twilio stand-in, and a signer that posts
webhooks exactly as Twilio does."""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server
from werkzeug.test import TestResponse

from hub.db import db as database
from tests.conftest import _empty_tables, make_test_app
from tests.integration.twilio_voice.standin import TwilioStandIn

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "twilio"
ACCOUNT = "AC0123456789abcdef0123456789abcdef"
TOKEN = "5f1e0c2a9b8d7e6f5a4b3c2d1e0f9a8b"
COMPANY = "+48223070000"  # IVR: 1 sales, 2 service
CLOSED = "+48223070001"  # closed, voicemail
DIRECT = "+48223070002"  # no IVR: straight to the queue
CLOSED_NO_VM = "+48223070003"  # closed, no voicemail

MENUS = """
[numbers."+48223070000"]
greeting = "Thank you for calling Switchboard."
prompt = "For sales press 1. For service press 2."
default_queue = "General"
voicemail_queue = "Voicemail"
callback_on_abandon = true

[numbers."+48223070000".options]
1 = "Sales"
2 = "Service"

[numbers."+48223070001"]
greeting = "Hello."
hours = {}
closed_message = "We are closed. Please leave a message after the tone."
voicemail_queue = "Voicemail"

[numbers."+48223070002"]
greeting = "Hello, connecting you."
default_queue = "General"

[numbers."22 307 00 03"]
hours = {}
closed_message = "We are closed. Goodbye."
voicemail = false

[queues.Service]
recording = "on"
"""


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def twiml(resp: TestResponse | bytes) -> ET.Element:
    """Parse a TwiML answer (the test fails if it is not XML with a <Response> root)."""
    body = resp if isinstance(resp, bytes) else resp.get_data()
    root = ET.fromstring(body)
    assert root.tag == "Response"
    return root


@pytest.fixture
def standin() -> Iterator[TwilioStandIn]:
    server = TwilioStandIn(ACCOUNT, TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def menus_file(tmp_path: Path) -> Path:
    path = tmp_path / "menus.toml"
    path.write_text(MENUS)
    return path


@pytest.fixture
def voice_app(
    database_url: str, tmp_path: Path, standin: TwilioStandIn, menus_file: Path
) -> Iterator[Flask]:
    """The app with the voice channel on, listening on 127.0.0.1:<free port>."""
    holder: dict[str, Flask] = {}

    def wsgi(environ: Any, start_response: Any) -> Any:
        return holder["app"](environ, start_response)

    server = make_server("127.0.0.1", 0, wsgi, threaded=True)
    application = make_test_app(
        database_url,
        tmp_path / "var",
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=TOKEN,
        twilio_menus_file=str(menus_file),
        public_base_url=f"http://127.0.0.1:{server.server_port}",
        TWILIO_HTTP_CLIENT=standin.http_client(),
    )
    holder["app"] = application
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield application
    server.shutdown()
    server.server_close()
    _empty_tables(application)
    database.engine_for(application).dispose()


class ActAsTwilio:
    """Posts webhooks to the app signed as Twilio signs them."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client: FlaskClient = app.test_client()
        self.base = app.extensions["switchboard.voice"].public_base_url.rstrip("/")
        self.validator = RequestValidator(TOKEN)

    def url(self, path: str) -> str:
        return self.base + path

    def signature(self, path: str, params: dict[str, str]) -> str:
        return str(self.validator.compute_signature(self.url(path), params))

    def post(
        self,
        path: str,
        params: dict[str, str],
        *,
        headers: dict[str, str] | None = None,
        signature: str | None = None,
    ) -> TestResponse:
        sig = self.signature(path, params) if signature is None else signature
        all_headers = {"X-Twilio-Signature": sig} if sig else {}
        all_headers.update(headers or {})
        return self.client.post(path, data=params, headers=all_headers)

    def follow(self, public_url: str, params: dict[str, str]) -> TestResponse:
        """POST to an absolute URL found in TwiML (as Twilio would)."""
        assert public_url.startswith(self.base), public_url
        return self.post(public_url[len(self.base) :], params)

    def count(self, model: Any) -> int:
        with self.app.app_context():
            return int(database.session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def twilio(voice_app: Flask) -> ActAsTwilio:
    return ActAsTwilio(voice_app)


def incoming(**overrides: str) -> dict[str, str]:
    params: dict[str, str] = dict(fixture("incoming_call.json")["params"])
    params.update(overrides)
    if "From" in overrides:
        params["Caller"] = overrides["From"]
    if "To" in overrides:
        params["Called"] = overrides["To"]
    return params
