"""The Celery app: every task runs inside the Flask app context (``FlaskTask``).

Without a broker (the embedded default) tasks run eagerly in the calling process; with
``SWITCHBOARD_BROKER_URL`` they go to workers (``switchboard worker``).

Queues are split by latency, so that a slow import never delays an offer:

============  ==================================================================
``realtime``  routing passes, the tick, queue figures, ringing an agent into a call
``default``   everything not named below (e-mail delivery and acknowledgements,
              outbound faxes, SLA bookkeeping)
``bulk``      slow and batchy: IMAP polling, fax rendering, fetching recordings
``dialer``    outbound campaigns (``campaigns.*``)
============  ==================================================================

``SWITCHBOARD_CELERY_QUEUE_PREFIX`` prefixes every queue name (several deployments, or
test runs, on one broker). Tasks are acknowledged late and re-queued when their worker
dies (``task_acks_late`` + ``task_reject_on_worker_lost``): every task here is written
to be safe to run twice. On Redis an unacknowledged task comes back after the broker's
``visibility_timeout`` (``SWITCHBOARD_CELERY_VISIBILITY_TIMEOUT``).
"""

from __future__ import annotations

from typing import Any

from celery import Celery, Task
from flask import Flask

QUEUES = ("realtime", "default", "bulk", "dialer")

# Exact names first, then glob patterns in order (Celery's MapRoute).
TASK_ROUTES: dict[str, str] = {
    "hub.route_pending": "realtime",
    "hub.tick": "realtime",
    "hub.broadcast_queue_stats": "realtime",
    "hub.sync_ticket_sla": "default",
    "channels.twilio_voice.connect_agent": "realtime",
    "channels.twilio_voice.dial_outbound": "realtime",
    "channels.twilio_voice.fetch_recording": "bulk",
    "channels.email.poll_imap": "bulk",
    "channels.email.deliver": "default",
    "channels.email.autoack": "default",
    "channels.fax.process": "bulk",
    "channels.fax.send": "default",
    "campaigns.*": "dialer",
}


def queue_name(prefix: str, queue: str) -> str:
    return f"{prefix}{queue}"


def task_routes(prefix: str = "") -> dict[str, dict[str, str]]:
    return {task: {"queue": queue_name(prefix, q)} for task, q in TASK_ROUTES.items()}


def celery_init_app(app: Flask) -> Celery:
    settings = app.extensions["switchboard.settings"]

    class FlaskTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    eager = not settings.broker_url
    prefix = settings.celery_queue_prefix
    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.conf.update(
        broker_url=settings.broker_url or "memory://",
        result_backend=None,
        task_always_eager=eager,
        task_eager_propagates=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        # `switchboard worker` consumes realtime,default,bulk,dialer: nothing may land on
        # Celery's own default queue ("celery"), which no worker would read.
        task_default_queue=queue_name(prefix, "default"),
        task_routes=task_routes(prefix),
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": settings.celery_visibility_timeout},
        # A worker that loses the broker mid-task must not finish and ack it twice.
        worker_cancel_long_running_tasks_on_connection_loss=True,
        timezone="UTC",
    )
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
