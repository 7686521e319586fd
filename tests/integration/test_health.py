"""/healthz, /readyz and /metrics (``hub/health.py``, ``hub/metrics.py``)."""

from __future__ import annotations

import re

from hub.db import db
from tests.conftest import make_test_app
from tests.routing_helpers import call, make_queue


def test_healthz_and_readyz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json() == {"status": "ok", "database": "ok"}


def test_readyz_is_503_when_the_broker_does_not_answer(database_url, tmp_path):
    # Port 9 (discard) on the loopback: nothing listens, the connection is refused.
    app = make_test_app(
        database_url,
        tmp_path / "var",
        broker_url="redis://127.0.0.1:9/0",
        readiness_timeout=5,
    )
    try:
        answer = app.test_client().get("/readyz")
        assert answer.status_code == 503
        body = answer.get_json()
        assert body["status"] == "unavailable"
        assert body["database"] == "ok"
        assert body["broker"] not in ("ok", None)
    finally:
        db.engine_for(app).dispose()


def _value(text: str, line_start: str) -> float:
    found = re.search(rf"^{re.escape(line_start)} ([0-9.e+]+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def test_metrics_count_ingest_and_read_the_queues(app, client, session):
    queue = make_queue(session, "Metrics queue", channels=["webform", "voice"])
    session.commit()
    before = client.get("/metrics")
    assert before.status_code == 200
    assert before.content_type.startswith("text/plain")
    ingested = 'switchboard_ingested_total{channel="voice"}'
    start = _value(before.get_data(as_text=True), ingested)
    call(app)
    call(app)
    text = client.get("/metrics").get_data(as_text=True)
    assert _value(text, ingested) == start + 2
    assert _value(text, f'switchboard_queue_waiting{{queue="{queue.name}"}}') == 2
    assert f'switchboard_queue_oldest_wait_seconds{{queue="{queue.name}"}}' in text


def test_metrics_are_local_only_without_a_token(client):
    assert client.get("/metrics").status_code == 200
    # Through a proxy, on behalf of someone elsewhere: not for them.
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 404
    # From another machine directly.
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 404


def test_metrics_with_a_token(database_url, tmp_path):
    app = make_test_app(database_url, tmp_path / "var", metrics_token="s3cret-token")
    try:
        web = app.test_client()
        remote = {"REMOTE_ADDR": "10.1.2.3"}
        assert web.get("/metrics", environ_base=remote).status_code == 404
        wrong = {"Authorization": "Bearer nope"}
        assert web.get("/metrics", headers=wrong, environ_base=remote).status_code == 404
        right = {"Authorization": "Bearer s3cret-token"}
        assert web.get("/metrics", headers=right, environ_base=remote).status_code == 200
    finally:
        db.engine_for(app).dispose()
