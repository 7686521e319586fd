"""Fixtures of the e-mail channel's tests: an app with e-mail settings and a real listener."""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from hub.db import db as database
from tests.conftest import _empty_tables, make_test_app
from tests.integration.email_channel.mail import SALES, SUPPORT

IN_CI = os.environ.get("CI") == "true"
ROOT = Path(__file__).resolve().parents[3]
CORPUS = ROOT.parent / "shared" / "corpora" / "mail"

EMAIL_SETTINGS: dict[str, Any] = {
    "email_addresses": {SUPPORT: "Support", SALES: "Sales", "@help.example.test": ""},
    "email_from_address": SUPPORT,
    "email_from_name": "Example Support",
    "smtpd_max_message_bytes": 4 * 1024 * 1024,
}


def free_port() -> int:
    """A free TCP port below Linux's ephemeral range (see the harness notes)."""
    for _ in range(200):
        port = random.randint(12000, 31999)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below 32768")


def need(path: Path, what: str) -> None:
    """Skip (outside CI) or fail (in CI) when ``path`` is missing."""
    if path.exists():
        return
    message = f"{what} not found at {path}"
    if IN_CI:
        pytest.fail(f"{message}: CI must have it")
    print(f"SKIPPED: {message}")
    pytest.skip(message)


@pytest.fixture
def email_app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    application = make_test_app(database_url, tmp_path / "var", **EMAIL_SETTINGS)
    yield application
    _empty_tables(application)
    database.engine_for(application).dispose()


@pytest.fixture
def listener(email_app: Flask) -> Iterator[Any]:
    from channels.email.smtpd import start_listener

    running = start_listener(email_app, host="127.0.0.1", port=free_port())
    yield running
    running.stop()
