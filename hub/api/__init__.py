"""REST API under ``/api/v1/``: bearer tokens (or the console's session), JSON problems,
pagination on every list, and an OpenAPI 3.1 document generated from the code."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# Route modules register their operations on ``bp`` when imported.
import hub.api.admin  # noqa: E402
import hub.api.attachments  # noqa: E402
import hub.api.calendar  # noqa: E402
import hub.api.calls  # noqa: E402
import hub.api.complaints  # noqa: E402
import hub.api.interactions  # noqa: E402
import hub.api.kb  # noqa: E402
import hub.api.products  # noqa: E402
import hub.api.segments  # noqa: E402
import hub.api.tasks  # noqa: E402
import hub.api.tickets  # noqa: E402, F401
from hub.api import customers  # noqa: E402, F401


@bp.get("/openapi.json")
def openapi_document() -> Response:
    from hub.api.spec import build_openapi

    doc = current_app.extensions.get("switchboard.openapi")
    if doc is None:
        doc = build_openapi("Switchboard", current_app.config["SWITCHBOARD_VERSION"])
        current_app.extensions["switchboard.openapi"] = doc
    return jsonify(doc)


@bp.get("/docs")
def api_docs() -> Any:
    return render_template("api_docs.html")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        # The API takes JSON bodies only (415 otherwise), which a cross-site form cannot send.
        csrf.exempt(bp)
