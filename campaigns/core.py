"""Wiring of the campaigns core (campaigns, lists, leads, DNC, imports) into the app."""

from __future__ import annotations

from typing import Any

from flask import Flask

_subscribed = False


def init_core(app: Flask) -> None:
    """The REST API under ``/api/v1/campaigns``, the supervisor screens, the import task."""
    global _subscribed
    from campaigns import api, views, workstation
    from campaigns.imports import IMPORT_QUEUED
    from campaigns.tasks import on_import_queued
    from hub import events

    app.register_blueprint(api.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(workstation.bp)
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        # JSON bodies only (415 otherwise), which a cross-site form cannot send.
        csrf.exempt(api.bp)
    celery_app: Any = app.extensions.get("celery")
    if celery_app is not None:
        routes = dict(celery_app.conf.task_routes or {})
        routes.setdefault("campaigns.run_import", {"queue": "bulk"})
        celery_app.conf.task_routes = routes
    if not _subscribed:
        events.subscribe(IMPORT_QUEUED, on_import_queued)
        _subscribed = True
