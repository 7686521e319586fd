"""Celery tasks of campaigns. Each takes ids and is safe to run twice.

``campaigns.run_import`` imports a list in batches (see :mod:`campaigns.imports`); it is
queued after the commit that started the import (the ``campaign.import_queued`` event),
so in the embedded default (Celery eager) it runs in-process right after that commit.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from flask import current_app
from sqlalchemy import select

from campaigns import imports
from campaigns.models import ListImport
from crm_core.db import utcnow
from crm_core.events import DomainEvent
from crm_core.services.blobs import BlobStore
from hub import realtime
from hub.db import db

log = logging.getLogger(__name__)


def _store() -> BlobStore:
    return BlobStore(current_app.extensions["switchboard.settings"].effective_blob_dir)


def _locked(session: Any, import_id: int) -> ListImport | None:
    stmt = select(ListImport).where(ListImport.id == import_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def run_import(import_id: int, *, batch: int = imports.BATCH) -> dict[str, Any] | None:
    """Import every row not yet processed, ``batch`` rows per transaction, and announce
    the progress after each commit. Returns the final tally (None if there was nothing
    to do). A failure marks the import ``failed`` with the error; the rows committed
    before it stay, counted, and running the task again resumes after them."""
    with db.transaction() as session:
        imp = session.get(ListImport, import_id)
        if imp is None or imp.status != "running":
            return None
        sha, kind, start = imp.sha256, imp.file_kind, imp.processed_rows
    try:
        data = _store().get(sha)
        rows = imports.data_rows(data, kind)
        for _ in range(start):
            next(rows, None)
        done = False
        while not done:
            chunk = []
            for row in rows:
                chunk.append(row)
                if len(chunk) >= batch:
                    break
            done = len(chunk) < batch
            if not chunk:
                break
            with db.transaction() as session:
                imp = _locked(session, import_id)
                if imp is None or imp.status != "running" or imp.processed_rows != start:
                    return None  # another run took over (or it was stopped)
                imports.apply_batch(session, imp, start, chunk)
                session.flush()
                session.refresh(imp)
                state = imports.progress(imp)
            start += len(chunk)
            realtime.emit_campaign_import(state)
        with db.transaction() as session:
            imp = _locked(session, import_id)
            if imp is None:
                return None
            imp.status = "done"
            imp.finished_at = utcnow()
            accounted = imp.imported + imp.matched + imp.rejected
            if accounted != imp.processed_rows or imp.processed_rows != imp.total_rows:
                imp.status = "failed"
                imp.error = (
                    f"{imp.processed_rows} of {imp.total_rows} rows processed, "
                    f"{accounted} accounted for"
                )
            state = imports.progress(imp)
        realtime.emit_campaign_import(state)
        return state
    except Exception as exc:
        log.exception("campaign import %s failed", import_id)
        with db.transaction() as session:
            imp = session.get(ListImport, import_id)
            if imp is not None:
                imp.status = "failed"
                imp.error = str(getattr(exc, "message", exc))[:500]
                state = imports.progress(imp)
        realtime.emit_campaign_import(state)
        return state


@shared_task(name="campaigns.run_import", ignore_result=True)
def run_import_task(import_id: int) -> None:
    run_import(import_id)


def on_import_queued(evt: DomainEvent) -> None:
    """After the commit that started an import: queue (or, eagerly, run) the task."""
    try:
        run_import_task.delay(int(evt.data["import_id"]))
    except Exception:  # the import stays "running"; resume it with the task again
        log.exception("campaign import %s not queued", evt.data.get("import_id"))
