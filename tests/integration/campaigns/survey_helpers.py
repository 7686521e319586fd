"""Shared pieces of the survey tests: the app with a Twilio token served on a real socket,
a survey definition that uses every question type, and a signer that posts webhooks
exactly as Twilio does."""

from __future__ import annotations

import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from flask import Flask
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server

from hub.db import db as database
from tests.conftest import _Client, _empty_tables, make_test_app

ACCOUNT = "AC0123456789abcdef0123456789abcdef"
TOKEN = "5f1e0c2a9b8d7e6f5a4b3c2d1e0f9a8b"

DEFINITION: dict[str, Any] = {
    "title": "How are we doing?",
    "intro": "Three quick questions.",
    "thanks": "Thank you, goodbye.",
    "questions": [
        {"key": "satisfied", "type": "yes_no", "text": "Are you satisfied?", "required": True},
        {
            "key": "why",
            "type": "text",
            "text": "What should we do better?",
            "required": True,
            "show_if": {"question": "satisfied", "in": ["no"]},
        },
        {
            "key": "plan",
            "type": "single_choice",
            "text": "Which plan do you have?",
            "required": True,
            "options": [
                {"value": "basic", "label": "Basic"},
                {"value": "plus", "label": "Plus"},
                {"value": "premium", "label": "Premium"},
            ],
        },
        {"key": "score", "type": "scale", "text": "Rate us", "min": 1, "max": 5, "required": True},
        {
            "key": "extras",
            "type": "multiple_choice",
            "text": "What else do you use?",
            "options": ["TV", "Phone", "Internet"],
        },
        {
            "key": "visits",
            "type": "number",
            "text": "Shop visits a year?",
            "integer": True,
            "min": 0,
            "max": 100,
        },
        {"key": "since", "type": "date", "text": "Customer since?"},
    ],
}


@dataclass
class Served:
    app: Flask
    base: str


def serve_app(database_url: str, tmp_path: Path, **extra: Any) -> Iterator[Served]:
    """The app with a Twilio token, listening on 127.0.0.1:<free port>."""
    holder: dict[str, Flask] = {}

    def wsgi(environ: Any, start_response: Any) -> Any:
        return holder["app"](environ, start_response)

    server = make_server("127.0.0.1", 0, wsgi, threaded=True)
    menus = tmp_path / "menus.toml"
    menus.write_text("")
    base = f"http://127.0.0.1:{server.server_port}"
    application = make_test_app(
        database_url,
        tmp_path / "var",
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=TOKEN,
        twilio_menus_file=str(menus),
        public_base_url=base,
        **extra,
    )
    application.test_client_class = _Client
    holder["app"] = application
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(application, base)
    finally:
        server.shutdown()
        server.server_close()
        _empty_tables(application)
        database.engine_for(application).dispose()


class Caller:
    """Plays Twilio: posts signed webhooks over HTTP and follows the TwiML it gets."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.validator = RequestValidator(TOKEN)
        self.http = requests.Session()

    def post(self, url: str, params: dict[str, str], *, sign: bool = True) -> requests.Response:
        if not url.startswith("http"):
            url = self.base + url
        headers = {"X-Twilio-Signature": self.validator.compute_signature(url, params)}
        return self.http.post(url, data=params, headers=headers if sign else {}, timeout=30)


def twiml(response: requests.Response) -> ET.Element:
    assert response.status_code == 200, response.text
    root = ET.fromstring(response.content)
    assert root.tag == "Response"
    return root


def gather_action(root: ET.Element) -> str:
    gather = root.find("Gather")
    assert gather is not None, ET.tostring(root)
    return gather.attrib["action"]


def said(root: ET.Element) -> str:
    return " ".join((s.text or "") for s in root.iter("Say"))


def page_tokens(html: str) -> dict[str, str]:
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    sid = re.search(r'name="submission_id" value="([^"]+)"', html)
    assert token and sid
    return {"csrf_token": token.group(1), "submission_id": sid.group(1)}
