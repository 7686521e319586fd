"""A local stand-in for a fax provider (media host + REST API) and an app wired to it."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from flask import Flask
from PIL import Image, ImageDraw
from twilio.request_validator import RequestValidator

from hub.db import db as database
from tests.conftest import _empty_tables, make_test_app

TOKEN = "fax-provider-token-0123456789abcdef"
ACCOUNT = "PJ0123456789abcdef0123456789abcdef"
PUBLIC = "http://localhost"


class FaxProviderStandIn:
    """Serves ``/media/<name>`` from :attr:`media` and answers ``POST .../Faxes.json`` like
    a Twilio-compatible fax API. ``fail_next`` makes the next N requests answer 503."""

    def __init__(self) -> None:
        self.media: dict[str, bytes] = {}
        self.fail_next = 0
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self._sids = 0
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _fail(self) -> bool:
                if standin.fail_next > 0:
                    standin.fail_next -= 1
                    self.send_response(503)
                    self.end_headers()
                    return True
                return False

            def do_GET(self) -> None:
                standin.requests.append(("GET", self.path, {}))
                if self._fail():
                    return
                name = self.path.removeprefix("/media/")
                if name.startswith("redirect-away"):
                    self.send_response(302)
                    self.send_header("Location", "http://203.0.113.50/evil.pdf")
                    self.end_headers()
                    return
                body = standin.media.get(name)
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/pdf")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                standin.requests.append(("POST", self.path, form))
                if self._fail():
                    return
                standin._sids += 1
                body = json.dumps({"sid": f"FX{standin._sids:032d}", "status": "queued"})
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

        # Port 0: the kernel picks a free port below the ephemeral range clash risk.
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_port}"
        self.url = f"http://{self.host}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def posts(self) -> list[dict[str, list[str]]]:
        return [form for method, _, form in self.requests if method == "POST"]


@pytest.fixture
def provider() -> Iterator[FaxProviderStandIn]:
    standin = FaxProviderStandIn()
    standin.thread.start()
    yield standin
    standin.server.shutdown()
    standin.server.server_close()


@pytest.fixture
def fax_app(database_url: str, tmp_path: Path, provider: FaxProviderStandIn) -> Iterator[Flask]:
    app = make_test_app(
        database_url,
        tmp_path / "var",
        fax_provider="signalwire",
        fax_auth_token=TOKEN,
        fax_account_sid=ACCOUNT,
        fax_media_hosts=[provider.host],
        fax_api_base_url=provider.url,
        fax_from_number="+48 22 100 20 99",
        fax_fetch_attempts=3,
        fax_send_attempts=2,
        fax_email_gateway_addresses=["fax@switchboard.localhost"],
        public_base_url=PUBLIC,
    )
    yield app
    _empty_tables(app)
    database.engine_for(app).dispose()


def sign(url: str, params: dict[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, params)}


def make_pdf(pages: int = 2) -> bytes:
    images = []
    for n in range(pages):
        image = Image.new("RGB", (850, 1100), "white")
        draw = ImageDraw.Draw(image)
        draw.text((80, 80), f"ORDER FORM page {n + 1}", fill="black")
        draw.rectangle([80, 200, 770, 400], outline="black", width=3)
        images.append(image)
    out = io.BytesIO()
    images[0].save(out, format="PDF", save_all=True, append_images=images[1:], resolution=100.0)
    return out.getvalue()


def make_tiff(pages: int = 3) -> bytes:
    images = [Image.new("1", (1728, 1100), 1) for _ in range(pages)]
    out = io.BytesIO()
    images[0].save(
        out, format="TIFF", save_all=True, append_images=images[1:], compression="group4"
    )
    return out.getvalue()
