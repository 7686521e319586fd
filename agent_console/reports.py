"""The supervisors' report pages (``/reports``): a chart and a table per report kind,
drill-down from a bar to its rows, exports (CSV, XLSX, PDF), the wizard and saved reports.

The numbers come from ``hub.reports``; this module parses the request, checks the role
(supervisors and admins; agents get 403) and answers JSON or a file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Response, abort, jsonify, render_template, request, send_file, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from agent_console import bp
from agent_console.views import _page_config
from crm_core.models import Team, User
from hub.auth import current, require_role
from hub.db import db
from hub.models import Queue
from hub.reports import Filters, ReportError, Table, get_kind, kinds, parse_filters
from hub.reports.builder import ENTITIES
from hub.reports.contact_centre import CHANNEL_LABELS, DRILL_LIMIT
from hub.reports.export import FORMATS, export
from hub.reports.saved import (
    do_delete_report,
    do_save_report,
    get_visible,
    to_args,
    visible_reports,
)
from hub.settings import ROOT

CHART_JS = ROOT / "node_modules" / "chart.js" / "dist" / "chart.umd.min.js"
DEFAULT_UNITS = {"customers": "month"}


def _problem(status: int, message: str) -> Response:
    response = jsonify({"error": "bad_request" if status == 400 else "error", "detail": message})
    response.status_code = status
    return response


def _filters(kind: str, args: Any) -> Filters:
    user = current()
    return parse_filters(
        args,
        timezone=user.timezone or "UTC",
        locale=user.language or "en",
        default_unit=DEFAULT_UNITS.get(kind, "day"),
    )


def _args() -> dict[str, Any]:
    args: dict[str, Any] = request.args.to_dict()
    if "columns" in request.args:
        args["columns"] = ",".join(request.args.getlist("columns"))
    return args


def _options() -> dict[str, Any]:
    session = db.session
    return {
        "kinds": [
            {
                "name": k.name,
                "title": k.title,
                # Lists of [key, label], not objects: JSON objects come out key-sorted.
                "metrics": [[m, str(label)] for m, label in k.metrics.items()],
                "groups": [[g, str(label)] for g, label in k.groups.items()],
                "unit": DEFAULT_UNITS.get(k.name, "day"),
                "filters": list(getattr(k, "filters", ("queue", "team", "agent", "channel"))),
            }
            for k in kinds()
        ],
        "entities": {
            name: {
                "label": str(e.label),
                "series": [[k, str(f.label)] for k, f in e.series.items()],
                "columns": [[k, str(f.label)] for k, f in e.columns.items()],
                "default_columns": list(e.default_columns),
            }
            for name, e in ENTITIES.items()
        },
        "queues": [
            {"id": i, "name": n}
            for i, n in session.execute(select(Queue.id, Queue.name).order_by(Queue.name))
        ],
        "teams": [
            {"id": i, "name": n}
            for i, n in session.execute(select(Team.id, Team.name).order_by(Team.name))
        ],
        "agents": [
            {"id": i, "name": n}
            for i, n in session.execute(
                select(User.id, User.name).where(User.active.is_(True)).order_by(User.name)
            )
        ],
        "channels": [[k, str(v)] for k, v in CHANNEL_LABELS.items()],
        "drill_limit": DRILL_LIMIT,
    }


@bp.get("/reports")
@require_role("supervisor")
def reports_page() -> Any:
    config = {**_page_config(), "api": url_for("console.reports_page") + "/api"}
    config["reports"] = _options()
    config["export_url"] = url_for("console.reports_page") + "/export"
    return render_template("console/reports.html", config=config)


@bp.get("/reports/vendor/chart.umd.js")
@require_role("supervisor")
def chart_js() -> Any:
    """Chart.js from npm (``npm ci``), never a hand-copied file."""
    path = Path(CHART_JS)
    if not path.is_file():
        abort(503, description=_("The console's browser libraries are missing: run `npm ci`."))
    return send_file(path, mimetype="text/javascript", max_age=3600)


@bp.get("/reports/api/options")
@require_role("supervisor")
def report_options() -> Any:
    return jsonify(_options())


@bp.get("/reports/api/run/<kind>")
@require_role("supervisor")
def report_run(kind: str) -> Any:
    try:
        report = get_kind(kind)
        result = report.run(db.session, _filters(kind, _args()))
    except ReportError as exc:
        return _problem(400, str(exc))
    return jsonify(result.as_json())


def _drill(kind: str, args: dict[str, Any]) -> tuple[Any, Filters, Table]:
    report = get_kind(kind)
    filters = _filters(kind, args)
    bucket = str(args.get("bucket") or "")
    if not bucket:
        raise ReportError("which bar? (bucket)")
    series = args.get("series")
    return report, filters, report.drill(db.session, filters, bucket, series)


@bp.get("/reports/api/drill/<kind>")
@require_role("supervisor")
def report_drill(kind: str) -> Any:
    try:
        table = _drill(kind, _args())[2]
    except ReportError as exc:
        return _problem(400, str(exc))
    return jsonify(table.as_json())


_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


@bp.get("/reports/export/<kind>.<fmt>")
@require_role("supervisor")
def report_export(kind: str, fmt: str) -> Any:
    """The report's table, or with ``bucket`` the rows behind one bar, as a file."""
    if fmt not in FORMATS:
        return _problem(400, "format must be csv, xlsx or pdf")
    args = _args()
    try:
        if args.get("bucket"):
            report, filters, table = _drill(kind, args)
            rows_label = _("rows")
            title = f"{report.title}: {rows_label}"
        else:
            report = get_kind(kind)
            filters = _filters(kind, args)
            result = report.run(db.session, filters)
            table, title = result.table, result.title
    except ReportError as exc:
        return _problem(400, str(exc))
    period = filters.period
    subtitle = _(
        "%(first)s to %(last)s, %(zone)s",
        first=period.first.isoformat(),
        last=period.last.isoformat(),
        zone=str(period.tz),
    )
    body = export(table, fmt, period.tz, title, subtitle)
    name = _SAFE_NAME.sub("-", f"{kind}-{period.first}-{period.last}.{fmt}")
    response = Response(body, mimetype=FORMATS[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _saved_json(report: Any, user: User) -> dict[str, Any]:
    return {
        "id": report.id,
        "name": report.name,
        "kind": report.kind,
        "definition": report.definition,
        "args": to_args(report.definition, timezone=user.timezone or "UTC"),
        "shared": report.shared,
        "team_id": report.team_id,
        "mine": report.owner_id == user.id,
    }


@bp.get("/reports/api/saved")
@require_role("supervisor")
def saved_list() -> Any:
    user = current()
    return jsonify([_saved_json(r, user) for r in visible_reports(db.session, user)])


@bp.post("/reports/api/saved")
@require_role("supervisor")
def saved_create() -> Any:
    user = current()
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("definition"), dict):
        return _problem(400, "send JSON with name, kind and definition")
    team = data.get("team_id")
    try:
        report = do_save_report(
            db.session,
            user,
            name=str(data.get("name") or ""),
            kind=str(data.get("kind") or ""),
            definition=data["definition"],
            shared=bool(data.get("shared")),
            team_id=int(team) if team not in (None, "") else None,
        )
    except (ReportError, ValueError) as exc:
        return _problem(400, str(exc))
    response = jsonify(_saved_json(report, user))
    response.status_code = 201
    return response


@bp.get("/reports/api/saved/<int:report_id>")
@require_role("supervisor")
def saved_show(report_id: int) -> Any:
    user = current()
    return jsonify(_saved_json(get_visible(db.session, user, report_id), user))


@bp.delete("/reports/api/saved/<int:report_id>")
@require_role("supervisor")
def saved_delete(report_id: int) -> Any:
    do_delete_report(db.session, current(), report_id)
    return Response(status=204)
