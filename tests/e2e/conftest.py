"""Browser tests: the real app served over HTTP + Socket.IO in a thread, Debian's Chromium
driven by Playwright.

Without Chromium (or Playwright) the tests skip with a printed reason, except in CI
(``CI=true``), where they fail: the browser is part of what CI checks.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from hub.db import db as database
from tests.conftest import IN_CI, _empty_tables, make_test_app

CHROMIUM = os.environ.get("SWITCHBOARD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
SOCKET_IO_JS = ROOT / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"


def _missing() -> str | None:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return (
            f"Chromium not found at {CHROMIUM}: apt-get install -y --no-install-recommends "
            "chromium chromium-driver"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed: pip install -e '.[test]'"
    if not SOCKET_IO_JS.exists():
        return "socket.io-client is not installed: run `npm ci` (make venv does)"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    reason = _missing()
    if reason:
        if IN_CI:
            pytest.fail(f"browser tests are required in CI: {reason}")
        print(f"\nSKIPPED browser tests: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class LiveServer:
    def __init__(self, app: Flask, server: BaseWSGIServer) -> None:
        self.app = app
        self.server = server
        self.url = f"http://127.0.0.1:{server.server_port}"


@pytest.fixture
def live_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """The app (CSRF on, as in production) on 127.0.0.1 with a port the OS picks."""
    app = make_test_app(database_url, tmp_path / "var", WTF_CSRF_ENABLED=True)
    # Port 0: the kernel picks a free port and we read it back (no clash with clients).
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(app, server)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        _empty_tables(app)
        database.engine_for(app).dispose()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
