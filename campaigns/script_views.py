"""Script pages and API: the designer for supervisors (a form per script: name and the
steps as JSON, checked on save, each save a new version, with a walk-through preview) and
the endpoint a console or workstation walks a script version with.

``POST /campaigns/api/script-versions/<version_id>/step``
``{"customer_id": 1, "step": "interest", "answer": "yes", "answers": {...}}`` answers the
step (or, without ``step``, gives the start step) and returns the next step with its text
rendered for the customer (sandboxed, escaped HTML).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import select

from campaigns.scripts import (
    current_version,
    customer_context,
    do_create_script,
    do_edit_script,
    get_script,
    get_version,
    next_step_id,
    resolve,
    step_view,
)
from campaigns.survey_api import json_errors
from campaigns.survey_models import CampaignScript, CampaignScriptVersion
from crm_core.errors import DomainError, ValidationFailed
from hub.auth import current, require_role
from hub.db import db

bp = Blueprint("scripts", __name__, template_folder="templates")
api = Blueprint("script_api", __name__)
json_errors(api)

EXAMPLE = {
    "start": "hello",
    "steps": [
        {
            "id": "hello",
            "kind": "text",
            "text": "Good morning, {{ customer.first_name }}!",
            "next": "interest",
        },
        {
            "id": "interest",
            "kind": "question",
            "text": "Would you like to hear our offer?",
            "answers": [
                {"value": "yes", "label": "Yes", "next": "close"},
                {"value": "no", "label": "No", "next": "bye"},
            ],
        },
        {"id": "close", "kind": "end", "text": "Thank you!", "disposition": "sale"},
        {"id": "bye", "kind": "end", "text": "Goodbye.", "disposition": "not_interested"},
    ],
}


@bp.get("/campaigns/scripts")
@require_role("supervisor")
def index() -> Any:
    scripts = list(db.session.scalars(select(CampaignScript).order_by(CampaignScript.name)))
    versions = {s.id: current_version(db.session, s.id) for s in scripts}
    return render_template("surveys/scripts.html", scripts=scripts, versions=versions)


def _editor(
    script: CampaignScript | None, values: dict[str, Any], error: str | None, status: int
) -> Any:
    history: list[CampaignScriptVersion] = []
    preview = None
    if script is not None:
        history = list(
            db.session.scalars(
                select(CampaignScriptVersion)
                .where(CampaignScriptVersion.script_id == script.id)
                .order_by(CampaignScriptVersion.version.desc())
            )
        )
        definition = history[0].definition
        sample = {
            "first_name": "Anna",
            "last_name": "Kowalska",
            "name": "Anna Kowalska",
            "fields": {},
        }
        preview = [step_view(definition, s["id"], sample, {}) for s in definition["steps"]]
    return (
        render_template(
            "surveys/script_edit.html",
            script=script,
            values=values,
            error=error,
            history=history,
            preview=preview,
        ),
        status,
    )


BLANK_ROWS = 3


def rows_of(definition: dict[str, Any]) -> list[dict[str, str]]:
    """A definition as the designer's rows of form fields (one per step)."""
    rows = []
    for step in definition["steps"]:
        kind = step["kind"]
        follows = {"text": "next", "jump": "to", "branch": "default"}.get(kind)
        rows.append(
            {
                "id": step["id"],
                "kind": kind,
                "text": step.get("text", ""),
                "next": step.get(follows, "") if follows else "",
                "on": step.get("on", ""),
                "answers": "\n".join(
                    f"{a['value']} | {a['label']} | {a['next']}" for a in step.get("answers", [])
                ),
                "cases": "\n".join(f"{c['value']} | {c['next']}" for c in step.get("cases", [])),
                "disposition": step.get("disposition", ""),
            }
        )
    return rows


def _lines(text: str, parts: int) -> list[list[str]]:
    out = []
    for line in text.splitlines():
        if line.strip():
            cells = [c.strip() for c in line.split("|")]
            out.append((cells + [""] * parts)[:parts])
    return out


