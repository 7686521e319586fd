"""The fax channel: inbound faxes from a provider's webhooks or an e-mail-to-fax gateway,
outbound faxes through the hub's send-fax port, and the annotation layer.

- ``POST /webhooks/fax/<provider>``: a received fax (Twilio-compatible shape, signed);
  the media is fetched by a Celery task, only from the provider's media hosts, stored
  content-addressed and rendered to page images; the sender is identified by fax number.
- ``POST /webhooks/fax/<provider>/status``: status callbacks of outbound faxes.
- ``GET /fax/media/<token>``: the signed URL the provider fetches an outbound fax from.
- Console pages under ``/fax/documents/<id>`` (pages with/without annotations, stamps,
  highlights, comments, flattened PDF export) and ``/fax/send``.
- :func:`channels.fax.service.receive_emailed_fax`: the e-mail-to-fax gateway hook the
  e-mail channel calls.

Settings ``SWITCHBOARD_FAX_*``; see docs/fax.md.
"""

from __future__ import annotations

from flask import Flask, has_app_context

from crm_core.events import DomainEvent
from hub.settings import ConfigurationError

_subscribed = False


def init_app(app: Flask) -> None:
    """Register the webhooks, console pages, the intake threader, the send-fax port (when a
    provider is configured) and the after-commit listeners."""
    from channels.fax import models  # noqa: F401  (the tables, for the metadata)
    from channels.fax.service import (
        ProviderFaxSender,
        configured_provider,
        console_extra,
        thread_fax,
    )
    from channels.fax.tasks import resume_lost_fetches
    from channels.fax.views import bp, webhooks
    from hub.cards import register_interaction_extra
    from hub.intake import register_threader
    from hub.ports import register_fax_sender
    from hub.tasks import register_tick_step

    settings = app.extensions["switchboard.settings"]
    provider = configured_provider(app)
    if provider is not None:
        if not settings.fax_media_hosts:
            raise ConfigurationError(
                "SWITCHBOARD_FAX_MEDIA_HOSTS must list the fax provider's media hosts "
                '(JSON, e.g. ["files.signalwire.com"]) when SWITCHBOARD_FAX_AUTH_TOKEN is set'
            )
        if not settings.fax_account_sid:
            raise ConfigurationError(
                "SWITCHBOARD_FAX_ACCOUNT_SID must be set when SWITCHBOARD_FAX_AUTH_TOKEN is set"
            )
        register_fax_sender(app, ProviderFaxSender())
    app.extensions["switchboard.fax_provider"] = provider
    register_threader("fax", thread_fax)
    register_interaction_extra("fax", console_extra)  # the pages in the console
    register_tick_step(app, "fax_fetches_resumed", resume_lost_fetches)
    app.register_blueprint(webhooks)
    app.register_blueprint(bp)
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(webhooks)  # the provider signs its requests; it cannot carry our token
    _subscribe()


def _subscribe() -> None:
    global _subscribed
    if _subscribed:  # blinker signals are process-wide: one subscription serves every app
        return
    from channels.fax.service import FAX_STATUS_CHANGED
    from hub.events import subscribe
    from hub.ports import FAX_OUTBOUND_RECORDED

    subscribe(FAX_OUTBOUND_RECORDED, _queue_send)
    subscribe(FAX_STATUS_CHANGED, _queue_send)
    _subscribed = True


def _queue_send(event: DomainEvent) -> None:
    """After commit: hand a queued outbound fax to the provider (first try or a retry)."""
    if not has_app_context():
        return
    from flask import current_app
    from sqlalchemy import select

    from channels.fax.models import FaxDocument
    from channels.fax.tasks import send_fax_task
    from hub.db import db

    if current_app.extensions.get("switchboard.fax_provider") is None:
        return
    with db.transaction() as session:
        doc_id = session.scalar(
            select(FaxDocument.id).where(
                FaxDocument.interaction_id == event.data["interaction_id"],
                FaxDocument.direction == "outbound",
                FaxDocument.status == "queued",
                FaxDocument.fax_sid.is_(None),
            )
        )
    if doc_id is not None:
        send_fax_task.delay(doc_id)
