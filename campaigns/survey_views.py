"""Survey pages: the list, the editor (supervisors), the page an agent runs a survey on
for a customer, the results with charts, and the CSV/XLSX export.

Charts are server-rendered SVG bars (no JavaScript library). Exports neutralise formula
injection: a cell whose text starts with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage
return) gets a leading ``'``, so a spreadsheet shows it as text instead of running it.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import select

from campaigns.survey_models import CampaignSurvey
from campaigns.survey_web import slug_for
from campaigns.surveys import (
    current_version,
    do_create_survey,
    do_edit_survey,
    export_rows,
    get_survey,
    survey_results,
    target_group_size,
)
from crm_core.errors import DomainError
from crm_core.models import Customer, Segment
from hub.auth import current, require_role
from hub.db import db

bp = Blueprint(
    "surveys",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/campaigns-static",
)

EXAMPLE = {
    "title": "Customer satisfaction",
    "language": "en",
    "intro": "A few questions about our service.",
    "thanks": "Thank you for your answers.",
    "questions": [
        {"key": "satisfied", "type": "yes_no", "text": "Are you satisfied?", "required": True},
        {
            "key": "why",
            "type": "text",
            "text": "What should we do better?",
            "show_if": {"question": "satisfied", "in": ["no"]},
        },
        {
            "key": "score",
            "type": "scale",
            "text": "How likely are you to recommend us?",
            "min": 1,
            "max": 5,
            "required": True,
        },
    ],
}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def safe_cell(value: Any) -> Any:
    """A cell value that no spreadsheet will run as a formula (a plain negative number
    stays a number)."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not NUMBER.match(value):
        return "'" + value
    return value


@bp.get("/campaigns/surveys")
@login_required
def index() -> Any:
    surveys = list(db.session.scalars(select(CampaignSurvey).order_by(CampaignSurvey.name)))
    versions = {s.id: current_version(db.session, s.id) for s in surveys}
    raw = request.args.get("customer_id", "")
    customer = db.session.get(Customer, int(raw)) if raw.isdigit() else None
    return render_template(
        "surveys/list.html",
        surveys=surveys,
        versions=versions,
        slug_for=slug_for,
        customer=customer,
    )


def _segments() -> list[Segment]:
    return list(db.session.scalars(select(Segment).order_by(Segment.name)))


def _editor(
    survey: CampaignSurvey | None, values: dict[str, Any], error: str | None, status: int
) -> Any:
    return (
        render_template(
            "surveys/edit.html", survey=survey, values=values, error=error, segments=_segments()
        ),
        status,
    )


BLANK_QUESTIONS = 3
ROW_FIELDS = (
    "key",
    "type",
    "text",
    "required",
    "integer",
    "options",
    "min",
    "max",
    "show_on",
    "show_in",
)


def _num(value: Any) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def question_rows(definition: dict[str, Any]) -> list[dict[str, str]]:
    """A definition as the editor's rows of form fields (one per question)."""
    rows = []
    for q in definition["questions"]:
        cond = q.get("show_if") or {}
        if "in" in cond:
            shown = ", ".join(cond["in"])
        elif cond:
            shown = f"{_num(cond.get('min'))}..{_num(cond.get('max'))}"
        else:
            shown = ""
        rows.append(
            {
                "key": q["key"],
                "type": q["type"],
                "text": q["text"],
                "required": "1" if q.get("required") else "",
                "integer": "1" if q.get("integer") else "",
                "options": "\n".join(f"{o['value']} | {o['label']}" for o in q.get("options", [])),
                "min": _num(q.get("min")),
                "max": _num(q.get("max")),
                "show_on": cond.get("question", ""),
                "show_in": shown,
            }
        )
    return rows


def definition_from_form(form: Any) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The editor's rows (``q-<n>-<field>``) as a definition, and the rows as typed."""
    rows: list[dict[str, str]] = []
    n = 0
    while f"q-{n}-key" in form:
        rows.append({k: str(form.get(f"q-{n}-{k}", "")) for k in ROW_FIELDS})
        n += 1
    questions: list[dict[str, Any]] = []
    for row in rows:
        if not row["key"].strip():
            continue
        q: dict[str, Any] = {
            "key": row["key"].strip(),
            "type": row["type"],
            "text": row["text"],
            "required": row["required"] == "1",
        }
        if row["type"] in ("single_choice", "multiple_choice"):
            q["options"] = []
            for line in row["options"].splitlines():
                if line.strip():
                    value, _sep, label = line.partition("|")
                    q["options"].append({"value": value.strip(), "label": label.strip()})
        if row["type"] in ("scale", "number"):
            for bound in ("min", "max"):
                if row[bound].strip():
                    q[bound] = row[bound].strip()
            q["integer"] = row["integer"] == "1"
        if row["show_on"].strip():
            cond: dict[str, Any] = {"question": row["show_on"].strip()}
            shown = row["show_in"].strip()
            if ".." in shown:
                lo, _sep, hi = shown.partition("..")
                if lo.strip():
                    cond["min"] = lo.strip()
                if hi.strip():
                    cond["max"] = hi.strip()
            else:
                cond["in"] = [v.strip() for v in shown.split(",") if v.strip()]
            q["show_if"] = cond
        questions.append(q)
    definition = {
        "title": form.get("title", ""),
        "language": form.get("language", "en"),
        "intro": form.get("intro", ""),
        "thanks": form.get("thanks", ""),
        "questions": questions,
    }
    return definition, rows


