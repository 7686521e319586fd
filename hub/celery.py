"""The Celery app: every task runs inside the Flask app context (``FlaskTask``).

Without a broker (the embedded default) tasks run eagerly in the calling process; with
``SWITCHBOARD_BROKER_URL`` they go to workers (``switchboard worker``).
"""

from __future__ import annotations

from typing import Any

from celery import Celery, Task
from flask import Flask


def celery_init_app(app: Flask) -> Celery:
    settings = app.extensions["switchboard.settings"]

    class FlaskTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    eager = not settings.broker_url
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
        task_default_queue="default",
        broker_connection_retry_on_startup=True,
        timezone="UTC",
    )
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
