"""Background work of the fax channel (Celery; in-process in the embedded default).

Both tasks take ids, are idempotent (they act only on a document in the state they
expect) and keep network calls and rendering outside database transactions.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from celery import shared_task
from flask import current_app
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from channels.fax.models import FaxDocument
from channels.fax.providers import ProviderError
from crm_core.db import utcnow
from crm_core.models import Interaction
from hub.db import db

log = logging.getLogger(__name__)
MEDIA_TOKEN_MAX_AGE = 7 * 24 * 3600


def _backoff(attempt: int) -> int:
    return int(min(900, 15 * 2 ** max(0, attempt - 1)))


def queue_processing(interaction_id: int) -> None:
    """Queue the fetch/render of the fax behind ``interaction_id`` (after its commit)."""
    with db.transaction() as session:
        doc_id = session.scalar(
            select(FaxDocument.id).where(
                FaxDocument.interaction_id == interaction_id, FaxDocument.status == "fetching"
            )
        )
    if doc_id is not None:
        process_fax_task.delay(doc_id)


# A fax still "fetching" this long after its last attempt has lost its task (a worker died
# before acknowledging it, a process restarted): longer than the longest retry back-off.
STALE_FETCH = dt.timedelta(minutes=30)


def resume_lost_fetches(now: dt.datetime) -> int:
    """Tick step: queue again the fetch of every fax whose task was lost, so no received fax
    stays without its pages. Each document is claimed by moving its ``updated_at`` in the
    same transaction, so two ticking nodes do not queue it twice."""
    with db.transaction() as session:
        stmt = (
            select(FaxDocument)
            .where(
                FaxDocument.status == "fetching",
                FaxDocument.direction == "inbound",
                FaxDocument.updated_at < now - STALE_FETCH,
            )
            .order_by(FaxDocument.id)
            .limit(100)
        )
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        lost = list(session.scalars(stmt))
        for doc in lost:
            doc.updated_at = now
        ids = [doc.id for doc in lost]
    for doc_id in ids:
        log.warning("fax %s: its fetch task was lost; queued again", doc_id)
        process_fax_task.delay(doc_id)
    return len(ids)


@shared_task(bind=True, name="channels.fax.process", ignore_result=True, max_retries=None)
def process_fax_task(self: Any, document_id: int) -> str:
    """Fetch the media of an inbound fax (only from the provider's media host), store it,
    render the pages. Network failures are retried with back-off up to
    ``fax_fetch_attempts``; then the fax is flagged ``fetch_failed``, never dropped."""
    from channels.fax.service import (
        apply_render,
        blob_store,
        provider,
        render_to_blobs,
        settings,
        store_fetched,
    )

    with db.transaction() as session:
        doc = session.get(FaxDocument, document_id)
        if doc is None or doc.status != "fetching":
            return "skipped"
        doc.attempts += 1
        attempts, media_url, sha = doc.attempts, doc.media_url, doc.sha256
    data: bytes | None = None
    if sha is None:
        prov = provider()
        failure: str | None = None
        if prov is None or media_url is None:
            failure = "no fax provider configured" if prov is None else "no media URL"
        else:
            try:
                data, _ = prov.fetch(media_url, max_bytes=settings().max_upload_bytes)
            except ProviderError as exc:
                if attempts < settings().fax_fetch_attempts:
                    log.info(
                        "fax %s: fetch attempt %s failed (%s); retrying", document_id, attempts, exc
                    )
                    if self.request.is_eager:  # in-process: no worker to come back later
                        return str(self.run(document_id))
                    raise self.retry(countdown=_backoff(attempts), exc=exc) from None
                failure = str(exc)
            except ValueError as exc:  # a refused URL or an oversized document: no retry
                failure = str(exc)
        if failure is not None:
            with db.transaction() as session:
                doc = session.get(FaxDocument, document_id)
                if doc is not None and doc.status == "fetching":
                    doc.status = "fetch_failed"
                    doc.error = failure[:500]
            log.warning("fax %s: media not fetched: %s", document_id, failure)
            return "fetch_failed"
    else:
        data = blob_store().get(sha)
    assert data is not None
    result = render_to_blobs(data)
    with db.transaction() as session:
        doc = session.get(FaxDocument, document_id)
        if doc is None or doc.status != "fetching":
            return "skipped"
        if doc.sha256 is None:
            store_fetched(session, doc, data)
        apply_render(session, doc, result)
        return doc.status


def media_token(document_id: int, sha256: str) -> str:
    serializer = URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="switchboard.fax")
    return serializer.dumps([document_id, sha256])


def read_media_token(token: str) -> tuple[int, str] | None:
    serializer = URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="switchboard.fax")
    try:
        doc_id, sha = serializer.loads(token, max_age=MEDIA_TOKEN_MAX_AGE)
    except Exception:
        return None
    return int(doc_id), str(sha)


@shared_task(bind=True, name="channels.fax.send", ignore_result=True, max_retries=None)
def send_fax_task(self: Any, document_id: int) -> str:
    """Hand an outbound fax to the provider's REST API; the provider fetches the document
    from our signed media URL and reports back to the status webhook."""
    from channels.fax.service import provider, settings

    conf = settings()
    with db.transaction() as session:
        doc = session.get(FaxDocument, document_id)
        if doc is None or doc.status != "queued" or doc.fax_sid is not None:
            return "skipped"
        interaction = session.get(Interaction, doc.interaction_id)
        assert interaction is not None and doc.sha256 is not None
        doc.attempts += 1
        attempts, to, sha = doc.attempts, interaction.to_address or "", doc.sha256
        from_ = interaction.from_address or conf.fax_from_number
    prov = provider()
    base = conf.public_base_url.rstrip("/")
    try:
        if prov is None:
            raise ProviderError("no fax provider configured")
        sid = prov.send(
            to=to,
            from_=from_,
            media_url=f"{base}/fax/media/{media_token(document_id, sha)}",
            status_callback=f"{base}/webhooks/fax/{prov.name}/status",
        )
    except ProviderError as exc:
        if attempts < conf.fax_send_attempts:
            if self.request.is_eager:  # in-process: no worker to come back later
                return str(self.run(document_id))
            raise self.retry(countdown=_backoff(attempts), exc=exc) from None
        with db.transaction() as session:
            doc = session.get(FaxDocument, document_id)
            interaction = session.get(Interaction, doc.interaction_id) if doc else None
            if doc is not None and interaction is not None:
                doc.status = "failed"
                doc.error = str(exc)[:500]
                interaction.status = "closed"
                interaction.ended_at = utcnow()
                interaction.summary = f"fax to {to} failed: {exc}"[:500]
        return "failed"
    with db.transaction() as session:
        doc = session.get(FaxDocument, document_id)
        if doc is not None:
            doc.fax_sid = sid
            interaction = session.get(Interaction, doc.interaction_id)
            if interaction is not None:
                interaction.external_id = sid
    return "sent"
