"""The WSGI application of ``switchboard web`` (gunicorn with the gevent worker).

Loaded in the gunicorn worker after gevent has monkey-patched the standard library, so the
app's Socket.IO runs in ``gevent`` mode (websockets through simple-websocket), psycopg 3
waits cooperatively (it detects the patched ``select`` since 3.1.14) and the SQLAlchemy
pool's locks are gevent's. Under another server (no gevent) the configured
``SWITCHBOARD_SOCKETIO_ASYNC_MODE`` applies.
"""

from __future__ import annotations

from typing import Any

from hub.app import create_app


def _gevent_patched() -> bool:
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return False
    return bool(monkey.is_module_patched("socket"))


def make_app() -> Any:
    overrides = {"socketio_async_mode": "gevent"} if _gevent_patched() else None
    return create_app(overrides)


app = make_app()