def definition_of_form(form: Any) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The designer's rows (``step-<n>-<field>``) as a definition, and the rows as typed."""
    rows: list[dict[str, str]] = []
    n = 0
    while f"step-{n}-id" in form:
        rows.append(
            {
                k: str(form.get(f"step-{n}-{k}", ""))
                for k in ("id", "kind", "text", "next", "on", "answers", "cases", "disposition")
            }
        )
        n += 1
    steps: list[dict[str, Any]] = []
    for row in rows:
        if not row["id"].strip():
            continue
        kind = row["kind"]
        step: dict[str, Any] = {"id": row["id"].strip(), "kind": kind}
        if row["text"].strip():
            step["text"] = row["text"]
        if kind == "text":
            step["next"] = row["next"]
        elif kind == "jump":
            step["to"] = row["next"]
        elif kind == "branch":
            step["on"], step["default"] = row["on"], row["next"]
            step["cases"] = [{"value": v, "next": t} for v, t in _lines(row["cases"], 2)]
        elif kind == "question":
            step["answers"] = [
                {"value": v, "label": label or v, "next": t}
                for v, label, t in _lines(row["answers"], 3)
            ]
        elif kind == "end":
            step["disposition"] = row["disposition"]
        steps.append(step)
    start = str(form.get("start", "")).strip() or (steps[0]["id"] if steps else "")
    return {"start": start, "steps": steps}, rows


@bp.route("/campaigns/scripts/new", methods=["GET", "POST"])
@bp.route("/campaigns/scripts/<int:script_id>/edit", methods=["GET", "POST"])
@require_role("supervisor")
def edit(script_id: int | None = None) -> Any:
    script = get_script(db.session, script_id) if script_id is not None else None
    blank = dict.fromkeys(("id", "text", "next", "on", "answers", "cases", "disposition"), "")
    if request.method == "GET":
        definition = current_version(db.session, script.id).definition if script else EXAMPLE
        values: dict[str, Any] = {
            "name": script.name if script else "",
            "start": definition["start"],
            "rows": rows_of(definition) + [{**blank, "kind": "text"}] * BLANK_ROWS,
        }
        return _editor(script, values, None, 200)
    definition, rows = definition_of_form(request.form)
    values = {
        "name": request.form.get("name", ""),
        "start": request.form.get("start", ""),
        "rows": rows + [{**blank, "kind": "text"}] * BLANK_ROWS,
    }
    try:
        if script is None:
            script = do_create_script(
                db.session, name=values["name"], definition=definition, user_id=current().id
            )
        else:
            do_edit_script(db.session, script, definition=definition, user_id=current().id)
    except DomainError as exc:
        return _editor(script, values, exc.localized(_), exc.status_code)
    return redirect(url_for("scripts.edit", script_id=script.id))


@api.post("/campaigns/api/script-versions/<int:version_id>/step")
@login_required
def walk(version_id: int) -> Any:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationFailed(_("Send a JSON object."), field="body")
    version = get_version(db.session, version_id)
    definition = version.definition
    raw_answers = data.get("answers") or {}
    if not isinstance(raw_answers, dict):
        raise ValidationFailed(_("Send a JSON object."), field="answers")
    answers = {str(k): str(v) for k, v in raw_answers.items()}
    customer_id = data.get("customer_id")
    customer = customer_context(db.session, customer_id if isinstance(customer_id, int) else None)
    step = data.get("step")
    if step is None:
        following: str | None = resolve(definition, definition["start"], answers)
    else:
        answer = data.get("answer")
        if answer is not None:
            answers[str(step)] = str(answer)
        following = next_step_id(
            definition, str(step), None if answer is None else str(answer), answers
        )
    return jsonify(
        version_id=version.id,
        answers=answers,
        step=None if following is None else step_view(definition, following, customer, answers),
    )
