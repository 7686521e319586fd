"""The web-forms channel: admin-defined public forms whose submissions feed the queue.

Public routes (no login): ``GET``/``POST /forms/<slug>`` (the hosted page),
``POST /forms/<slug>/submissions`` (JSON, CORS allow-list per form) and
``GET /forms/<slug>/embed.js`` (the snippet for a company website). Admins define forms at
``/admin/forms`` (or with :func:`channels.webforms.service.do_save_form`). Abuse controls are in
:mod:`channels.webforms.security`. See docs/webforms.md.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the public form routes and the intake threader for ``webform``."""
    from channels.webforms import models  # noqa: F401  (the table, for the metadata)
    from channels.webforms.admin import bp as admin_bp
    from channels.webforms.service import thread_submission
    from channels.webforms.views import bp
    from hub.intake import register_threader

    register_threader("webform", thread_submission)
    app.register_blueprint(bp)
    app.register_blueprint(admin_bp)  # admins' pages: Flask-WTF CSRF applies
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        # The hosted page carries its own signed token (security.make_token), which also
        # works inside a third-party iframe; the JSON endpoint is guarded by CORS.
        csrf.exempt(bp)
