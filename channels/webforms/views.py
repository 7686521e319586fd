"""Public form pages and endpoints.

``GET /forms/<slug>``            the hosted page (``?embed=1`` inside the embed iframe)
``POST /forms/<slug>``           the page's submission (multipart, token-checked)
``POST /forms/<slug>/submissions`` JSON for sites that post directly (CORS allow-list)
``GET /forms/<slug>/embed.js``   the snippet a company website includes

Every accepted submission goes through ``hub.intake.receive`` and is committed before the
answer; nothing here commits.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from channels.webforms.models import WebForm
from channels.webforms.schema import SubmissionInvalid, UploadedFile, clean_submission
from channels.webforms.security import captcha, check_token, make_token, rate_limiter
from channels.webforms.service import build_event, get_form, provider_errors
from crm_core.errors import NotFound
from crm_core.models import Ticket
from hub.db import db
from hub.errors import problem
from hub.intake import IntakeError, receive

bp = Blueprint(
    "webforms",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/webforms-static",
)

SUBMISSION_ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
HONEYPOT = "website_url"
LANGUAGES = (("en", "English"), ("pl", "Polski"), ("uk", "Українська"))


def _load_form(slug: str) -> WebForm:
    """The form, read in a session of its own that is closed at once.

    Intake opens its own transaction; on SQLite a request transaction still open here
    would hold the write lock intake waits for.
    """
    maker = db.sessionmaker_for(current_app._get_current_object())  # type: ignore[attr-defined]
    session: Session = maker()
    try:
        form = get_form(session, slug)
        if form in session:
            session.expunge(form)
        return form
    finally:
        session.close()


def _settings() -> Any:
    return current_app.extensions["switchboard.settings"]


def _limit(form: WebForm) -> int:
    return int(form.rate_limit_per_minute or _settings().webform_rate_limit_per_minute)


def _page(
    form: WebForm,
    *,
    status: int = 200,
    submission_id: str | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
) -> tuple[str, int, dict[str, str]]:
    sid = submission_id or uuid.uuid4().hex
    embed = request.args.get("embed") == "1"
    html = render_template(
        "webforms/form.html",
        form=form,
        token=make_token(form.slug, sid),
        submission_id=sid,
        values=values or {},
        errors=errors or {},
        message=message,
        embed=embed,
        languages=LANGUAGES,
        current_lang=str(get_locale() or "en"),
        lang_arg=request.args.get("lang"),
        captcha_html=captcha().widget_html(),
    )
    return html, status, _frame_headers(form, embed)


def _frame_headers(form: WebForm, embed: bool) -> dict[str, str]:
    headers = {"Cache-Control": "no-store"}
    if embed:
        # Only the form's own origins may frame it (CSP wins over X-Frame-Options).
        ancestors = " ".join(["'self'", *(form.allowed_origins or [])])
        headers["Content-Security-Policy"] = f"frame-ancestors {ancestors}"
    return headers


def _refused(form: WebForm | None, status: int, message: str) -> tuple[str, int]:
    return render_template("webforms/problem.html", form=form, message=message), status


@bp.get("/forms/<slug>")
def show(slug: str) -> Any:
    try:
        form = _load_form(slug)
    except NotFound:
        return _refused(None, 404, _("This form does not exist (any more)."))
    return _page(form)


@bp.post("/forms/<slug>")
def submit(slug: str) -> Any:
    try:
        form = _load_form(slug)
    except NotFound:
        return _refused(None, 404, _("This form does not exist (any more)."))
    ip = request.remote_addr or "unknown"
    if not rate_limiter(current_app).hit(f"webform:{ip}", _limit(form)):
        return _refused(
            form, 429, _("Too many submissions from your network; please try again later.")
        )
    if request.form.get(HONEYPOT):
        return _refused(form, 400, _("This submission was refused as automated."))
    sid = request.form.get("submission_id", "")
    if not SUBMISSION_ID_RE.match(sid):
        return _refused(form, 400, _("The form is incomplete; please reload the page."))
    values = {k: v for k, v in request.form.items() if k not in ("csrf_token", HONEYPOT)}
    if not check_token(request.form.get("csrf_token"), form.slug, sid):
        return _page(
            form,
            status=400,
            values=values,
            message=_("This page has expired; please check your entries and send again."),
        )
    if not captcha().verify(request.form.get("captcha"), ip):
        return _page(
            form,
            status=400,
            submission_id=sid,
            values=values,
            message=_("Please confirm that you are not a robot."),
        )
    files = {
        name: UploadedFile(filename=f.filename, content_type=f.mimetype, data=f.read())
        for name, f in request.files.items()
        if f and f.filename
    }
    try:
        clean = clean_submission(form.fields, values, files, region=_settings().default_region)
    except SubmissionInvalid as exc:
        return _page(form, status=422, submission_id=sid, values=values, errors=exc.errors)
    errors = provider_errors(form, clean.values)
    if errors:
        return _page(form, status=422, submission_id=sid, values=values, errors=errors)
    event = build_event(
        form,
        clean,
        submission_id=sid,
        remote_addr=ip,
        user_agent=request.user_agent.string,
        origin=request.headers.get("Origin"),
    )
    try:
        interaction = receive(event)
    except IntakeError:
        current_app.logger.exception("web form %s: intake failed", form.slug)
        return _refused(form, 503, _("We could not save your message; please try again."))
    ticket_number = None
    if interaction.ticket_id is not None:
        ticket = db.session.get(Ticket, interaction.ticket_id)
        ticket_number = ticket.number if ticket else None
    embed = request.args.get("embed") == "1"
    html = render_template(
        "webforms/thanks.html",
        form=form,
        reference=interaction.id,
        ticket_number=ticket_number,
        embed=embed,
    )
    return html, 200, _frame_headers(form, embed)


def _cors(response: Response, origin: str | None) -> Response:
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    return response


@bp.route("/forms/<slug>/submissions", methods=["POST", "OPTIONS"])
def submit_json(slug: str) -> Any:
    origin = request.headers.get("Origin")
    try:
        form = _load_form(slug)
    except NotFound:
        return problem(404, "not_found", f"no form {slug!r}")
    own_origin = request.host_url.rstrip("/").lower()
    if origin is not None and origin.lower() not in [own_origin, *(form.allowed_origins or [])]:
        return problem(403, "origin_not_allowed", "this origin may not post to this form")
    if request.method == "OPTIONS":
        response = Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
        return _cors(response, origin)
    ip = request.remote_addr or "unknown"
    if not rate_limiter(current_app).hit(f"webform:{ip}", _limit(form)):
        return _cors(problem(429, "rate_limited", "too many submissions; try again later"), origin)
    if not request.is_json:
        return _cors(problem(415, "unsupported_media_type", "send application/json"), origin)
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("fields"), dict):
        return _cors(
            problem(400, "bad_request", 'send {"submission_id": "...", "fields": {...}}'), origin
        )
    if body.get(HONEYPOT):
        return _cors(problem(400, "refused", "this submission was refused as automated"), origin)
    sid = body.get("submission_id")
    if not isinstance(sid, str) or not SUBMISSION_ID_RE.match(sid):
        return _cors(
            problem(
                400,
                "bad_request",
                "submission_id must be 8 to 64 letters, digits, - or _ (a UUID is fine)",
                field="submission_id",
            ),
            origin,
        )
    captcha_response = body.get("captcha")
    if not captcha().verify(captcha_response if isinstance(captcha_response, str) else None, ip):
        return _cors(problem(400, "captcha_failed", "the captcha was not solved"), origin)
    fields = {k: v for k, v in body["fields"].items() if isinstance(v, str | int | float | bool)}
    try:
        clean = clean_submission(form.fields, fields, region=_settings().default_region)
    except SubmissionInvalid as exc:
        return _cors(problem(422, "validation_failed", exc.message, fields=exc.errors), origin)
    errors = provider_errors(form, clean.values)
    if errors:
        message = "please correct: " + ", ".join(sorted(errors))
        return _cors(problem(422, "validation_failed", message, fields=errors), origin)
    if any(f["type"] == "file" and f.get("required") for f in form.fields):
        return _cors(
            problem(422, "validation_failed", "this form needs a file: use the hosted page"),
            origin,
        )
    event = build_event(
        form,
        clean,
        submission_id=sid,
        remote_addr=ip,
        user_agent=request.user_agent.string,
        origin=origin,
    )
    try:
        interaction = receive(event)
    except IntakeError:
        current_app.logger.exception("web form %s: intake failed", form.slug)
        return _cors(problem(503, "unavailable", "could not store the submission; retry"), origin)
    response = jsonify(
        id=interaction.id,
        reference=interaction.id,
        duplicate=interaction.was_duplicate,
        confirmation=form.confirmation_text or "",
    )
    response.status_code = 200 if interaction.was_duplicate else 201
    return _cors(response, origin)


@bp.get("/forms/<slug>/embed.js")
def embed_js(slug: str) -> Any:
    try:
        form = _load_form(slug)
    except NotFound:
        return problem(404, "not_found", f"no form {slug!r}")
    js = render_template(
        "webforms/embed.js",
        src=url_for("webforms.show", slug=form.slug, embed="1", _external=True),
        title=form.title,
    )
    return Response(js, mimetype="text/javascript", headers={"Cache-Control": "max-age=300"})
