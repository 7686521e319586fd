"""The composition root: ``create_app`` builds the Flask app and wires every package."""

from __future__ import annotations

import logging
import secrets
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from hub.settings import Settings, load_settings

csrf = CSRFProtect()


def _version() -> str:
    try:
        return version("switchboard")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"


def _secret_key(settings: Settings) -> str:
    """The configured key, or (development) one generated once and kept under var/."""
    if settings.secret_key:
        return settings.secret_key
    settings.check()
    path = Path(settings.var_dir) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def create_app(config: dict[str, Any] | None = None, *, engine: Engine | None = None) -> Flask:
    """Build a Switchboard app.

    ``config`` overrides settings by field name (``{"database_url": ...}``); upper-case keys
    go to Flask's config as they are (``{"TESTING": True}``).
    """
    config = dict(config or {})
    flask_keys = {k: v for k, v in config.items() if k.isupper()}
    settings = load_settings({k: v for k, v in config.items() if not k.isupper()})
    settings.check()

    app = Flask(
        "switchboard",
        template_folder=str(Path(__file__).parent / "templates"),
        static_folder=str(Path(__file__).parent / "static"),
    )
    app.extensions["switchboard.settings"] = settings
    app.config.update(
        SECRET_KEY=_secret_key(settings),
        SWITCHBOARD_VERSION=_version(),
        MAX_CONTENT_LENGTH=settings.max_upload_bytes + 64 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_base_url.startswith("https://"),
        WTF_CSRF_TIME_LIMIT=None,
        JSON_SORT_KEYS=False,
    )
    app.config.update(flask_keys)
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    logging.basicConfig(level=settings.log_level)
    if logging.getLogger().getEffectiveLevel() >= logging.INFO:
        # A line per in-process task and per SMTP connection drowns `make run`'s console.
        for noisy in ("celery.app.trace", "mail.log", "alembic.runtime.plugins"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    if not settings.broker_url:
        # Eager Celery still builds a kombu connection to "memory://", which warns about a
        # missing host name that nobody is meant to supply.
        logging.getLogger("kombu.connection").setLevel(logging.ERROR)
    Path(settings.var_dir).mkdir(parents=True, exist_ok=True)

    from hub import auth, errors, i18n, nav
    from hub.celery import celery_init_app
    from hub.db import db

    db.init_app(app, engine)
    csrf.init_app(app)
    auth.init_app(app)
    i18n.init_app(app)
    errors.init_app(app)
    nav.init_app(app)  # the menu of every page
    celery_init_app(app)
    from hub import realtime, routing, sla, tasks

    realtime.init_app(app)  # before routing: its fan-out listeners must run first
    routing.init_app(app)
    sla.init_app(app)
    tasks.init_app(app)
    app.after_request(db.commit_request)
    app.after_request(_security_headers)

    # Every package, in one place.
    import agent_console
    import campaigns
    import channels
    from hub import api

    api.init_app(app)
    channels.init_app(app)
    agent_console.init_app(app)
    campaigns.init_app(app)

    from hub import health

    health.init_app(app)  # /healthz, /readyz, /metrics
    return app


def _security_headers(response: Any) -> Any:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    return response
