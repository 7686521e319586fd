"""The agent's console (``/console``) and the supervisor's wallboard (``/wallboard``):
Flask blueprint, templates, static assets and the Socket.IO namespace ``/console``.
Imports ``hub`` and ``crm_core`` only."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint(
    "console",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/console/static",
)

from agent_console import console_api, planning, reports, settings, views, wallboard  # noqa: E402, F401


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    from agent_console import sockets

    sockets.init_app()  # the /console Socket.IO namespace
