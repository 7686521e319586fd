"""The survey's JSON API for the agent console and a telemarketer workstation.

``GET  /campaigns/api/surveys``                           surveys (id, name, version)
``POST /campaigns/api/surveys``                           create (supervisors)
``GET  /campaigns/api/surveys/<id>``                      the current definition
``PUT  /campaigns/api/surveys/<id>``                      edit: a new version (supervisors)
``POST /campaigns/api/surveys/<id>/responses``            start: customer_id, interaction_id
``GET  /campaigns/api/survey-responses/<rid>``            answers so far and the next question
``POST /campaigns/api/survey-responses/<rid>/answers``    ``{"answers": {"<key>": value}}``
``POST /campaigns/api/survey-responses/<rid>/complete``   close it (422 names missing answers)
``GET  /campaigns/api/customers/<cid>/survey-responses``  the customer's responses

Invalid answers are 422 ``{"error": "validation_failed", "fields": {"<key>": "message"}}``.
Writes go through the actions of :mod:`campaigns.surveys`; the request commits.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from campaigns.survey_models import CampaignSurvey
from campaigns.surveys import (
    AnswersInvalid,
    current_version,
    customer_responses,
    do_complete_response,
    do_create_survey,
    do_edit_survey,
    do_start_response,
    do_submit_answers,
    get_response,
    get_survey,
    in_target_group,
    response_state,
    state_json,
)
from crm_core.errors import DomainError, ValidationFailed
from hub.auth import current, require_role
from hub.db import db
from hub.errors import problem

bp = Blueprint("survey_api", __name__, url_prefix="/campaigns/api")


def json_errors(blueprint: Blueprint) -> None:
    """Answer a blueprint's errors as JSON problem documents (``hub.errors`` does so only
    for ``/api/`` paths and for clients that ask for JSON)."""

    @blueprint.errorhandler(DomainError)
    def _domain(exc: DomainError) -> Any:
        message = exc.localized(_)
        return problem(exc.status_code, exc.code, message, field=exc.field, detail=exc.detail)

    @blueprint.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        name = (exc.name or "error").lower().replace(" ", "_")
        return problem(exc.code or 500, name, exc.description or exc.name or "error")


json_errors(bp)


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationFailed(_("Send a JSON object."), field="body")
    return data


def _opt_int(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(_("%(field)s must be a number.", field=key), field=key)
    return value


def _invalid(exc: AnswersInvalid) -> Any:
    return problem(422, "validation_failed", exc.message, fields=exc.errors)


def _survey_json(survey: CampaignSurvey) -> dict[str, Any]:
    version = current_version(db.session, survey.id)
    return {
        "id": survey.id,
        "name": survey.name,
        "segment_id": survey.segment_id,
        "web_enabled": survey.web_enabled,
        "version": version.version,
        "version_id": version.id,
        "definition": version.definition,
    }


@bp.get("/surveys")
@login_required
def list_surveys() -> Any:
    surveys = db.session.scalars(select(CampaignSurvey).order_by(CampaignSurvey.name))
    return jsonify(surveys=[_survey_json(s) for s in surveys])


@bp.post("/surveys")
@require_role("supervisor")
def create_survey() -> Any:
    data = _body()
    definition = data.get("definition")
    survey = do_create_survey(
        db.session,
        name=str(data.get("name") or ""),
        definition=definition if isinstance(definition, dict) else {},
        segment_id=_opt_int(data, "segment_id"),
        web_enabled=bool(data.get("web_enabled", False)),
        user_id=current().id,
    )
    return jsonify(_survey_json(survey)), 201


@bp.get("/surveys/<int:survey_id>")
@login_required
def show_survey(survey_id: int) -> Any:
    return jsonify(_survey_json(get_survey(db.session, survey_id)))


@bp.put("/surveys/<int:survey_id>")
@require_role("supervisor")
def edit_survey(survey_id: int) -> Any:
    data = _body()
    survey = get_survey(db.session, survey_id)
    definition = data.get("definition")
    do_edit_survey(
        db.session,
        survey,
        definition=definition if isinstance(definition, dict) else None,
        name=data.get("name") if isinstance(data.get("name"), str) else None,
        segment_id=_opt_int(data, "segment_id"),
        set_segment="segment_id" in data,
        web_enabled=data.get("web_enabled") if isinstance(data.get("web_enabled"), bool) else None,
        user_id=current().id,
    )
    return jsonify(_survey_json(survey))


@bp.post("/surveys/<int:survey_id>/responses")
@login_required
def start_response(survey_id: int) -> Any:
    data = _body()
    survey = get_survey(db.session, survey_id)
    customer_id = _opt_int(data, "customer_id")
    if customer_id is None:
        raise ValidationFailed(_("Choose the customer first."), field="customer_id")
    if not in_target_group(db.session, survey, customer_id):
        raise ValidationFailed(
            _("This customer is not in the survey's target group."), field="customer_id"
        )
    version_id = _opt_int(data, "survey_version_id") or current_version(db.session, survey.id).id
    response = do_start_response(
        db.session,
        survey_version_id=version_id,
        channel="console",
        customer_id=customer_id,
        interaction_id=_opt_int(data, "interaction_id"),
        agent_id=current().id,
    )
    return jsonify(state_json(response_state(db.session, response))), 201


@bp.get("/survey-responses/<int:response_id>")
@login_required
def show_response(response_id: int) -> Any:
    response = get_response(db.session, response_id)
    return jsonify(state_json(response_state(db.session, response)))


@bp.post("/survey-responses/<int:response_id>/answers")
@login_required
def submit_answers(response_id: int) -> Any:
    data = _body()
    answers = data.get("answers")
    if not isinstance(answers, dict):
        raise ValidationFailed(_('Send {"answers": {"question": value}}.'), field="answers")
    response = get_response(db.session, response_id)
    try:
        state = do_submit_answers(db.session, response, answers)
    except AnswersInvalid as exc:
        return _invalid(exc)
    return jsonify(state_json(state))


@bp.post("/survey-responses/<int:response_id>/complete")
@login_required
def complete(response_id: int) -> Any:
    response = get_response(db.session, response_id)
    try:
        do_complete_response(db.session, response)
    except AnswersInvalid as exc:
        return _invalid(exc)
    return jsonify(state_json(response_state(db.session, response)))


@bp.get("/customers/<int:customer_id>/survey-responses")
@login_required
def of_customer(customer_id: int) -> Any:
    return jsonify(responses=customer_responses(db.session, customer_id, limit=50))
