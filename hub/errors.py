"""Turning errors into answers people can act on: JSON problems on the API, pages elsewhere."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from crm_core.errors import DomainError

log = logging.getLogger(__name__)

# What an error page says (in the reader's language) when the code gave no reason of its own.
PAGE_MESSAGES = {
    400: _l("The request could not be understood. Go back and try again."),
    401: _l("Please log in to open this page."),
    403: _l("Your role may not open this page."),
    404: _l("There is no such page."),
    405: _l("This page cannot do that."),
    413: _l("The upload is too large."),
    429: _l("Too many requests; please wait a moment and try again."),
    500: _l("Something went wrong on our side; try again."),
    503: _l("The service is not available at the moment; try again shortly."),
}


def domain_message(exc: DomainError) -> str:
    """A domain error's message in the reader's language (crm_core raises it in English)."""
    return exc.localized(gettext)


def wants_json() -> bool:
    if request.path.startswith(("/api/", "/webhooks/")):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def problem(status: int, error: str, message: str, **extra: Any) -> Response:
    body: dict[str, Any] = {"error": error, "message": message}
    body.update({k: v for k, v in extra.items() if v is not None})
    response = jsonify(body)
    response.status_code = status
    return response


def pydantic_problem(exc: ValidationError, where: str) -> Response:
    detail = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"])
        detail.append({"field": loc, "message": err["msg"], "in": where})
    fields = ", ".join(d["field"] or where for d in detail[:5])
    return problem(422, "validation_failed", f"invalid {where}: {fields}", detail=detail)


def init_app(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(exc: DomainError) -> Any:
        if wants_json():
            return problem(
                exc.status_code, exc.code, domain_message(exc), field=exc.field, detail=exc.detail
            )
        return render_template("error.html", code=exc.status_code, message=domain_message(exc)), (
            exc.status_code
        )

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        code = exc.code or 500
        if wants_json():
            name = (exc.name or "error").lower().replace(" ", "_")
            response = problem(code, name, exc.description or exc.name or "error")
            if code == 405 and exc.get_response().headers.get("Allow"):
                response.headers["Allow"] = exc.get_response().headers["Allow"]
            return response
        message = exc.description
        if message == type(exc).description:  # werkzeug's English default: say it our way
            message = str(PAGE_MESSAGES.get(code, message))
        return render_template("error.html", code=code, message=message), code

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json():
            return problem(500, "internal_error", "something went wrong on our side; try again")
        return render_template("error.html", code=500, message=str(PAGE_MESSAGES[500])), 500
