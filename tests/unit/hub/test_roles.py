"""The process roles' wiring: gunicorn command line, Celery queues and routes."""

from __future__ import annotations

from click.testing import CliRunner

from hub.celery import QUEUES, task_routes
from hub.cli import main
from hub.roles import gunicorn_argv
from hub.settings import load_settings


def test_web_node_is_one_gevent_worker_with_many_connections():
    argv = gunicorn_argv(
        load_settings({"web_worker_connections": 12345}), host="0.0.0.0", port=8001
    )
    joined = " ".join(argv)
    assert "--worker-class hub.gunicorn_worker.SwitchboardWorker" in joined
    assert "--workers 1" in joined
    assert "--worker-connections 12345" in joined
    assert "--bind 0.0.0.0:8001" in joined
    assert argv[-1] == "hub.wsgi:app"


def test_web_print_command(monkeypatch):
    monkeypatch.setenv("SWITCHBOARD_WEB_WORKER_CONNECTIONS", "4321")
    result = CliRunner().invoke(main, ["web", "--port", "8123", "--print-command"])
    assert result.exit_code == 0, result.output
    assert "--worker-connections 4321" in result.output
    assert "--bind 127.0.0.1:8123" in result.output


def test_tasks_go_to_queues_by_latency():
    routes = task_routes("pfx-")
    assert routes["hub.route_pending"] == {"queue": "pfx-realtime"}
    assert routes["hub.tick"] == {"queue": "pfx-realtime"}
    assert routes["channels.email.poll_imap"] == {"queue": "pfx-bulk"}
    assert routes["channels.email.deliver"] == {"queue": "pfx-default"}
    assert routes["campaigns.*"] == {"queue": "pfx-dialer"}
    assert {r["queue"] for r in routes.values()} == {f"pfx-{q}" for q in QUEUES}


def test_every_registered_task_lands_on_a_consumed_queue(app):
    celery_app = app.extensions["celery"]
    consumed = set(QUEUES)
    for name in celery_app.tasks:
        if name.startswith("celery."):
            continue
        route = celery_app.amqp.router.route({}, name)
        assert route["queue"].name in consumed, name
