"""Supervisor screens of the campaigns core: the campaign list, a campaign's page (status,
leads, lists, dispositions, lists from segments), the edit form, the list import (upload,
then mapping, preview, live progress and the rejected rows, driven by
``static/campaign_import.js`` through the REST API) and the do-not-call list.

Server-rendered; writes go through the actions; the request commits.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from campaigns import dnc, imports, service
from campaigns.models import Campaign, CampaignList, DncEntry, Lead, ListImport
from crm_core.errors import DomainError, ValidationFailed
from crm_core.models import Segment, Team, User
from crm_core.services.blobs import BlobStore
from hub.auth import current, require_role
from hub.db import db

bp = Blueprint(
    "campaigns",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/campaigns-core-static",
)

STATUS_LABELS = {
    "draft": _l("Draft"),
    "active": _l("Active"),
    "paused": _l("Paused"),
    "finished": _l("Finished"),
}
MODE_LABELS = {
    "preview": _l("Preview"),
    "progressive": _l("Progressive"),
    "predictive": _l("Predictive"),
}
LEAD_STATE_LABELS = {
    "pending": _l("Waiting"),
    "reserved": _l("Reserved"),
    "in_call": _l("In a call"),
    "callback": _l("Callback"),
    "done": _l("Done"),
    "refused": _l("Refused"),
    "exhausted": _l("Attempts used up"),
}
IMPORT_STATUS_LABELS = {
    "uploaded": _l("waiting for the mapping"),
    "running": _l("importing"),
    "done": _l("done"),
    "failed": _l("failed"),
}
BLOCKER_LABELS = {
    "caller_id": _l("a caller ID"),
    "calling_window": _l("a calling window"),
    "agents": _l("at least one agent"),
}
DAY_LABELS = {
    1: _l("Mon"),
    2: _l("Tue"),
    3: _l("Wed"),
    4: _l("Thu"),
    5: _l("Fri"),
    6: _l("Sat"),
    7: _l("Sun"),
}
FIELD_LABELS = {
    "phone": _l("Phone"),
    "first_name": _l("First name"),
    "last_name": _l("Last name"),
    "organisation_name": _l("Organisation"),
    "email": _l("E-mail"),
    "city": _l("City"),
    "country": _l("Country (two letters)"),
    "timezone": _l("Time zone"),
    "notes": _l("Notes"),
}
REJECTION_LABELS = {
    "phone_missing": _l("no phone number"),
    "phone_invalid": _l("not a valid phone number"),
    "email_invalid": _l("not a valid e-mail address"),
    "duplicate_in_file": _l("the same number appears earlier in the file"),
    "already_in_campaign": _l("the number is already in this campaign"),
    "country_invalid": _l("the country must be a two-letter code"),
    "timezone_invalid": _l("unknown time zone"),
}


def _message(exc: DomainError) -> str:
    return exc.localized(_)


@bp.app_context_processor
def _labels() -> dict[str, Any]:
    return {
        "campaign_status_labels": STATUS_LABELS,
        "campaign_mode_labels": MODE_LABELS,
        "lead_state_labels": LEAD_STATE_LABELS,
        "import_status_labels": IMPORT_STATUS_LABELS,
    }


# ------------------------------------------------------------------------ campaigns


@bp.get("/campaigns")
@require_role("supervisor")
def index() -> Any:
    rows = list(db.session.scalars(select(Campaign).order_by(Campaign.id.desc())))
    counts = {c.id: service.lead_counts(db.session, c.id) for c in rows}
    return render_template("campaigns/list.html", campaigns=rows, counts=counts)


def _form_values(campaign: Campaign | None) -> dict[str, Any]:
    if campaign is None:
        return {
            "name": "",
            "goal": "",
            "caller_id": "",
            "dialer_mode": "preview",
            "window_start": "08:00",
            "window_end": "21:00",
            "calling_days": [1, 2, 3, 4, 5, 6, 7],
            "max_attempts": 5,
            "min_retry_minutes": 60,
            "abandoned_no_redial_hours": 72,
            "abandon_cap_pct": "3.00",
            "currency": "PLN",
            "user_ids": [],
            "team_ids": [],
        }
    return {
        "name": campaign.name,
        "goal": campaign.goal or "",
        "start_date": campaign.start_date.isoformat() if campaign.start_date else "",
        "end_date": campaign.end_date.isoformat() if campaign.end_date else "",
        "caller_id": campaign.caller_id or "",
        "dialer_mode": campaign.dialer_mode,
        "window_start": campaign.window_start.strftime("%H:%M") if campaign.window_start else "",
        "window_end": campaign.window_end.strftime("%H:%M") if campaign.window_end else "",
        "calling_days": list(campaign.calling_days or []),
        "max_attempts": campaign.max_attempts,
        "min_retry_minutes": campaign.min_retry_minutes,
        "abandoned_no_redial_hours": campaign.abandoned_no_redial_hours,
        "abandon_cap_pct": str(campaign.abandon_cap_pct),
        "budget": "" if campaign.budget is None else str(campaign.budget),
        "currency": campaign.currency,
        "cost_per_attempt": ""
        if campaign.cost_per_attempt is None
        else str(campaign.cost_per_attempt),
        "cost_per_minute": ""
        if campaign.cost_per_minute is None
        else str(campaign.cost_per_minute),
        "user_ids": [a.user_id for a in campaign.agents if a.user_id],
        "team_ids": [a.team_id for a in campaign.agents if a.team_id],
    }


def _int(form: Any, name: str, low: int, high: int) -> int:
    raw = (form.get(name) or "").strip()
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ValidationFailed(
            _("Enter a whole number from %(low)s to %(high)s.", low=low, high=high), field=name
        )
    return int(raw)


def _decimal(form: Any, name: str, high: int, places: str) -> decimal.Decimal | None:
    raw = (form.get(name) or "").strip().replace(",", ".")
    if not raw:
        return None
    try:
        value = decimal.Decimal(raw)
    except decimal.InvalidOperation:
        raise ValidationFailed(_("Enter a number."), field=name) from None
    if not value.is_finite() or not 0 <= value <= high:
        raise ValidationFailed(_("Enter a number from 0 to %(high)s.", high=high), field=name)
    return value.quantize(decimal.Decimal(places))


def _time(form: Any, name: str) -> dt.time | None:
    raw = (form.get(name) or "").strip()
    if not raw:
        return None
    try:
        return dt.time.fromisoformat(raw[:5])
    except ValueError:
        raise ValidationFailed(_("Enter a time as HH:MM."), field=name) from None


def _date(form: Any, name: str) -> dt.date | None:
    raw = (form.get(name) or "").strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(_("Enter a date as YYYY-MM-DD."), field=name) from None


def _parse_form(form: Any) -> dict[str, Any]:
    mode = form.get("dialer_mode", "preview")
    if mode not in MODE_LABELS:
        raise ValidationFailed(_("Choose a dialer mode."), field="dialer_mode")
    currency = (form.get("currency") or "PLN").strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise ValidationFailed(_("The currency is a three-letter code."), field="currency")
    cap = _decimal(form, "abandon_cap_pct", 100, "0.01")
    return {
        "name": (form.get("name") or "").strip()[:200],
        "goal": (form.get("goal") or "").strip()[:5000] or None,
        "start_date": _date(form, "start_date"),
        "end_date": _date(form, "end_date"),
        "caller_id": (form.get("caller_id") or "").strip() or None,
        "dialer_mode": mode,
        "window_start": _time(form, "window_start"),
        "window_end": _time(form, "window_end"),
        "calling_days": sorted(
            {int(d) for d in form.getlist("calling_days") if d in "1234567" and d}
        ),
        "max_attempts": _int(form, "max_attempts", 1, 100),
        "min_retry_minutes": _int(form, "min_retry_minutes", 0, 525_600),
        "abandoned_no_redial_hours": _int(form, "abandoned_no_redial_hours", 0, 8760),
        "abandon_cap_pct": cap if cap is not None else decimal.Decimal("3.00"),
        "budget": _decimal(form, "budget", 9_999_999_999, "0.01"),
        "currency": currency,
        "cost_per_attempt": _decimal(form, "cost_per_attempt", 999_999, "0.0001"),
        "cost_per_minute": _decimal(form, "cost_per_minute", 999_999, "0.0001"),
    }


def _ids(form: Any, name: str) -> list[int]:
    return [int(v) for v in form.getlist(name) if v.isdigit() and int(v) < 2**31]


@bp.route("/campaigns/new", methods=["GET", "POST"])
@bp.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
@require_role("supervisor")
def edit(campaign_id: int | None = None) -> Any:
    campaign = service.get_campaign(db.session, campaign_id) if campaign_id else None
    users = list(db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.name)))
    teams = list(db.session.scalars(select(Team).order_by(Team.name)))
    values = _form_values(campaign)
    if request.method == "POST":
        form = request.form
        values = {
            **values,
            **{
                k: form.get(k, "")
                for k in values
                if k not in ("calling_days", "user_ids", "team_ids")
            },
        }
        values["calling_days"] = [int(d) for d in form.getlist("calling_days") if d.isdigit()]
        values["user_ids"] = _ids(form, "user_ids")
        values["team_ids"] = _ids(form, "team_ids")
        try:
            with db.session.begin_nested():
                fields = _parse_form(form)
                if campaign is None:
                    campaign = service.do_create_campaign(
                        db.session, fields=fields, user_id=current().id
                    )
                else:
                    service.do_update_campaign(
                        db.session, campaign, fields=fields, user_id=current().id
                    )
                service.do_set_agents(
                    db.session,
                    campaign,
                    user_ids=values["user_ids"],
                    team_ids=values["team_ids"],
                    actor_id=current().id,
                )
        except DomainError as exc:
            error = _message(exc)
            return render_template(
                "campaigns/edit.html",
                campaign=campaign if campaign_id else None,
                values=values,
                users=users,
                teams=teams,
                days=DAY_LABELS,
                modes=MODE_LABELS,
                error=error,
                error_field=exc.field,
            ), 422
        flash(_("Campaign saved."), "ok")
        return redirect(url_for("campaigns.detail", campaign_id=campaign.id))
    return render_template(
        "campaigns/edit.html",
        campaign=campaign,
        values=values,
        users=users,
        teams=teams,
        days=DAY_LABELS,
        modes=MODE_LABELS,
        error=None,
        error_field=None,
    )


@bp.get("/campaigns/<int:campaign_id>")
@require_role("supervisor")
def detail(campaign_id: int) -> Any:
    campaign = service.get_campaign(db.session, campaign_id)
    lists = list(
        db.session.scalars(
            select(CampaignList)
            .where(CampaignList.campaign_id == campaign.id)
            .order_by(CampaignList.id)
        )
    )
    list_sizes = dict(
        db.session.execute(
            select(CampaignList.id, func.count())
            .join(Lead, Lead.list_id == CampaignList.id)
            .where(CampaignList.campaign_id == campaign.id)
            .group_by(CampaignList.id)
        ).all()
    )
    recent_imports = list(
        db.session.scalars(
            select(ListImport)
            .where(ListImport.campaign_id == campaign.id)
            .order_by(ListImport.id.desc())
            .limit(10)
        )
    )
    segments = list(db.session.scalars(select(Segment).order_by(Segment.name)))
    users = {u.id: u for u in db.session.scalars(select(User))}
    teams = {t.id: t for t in db.session.scalars(select(Team))}
    return render_template(
        "campaigns/detail.html",
        campaign=campaign,
        counts=service.lead_counts(db.session, campaign.id),
        blockers=[BLOCKER_LABELS[b] for b in service.start_blockers(db.session, campaign)],
        lists=lists,
        list_sizes=list_sizes,
        imports=recent_imports,
        segments=segments,
        users=users,
        teams=teams,
        days=DAY_LABELS,
        transitions=service.STATUS_TRANSITIONS[campaign.status],
        listed=dnc.listed_leads(db.session, campaign.id),
    )


@bp.post("/campaigns/<int:campaign_id>/status")
@require_role("supervisor")
def set_status(campaign_id: int) -> Any:
    campaign = service.get_campaign(db.session, campaign_id)
    status = request.form.get("status", "")
    try:
        with db.session.begin_nested():
            service.do_set_status(db.session, campaign, status, user_id=current().id)
    except ValidationFailed as exc:
        if exc.detail and status == "active":
            missing = [BLOCKER_LABELS.get(d["field"], d["field"]) for d in exc.detail]
            flash(
                _(
                    "The campaign cannot start without: %(missing)s.",
                    missing=", ".join(str(m) for m in missing),
                ),
                "error",
            )
        else:
            flash(_message(exc), "error")
        return redirect(url_for("campaigns.detail", campaign_id=campaign_id))
    except DomainError as exc:
        flash(_message(exc), "error")
        return redirect(url_for("campaigns.detail", campaign_id=campaign_id))
    flash(_("Status: %(status)s.", status=STATUS_LABELS[campaign.status]), "ok")
    return redirect(url_for("campaigns.detail", campaign_id=campaign_id))


@bp.post("/campaigns/<int:campaign_id>/lists/from-segment")
@require_role("supervisor")
def list_from_segment(campaign_id: int) -> Any:
    campaign = service.get_campaign(db.session, campaign_id)
    raw = request.form.get("segment_id", "")
    segment = db.session.get(Segment, int(raw)) if raw.isdigit() and int(raw) < 2**31 else None
    if segment is None:
        flash(_("Choose a segment."), "error")
        return redirect(url_for("campaigns.detail", campaign_id=campaign_id))
    name = (request.form.get("name") or "").strip() or segment.name
    try:
        with db.session.begin_nested():
            _list, tally = service.do_build_list_from_segment(
                db.session,
                campaign,
                name=name,
                flt=segment.filter,
                segment_id=segment.id,
                user_id=current().id,
            )
    except DomainError as exc:
        flash(_message(exc), "error")
        return redirect(url_for("campaigns.detail", campaign_id=campaign_id))
    flash(
        _(
            "List built: %(added)s leads added, %(no_phone)s customers without a phone, "
            "%(dup)s already in the campaign.",
            added=tally["added"],
            no_phone=tally["no_phone"],
            dup=tally["already_in_campaign"],
        ),
        "ok",
    )
    return redirect(url_for("campaigns.detail", campaign_id=campaign_id))


# -------------------------------------------------------------------------- imports


def _store() -> BlobStore:
    return BlobStore(current_app.extensions["switchboard.settings"].effective_blob_dir)


@bp.route("/campaigns/<int:campaign_id>/import", methods=["GET", "POST"])
@require_role("supervisor")
def import_upload(campaign_id: int) -> Any:
    campaign = service.get_campaign(db.session, campaign_id)
    if request.method == "GET":
        return render_template("campaigns/import_upload.html", campaign=campaign, error=None)
    upload = request.files.get("file")
    settings = current_app.extensions["switchboard.settings"]
    error: str | None = None
    if upload is None or not upload.filename:
        error = _("Choose a CSV or XLSX file.")
    else:
        data = upload.stream.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            error = _("The file is larger than the upload limit.")
        else:
            try:
                with db.session.begin_nested():
                    result = imports.do_upload_import(
                        db.session,
                        campaign,
                        filename=upload.filename,
                        data=data,
                        store=_store(),
                        region=settings.default_region,
                        user_id=current().id,
                    )
            except DomainError as exc:
                error = _message(exc)
            else:
                return redirect(url_for("campaigns.import_page", import_id=result.import_row.id))
    return render_template("campaigns/import_upload.html", campaign=campaign, error=error), 422


@bp.get("/campaigns/imports/<int:import_id>")
@require_role("supervisor")
def import_page(import_id: int) -> Any:
    imp = imports.get_import(db.session, import_id)
    campaign = service.get_campaign(db.session, imp.campaign_id)
    headers, sample = imports.headers_and_sample(imp, _store())
    suggested = imp.mapping or imports.guess_mapping(headers)
    strings = {
        "new": _("new customer"),
        "match": _("existing customer"),
        "reject": _("rejected"),
        "running": _("Importing…"),
        "done": _("Import finished."),
        "failed": _("The import failed."),
        "progress": _("%(done)s of %(total)s rows"),
        "tally": _("Imported: %(imported)s, matched: %(matched)s, rejected: %(rejected)s"),
        "error": _("Something went wrong; try again."),
        "no_rejections": _("No rejected rows."),
        "reasons": {k: str(v) for k, v in REJECTION_LABELS.items()},
    }
    return render_template(
        "campaigns/import.html",
        imp=imp,
        campaign=campaign,
        headers=headers,
        sample=sample,
        suggested=suggested,
        fields=imports.FIELDS,
        field_labels=FIELD_LABELS,
        strings=strings,
        list_name=imp.filename.rsplit(".", 1)[0],
    )


# --------------------------------------------------------------------- do-not-call


@bp.route("/campaigns/dnc", methods=["GET", "POST"])
@require_role("supervisor")
def dnc_page() -> Any:
    settings = current_app.extensions["switchboard.settings"]
    campaigns = list(db.session.scalars(select(Campaign).order_by(Campaign.name)))
    if request.method == "POST":
        action = request.form.get("action", "")
        raw_campaign = request.form.get("campaign_id", "")
        campaign_id = (
            int(raw_campaign) if raw_campaign.isdigit() and int(raw_campaign) < 2**31 else None
        )
        reason = (request.form.get("reason") or "").strip()[:200] or None
        try:
            with db.session.begin_nested():
                if campaign_id is not None:
                    service.get_campaign(db.session, campaign_id)
                if action == "remove":
                    raw_id = request.form.get("entry_id", "")
                    if not raw_id.isdigit() or int(raw_id) >= 2**31:
                        raise ValidationFailed(_("No such entry."), field="entry_id")
                    dnc.do_remove_dnc(db.session, int(raw_id), user_id=current().id)
                    flash(_("Number taken off the list."), "ok")
                elif action == "bulk":
                    result = dnc.do_bulk_add_dnc(
                        db.session,
                        request.form.get("numbers", "")[:2_000_000],
                        campaign_id=campaign_id,
                        reason=reason,
                        region=settings.default_region,
                        user_id=current().id,
                    )
                    flash(
                        _(
                            "Added: %(added)s, already listed: %(listed)s, not numbers: %(bad)s.",
                            added=result.added,
                            listed=result.already_listed,
                            bad=len(result.rejected),
                        ),
                        "ok" if not result.rejected else "error",
                    )
                    for item in result.rejected[:20]:
                        flash(
                            _(
                                "Line %(line)s: %(value)s is not a number.",
                                line=item["line"],
                                value=item["value"],
                            ),
                            "error",
                        )
                else:
                    _entry, new = dnc.do_add_dnc(
                        db.session,
                        request.form.get("number", "")[:40],
                        campaign_id=campaign_id,
                        reason=reason,
                        region=settings.default_region,
                        user_id=current().id,
                    )
                    flash(_("Number listed.") if new else _("The number was already listed."), "ok")
        except DomainError as exc:
            flash(_message(exc), "error")
        return redirect(
            url_for(
                "campaigns.dnc_page",
                q=request.args.get("q", ""),
                scope=request.args.get("scope", ""),
            )
        )
    q = (request.args.get("q") or "").strip()[:40]
    scope = request.args.get("scope", "")
    stmt = select(DncEntry)
    if scope == "global":
        stmt = stmt.where(DncEntry.campaign_id.is_(None))
    elif scope.isdigit() and int(scope) < 2**31:
        stmt = stmt.where(DncEntry.campaign_id == int(scope))
    digits = "".join(c for c in q if c.isdigit())
    if digits:
        stmt = stmt.where(DncEntry.number.contains(digits, autoescape=True))
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    entries = list(db.session.scalars(stmt.order_by(DncEntry.id.desc()).limit(200)))
    names = {c.id: c.name for c in campaigns}
    return render_template(
        "campaigns/dnc.html",
        entries=entries,
        total=total,
        campaigns=campaigns,
        names=names,
        q=q,
        scope=scope,
    )
