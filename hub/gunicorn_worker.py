"""gunicorn's gevent worker, plus a drain of the Socket.IO clients on SIGTERM.

On SIGTERM gunicorn's worker stops accepting and waits up to ``graceful_timeout`` for its
open connections to end; a websocket never ends by itself, so the worker first tells every
Socket.IO client of this node to disconnect. The console reconnects at once, and the load
balancer (which no longer sees this node ready) sends it to another node, whose snapshot
restores the agent's screen. HTTP requests in progress finish normally.
"""

from __future__ import annotations

import logging
from typing import Any

import gevent
from gunicorn.workers.ggevent import GeventWorker

log = logging.getLogger(__name__)


def drain_sockets() -> None:
    """Disconnect every Socket.IO client connected to this process."""
    try:
        from hub.realtime import socketio

        server = socketio.server
        if server is not None:
            count = len(server.eio.sockets)
            server.eio.disconnect()
            log.info("drained %d Socket.IO connection(s)", count)
    except Exception:  # shutting down anyway
        log.exception("could not drain the Socket.IO connections")


class SwitchboardWorker(GeventWorker):
    def handle_exit(self, sig: int, frame: Any) -> None:
        # SIGTERM (graceful stop): from a greenlet, not inside the signal handler.
        gevent.spawn(drain_sockets)
        super().handle_exit(sig, frame)
