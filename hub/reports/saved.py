"""Saved reports: save, list (own, shared, shared with my team), delete.

A definition holds the report's arguments as the report page sends them (``unit``,
``queue``, ``team``, ``agent``, ``channel``, ``metric``, ``group``, ``chart``, ``entity``,
``columns``) and either fixed dates (``from``, ``to``) or a rolling window (``days``: the
last N days up to the day it is opened).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crm_core.errors import NotFound, PermissionDenied
from crm_core.models import User
from crm_core.models.users import team_members
from crm_core.services.audit import record
from hub.reports import ReportError, get_kind, parse_filters
from hub.reports.models import SavedReport

DEFINITION_KEYS = (
    "from",
    "to",
    "days",
    "unit",
    "queue",
    "team",
    "agent",
    "channel",
    "metric",
    "group",
    "chart",
    "entity",
    "columns",
)


def clean_definition(kind: str, args: Mapping[str, Any], *, timezone: str) -> dict[str, Any]:
    """The savable arguments of ``args``, checked by building the report's filters."""
    get_kind(kind)
    definition = {k: str(args[k]) for k in DEFINITION_KEYS if args.get(k) not in (None, "")}
    if "days" in definition:
        try:
            days = int(definition["days"])
        except ValueError:
            raise ReportError("days must be a whole number") from None
        if not 1 <= days <= 731:
            raise ReportError("days must be between 1 and 731")
        definition.pop("from", None)
        definition.pop("to", None)
    parse_filters(to_args(definition, timezone=timezone), timezone=timezone)
    return definition


def to_args(
    definition: Mapping[str, Any], *, timezone: str, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Report arguments for a definition; a rolling window becomes today's dates."""
    args = dict(definition)
    days = args.pop("days", None)
    if days:
        from hub.reports.periods import zone

        today = (now or dt.datetime.now(dt.UTC)).astimezone(zone(timezone)).date()
        args["to"] = today.isoformat()
        args["from"] = (today - dt.timedelta(days=int(days) - 1)).isoformat()
    return args


def do_save_report(
    session: Session,
    owner: User,
    *,
    name: str,
    kind: str,
    definition: Mapping[str, Any],
    shared: bool = False,
    team_id: int | None = None,
) -> SavedReport:
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise ReportError("a report needs a name of 1 to 120 characters")
    clean = clean_definition(kind, definition, timezone=owner.timezone or "UTC")
    if team_id is not None and not owner.is_admin:
        member = session.scalar(
            select(team_members.c.team_id).where(
                team_members.c.team_id == team_id, team_members.c.user_id == owner.id
            )
        )
        if member is None:
            raise ReportError("you can share a report only with a team you belong to")
    report = SavedReport(
        owner_id=owner.id,
        name=name,
        kind=kind,
        definition=clean,
        shared=bool(shared),
        team_id=team_id,
    )
    session.add(report)
    session.flush()
    record(
        session,
        user_id=owner.id,
        action="report.saved",
        entity_type="saved_report",
        entity_id=report.id,
        after={"name": name, "kind": kind, "shared": report.shared, "team_id": team_id},
    )
    return report


def visible_reports(session: Session, user: User) -> list[SavedReport]:
    """Mine, the shared ones, and those shared with a team I am in; by name."""
    my_teams = select(team_members.c.team_id).where(team_members.c.user_id == user.id)
    stmt = (
        select(SavedReport)
        .where(
            or_(
                SavedReport.owner_id == user.id,
                SavedReport.shared.is_(True),
                SavedReport.team_id.in_(my_teams),
            )
        )
        .order_by(SavedReport.name, SavedReport.id)
    )
    return list(session.scalars(stmt))


def get_visible(session: Session, user: User, report_id: int) -> SavedReport:
    for report in visible_reports(session, user):
        if report.id == report_id:
            return report
    raise NotFound("saved report not found")


def do_delete_report(session: Session, user: User, report_id: int) -> None:
    report = get_visible(session, user, report_id)
    if report.owner_id != user.id and not user.is_admin:
        raise PermissionDenied("only the owner may delete a saved report")
    record(
        session,
        user_id=user.id,
        action="report.deleted",
        entity_type="saved_report",
        entity_id=report.id,
        before={"name": report.name},
    )
    session.delete(report)