@bp.route("/campaigns/surveys/new", methods=["GET", "POST"])
@bp.route("/campaigns/surveys/<int:survey_id>/edit", methods=["GET", "POST"])
@require_role("supervisor")
def edit(survey_id: int | None = None) -> Any:
    survey = get_survey(db.session, survey_id) if survey_id is not None else None
    blank = {**dict.fromkeys(ROW_FIELDS, ""), "type": "single_choice"}
    if request.method == "GET":
        definition = current_version(db.session, survey.id).definition if survey else EXAMPLE
        values: dict[str, Any] = {
            "name": survey.name if survey else "",
            "segment_id": survey.segment_id if survey else None,
            "web_enabled": survey.web_enabled if survey else False,
            "title": definition.get("title", ""),
            "language": definition.get("language", "en"),
            "intro": definition.get("intro", ""),
            "thanks": definition.get("thanks", ""),
            "rows": question_rows(definition) + [blank] * BLANK_QUESTIONS,
        }
        return _editor(survey, values, None, 200)
    form = request.form
    segment_raw = form.get("segment_id", "")
    definition, rows = definition_from_form(form)
    values = {
        "name": form.get("name", ""),
        "segment_id": int(segment_raw) if segment_raw.isdigit() else None,
        "web_enabled": form.get("web_enabled") == "1",
        "title": definition["title"],
        "language": definition["language"],
        "intro": definition["intro"],
        "thanks": definition["thanks"],
        "rows": rows + [blank] * BLANK_QUESTIONS,
    }
    try:
        if survey is None:
            survey = do_create_survey(
                db.session,
                name=values["name"],
                definition=definition,
                segment_id=values["segment_id"],
                web_enabled=values["web_enabled"],
                user_id=current().id,
            )
        else:
            do_edit_survey(
                db.session,
                survey,
                definition=definition,
                name=values["name"],
                segment_id=values["segment_id"],
                set_segment=True,
                web_enabled=values["web_enabled"],
                user_id=current().id,
            )
    except DomainError as exc:
        return _editor(survey, values, exc.localized(_), exc.status_code)
    return redirect(url_for("surveys.results", survey_id=survey.id))


@bp.get("/campaigns/surveys/<int:survey_id>/run")
@login_required
def run(survey_id: int) -> Any:
    survey = get_survey(db.session, survey_id)
    customer_id = request.args.get("customer_id", "")
    customer = db.session.get(Customer, int(customer_id)) if customer_id.isdigit() else None
    interaction_id = request.args.get("interaction_id", "")
    strings = {
        "start": _("Start the survey"),
        "complete": _("Complete"),
        "completed": _("Completed: the answers are saved."),
        "partial": _("Completed (some questions could not be asked)."),
        "yes": _("Yes"),
        "no": _("No"),
        "choose": _("Choose…"),
        "required": _("required"),
        "failed": _("Could not save; try again."),
    }
    return render_template(
        "surveys/run.html",
        survey=survey,
        customer=customer,
        interaction_id=int(interaction_id) if interaction_id.isdigit() else None,
        strings=strings,
    )


@bp.get("/campaigns/surveys/<int:survey_id>/results")
@login_required
def results(survey_id: int) -> Any:
    survey = get_survey(db.session, survey_id)
    data = survey_results(db.session, survey.id)
    return render_template(
        "surveys/results.html",
        survey=survey,
        data=data,
        target=target_group_size(db.session, survey),
        web_slug=slug_for(survey.id) if survey.web_enabled else None,
    )


@bp.get("/campaigns/surveys/<int:survey_id>/results.csv")
@login_required
def export_csv(survey_id: int) -> Any:
    header, rows = export_rows(db.session, survey_id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return Response(
        "\ufeff" + out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="survey-{survey_id}.csv"'},
    )


@bp.get("/campaigns/surveys/<int:survey_id>/results.xlsx")
@login_required
def export_xlsx(survey_id: int) -> Any:
    from openpyxl import Workbook

    header, rows = export_rows(db.session, survey_id)
    book = Workbook(write_only=True)
    sheet = book.create_sheet("responses")
    sheet.append(header)
    for row in rows:
        sheet.append([safe_cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return Response(
        out.getvalue(),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="survey-{survey_id}.xlsx"'},
    )
