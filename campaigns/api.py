"""REST API of the campaigns core under ``/api/v1/campaigns`` (OpenAPI through
``hub.api.spec.operation``): campaigns, their agents, dispositions, leads and lists,
list imports (upload, preview, start, progress, rejected rows) and the do-not-call list.

Everyone logged in may read; supervisors and admins write. Writes go through the actions
of ``campaigns.service``, ``campaigns.dnc`` and ``campaigns.imports``; the request commits.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Annotated, Any, Literal

from flask import Blueprint, Response, current_app, request
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import func, select

from campaigns import dnc, imports, service
from campaigns.models import (
    CAMPAIGN_STATUSES,
    LEAD_STATES,
    Campaign,
    CampaignList,
    DncEntry,
    ImportRejection,
    Lead,
)
from crm_core.errors import ValidationFailed
from crm_core.services.blobs import BlobStore
from crm_core.services.segments import get_segment
from hub.api.schemas import Id, Limit, Offset, Out, PageQuery, Strict
from hub.api.spec import operation
from hub.auth import current
from hub.db import db
from hub.errors import problem

bp = Blueprint("campaigns_api", __name__, url_prefix="/api/v1")
TAGS = ["campaigns"]
DNC_TAGS = ["do-not-call"]
WRITE = ("supervisor",)

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
Money = Annotated[float, Field(ge=0, le=9_999_999_999, allow_inf_nan=False)]
Rate = Annotated[float, Field(ge=0, le=999_999, allow_inf_nan=False)]
PhoneText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Day = Annotated[dt.date, Field(ge=dt.date(2000, 1, 1), le=dt.date(2999, 12, 31))]


def _clock(value: str | None) -> dt.time | None:
    if value is None:
        return None
    hours, minutes = value.split(":")
    return dt.time(int(hours), int(minutes))


def _money(value: float | None, places: str) -> decimal.Decimal | None:
    return None if value is None else decimal.Decimal(str(value)).quantize(decimal.Decimal(places))


# ------------------------------------------------------------------------ schemas


class CampaignFields(Strict):
    goal: Annotated[str, StringConstraints(max_length=5000)] | None = None
    start_date: Day | None = None
    end_date: Day | None = None
    queue_id: Id | None = None
    caller_id: Annotated[str, StringConstraints(max_length=20)] | None = Field(
        None, description="E.164, e.g. +48223070000"
    )
    dialer_mode: Literal["preview", "progressive", "predictive"] | None = None
    script_id: Id | None = None
    survey_id: Id | None = None
    window_start: ClockTime | None = Field(None, description="HH:MM in the callee's time")
    window_end: ClockTime | None = None
    calling_days: Annotated[list[Annotated[int, Field(ge=1, le=7)]], Field(max_length=7)] | None = (
        None
    )
    max_attempts: Annotated[int, Field(ge=1, le=100)] | None = None
    min_retry_minutes: Annotated[int, Field(ge=0, le=525_600)] | None = None
    abandoned_no_redial_hours: Annotated[int, Field(ge=0, le=8760)] | None = None
    abandon_cap_pct: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] | None = None
    budget: Money | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    cost_per_attempt: Rate | None = None
    cost_per_minute: Rate | None = None


class CampaignIn(CampaignFields):
    name: Text200


class CampaignUpdate(CampaignFields):
    """Send only what changes."""

    name: Text200 | None = None


class DispositionIO(Strict):
    code: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    label: Text200
    is_final: bool = False
    is_success: bool = False
    is_dnc: bool = False
    is_callback: bool = False
    hotkey: Annotated[str, StringConstraints(pattern=r"^[0-9a-z]$")] | None = None
    retry_after_minutes: Annotated[int, Field(ge=0, le=525_600)] | None = None


class DispositionsIn(Strict):
    items: Annotated[list[DispositionIO], Field(min_length=1, max_length=50)]


class DispositionsOut(BaseModel):
    items: list[DispositionIO]


class AgentsIn(Strict):
    user_ids: Annotated[list[Id], Field(max_length=500)] = []
    team_ids: Annotated[list[Id], Field(max_length=100)] = []


class StatusIn(Strict):
    status: Literal["draft", "active", "paused", "finished"]


class CampaignOut(BaseModel):
    id: int
    name: str
    goal: str | None
    status: str
    start_date: dt.date | None
    end_date: dt.date | None
    queue_id: int | None
    caller_id: str | None
    dialer_mode: str
    script_id: int | None
    survey_id: int | None
    window_start: str | None
    window_end: str | None
    calling_days: list[int]
    max_attempts: int
    min_retry_minutes: int
    abandoned_no_redial_hours: int
    abandon_cap_pct: float
    budget: float | None
    currency: str
    cost_per_attempt: float | None
    cost_per_minute: float | None
    agent_user_ids: list[int]
    agent_team_ids: list[int]
    dispositions: list[DispositionIO]
    lead_counts: dict[str, int]
    start_blockers: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime


class CampaignPage(BaseModel):
    items: list[CampaignOut]
    limit: int
    offset: int
    has_more: bool


class CampaignQuery(PageQuery):
    status: Literal["draft", "active", "paused", "finished"] | None = None


def _f(value: decimal.Decimal | None) -> float | None:
    return None if value is None else float(value)


def campaign_out(campaign: Campaign, *, counts: dict[str, int] | None = None) -> CampaignOut:
    session = db.session
    return CampaignOut(
        id=campaign.id,
        name=campaign.name,
        goal=campaign.goal,
        status=campaign.status,
        start_date=campaign.start_date,
        end_date=campaign.end_date,
        queue_id=campaign.queue_id,
        caller_id=campaign.caller_id,
        dialer_mode=campaign.dialer_mode,
        script_id=campaign.script_id,
        survey_id=campaign.survey_id,
        window_start=campaign.window_start.strftime("%H:%M") if campaign.window_start else None,
        window_end=campaign.window_end.strftime("%H:%M") if campaign.window_end else None,
        calling_days=list(campaign.calling_days or []),
        max_attempts=campaign.max_attempts,
        min_retry_minutes=campaign.min_retry_minutes,
        abandoned_no_redial_hours=campaign.abandoned_no_redial_hours,
        abandon_cap_pct=float(campaign.abandon_cap_pct),
        budget=_f(campaign.budget),
        currency=campaign.currency,
        cost_per_attempt=_f(campaign.cost_per_attempt),
        cost_per_minute=_f(campaign.cost_per_minute),
        agent_user_ids=[a.user_id for a in campaign.agents if a.user_id is not None],
        agent_team_ids=[a.team_id for a in campaign.agents if a.team_id is not None],
        dispositions=[_disposition_io(d) for d in campaign.dispositions],
        lead_counts=counts if counts is not None else service.lead_counts(session, campaign.id),
        start_blockers=service.start_blockers(session, campaign),
        created_at=campaign.created_at,
        updated_at=campaign.updated_at,
    )


def _disposition_io(d: Any) -> DispositionIO:
    return DispositionIO(
        code=d.code,
        label=d.label,
        is_final=d.is_final,
        is_success=d.is_success,
        is_dnc=d.is_dnc,
        is_callback=d.is_callback,
        hotkey=d.hotkey,
        retry_after_minutes=d.retry_after_minutes,
    )


def _fields(body: CampaignFields) -> dict[str, Any]:
    data = body.model_dump(exclude_unset=True)
    for key in ("window_start", "window_end"):
        if key in data:
            data[key] = _clock(data[key])
    if "abandon_cap_pct" in data:
        data["abandon_cap_pct"] = _money(data["abandon_cap_pct"], "0.01")
        if data["abandon_cap_pct"] is None:
            raise ValidationFailed("the abandonment cap cannot be empty", field="abandon_cap_pct")
    if "budget" in data:
        data["budget"] = _money(data["budget"], "0.01")
    for key in ("cost_per_attempt", "cost_per_minute"):
        if key in data:
            data[key] = _money(data[key], "0.0001")
    for key in (
        "dialer_mode",
        "currency",
        "calling_days",
        "max_attempts",
        "min_retry_minutes",
        "abandoned_no_redial_hours",
    ):
        if key in data and data[key] is None:
            raise ValidationFailed(f"{key} cannot be empty", field=key)
    if "queue_id" in data and data["queue_id"] is not None:
        from hub.models import Queue

        if db.session.get(Queue, data["queue_id"]) is None:
            raise ValidationFailed("no such queue", field="queue_id")
    return data


# ---------------------------------------------------------------------- campaigns


@operation(
    bp,
    "/campaigns",
    "GET",
    summary="List campaigns",
    tags=TAGS,
    query=CampaignQuery,
    response=CampaignPage,
)
def list_campaigns(query: CampaignQuery) -> CampaignPage:
    stmt = select(Campaign).order_by(Campaign.id.desc())
    if query.status:
        stmt = stmt.where(Campaign.status == query.status)
    rows = list(db.session.scalars(stmt.limit(query.limit + 1).offset(query.offset)))
    return CampaignPage(
        items=[campaign_out(c) for c in rows[: query.limit]],
        limit=query.limit,
        offset=query.offset,
        has_more=len(rows) > query.limit,
    )


@operation(
    bp,
    "/campaigns",
    "POST",
    summary="Create a campaign (draft)",
    tags=TAGS,
    body=CampaignIn,
    response=CampaignOut,
    status=201,
    roles=WRITE,
    errors=(422,),
)
def create_campaign(body: CampaignIn) -> CampaignOut:
    fields = _fields(body)
    campaign = service.do_create_campaign(db.session, fields=fields, user_id=current().id)
    return campaign_out(campaign, counts={})


@operation(
    bp,
    "/campaigns/<int:campaign_id>",
    "GET",
    summary="A campaign",
    tags=TAGS,
    response=CampaignOut,
    errors=(404,),
)
def get_campaign(campaign_id: int) -> CampaignOut:
    return campaign_out(service.get_campaign(db.session, campaign_id))


@operation(
    bp,
    "/campaigns/<int:campaign_id>",
    "PATCH",
    summary="Change a campaign",
    tags=TAGS,
    body=CampaignUpdate,
    response=CampaignOut,
    roles=WRITE,
    errors=(404, 409, 422),
)
def update_campaign(campaign_id: int, body: CampaignUpdate) -> CampaignOut:
    campaign = service.get_campaign(db.session, campaign_id)
    fields = _fields(body)
    if "name" in fields and fields["name"] is None:
        raise ValidationFailed("a campaign needs a name", field="name")
    service.do_update_campaign(db.session, campaign, fields=fields, user_id=current().id)
    return campaign_out(campaign)


@operation(
    bp,
    "/campaigns/<int:campaign_id>/status",
    "POST",
    summary="Start, pause or finish a campaign",
    tags=TAGS,
    body=StatusIn,
    response=CampaignOut,
    roles=WRITE,
    errors=(404, 409, 422),
)
def set_campaign_status(campaign_id: int, body: StatusIn) -> CampaignOut:
    """Starting (``active``) needs a caller ID, a calling window and at least one agent:
    otherwise 422 whose ``detail`` names each missing one (``caller_id``,
    ``calling_window``, ``agents``)."""
    campaign = service.get_campaign(db.session, campaign_id)
    service.do_set_status(db.session, campaign, body.status, user_id=current().id)
    return campaign_out(campaign)


@operation(
    bp,
    "/campaigns/<int:campaign_id>/agents",
    "PUT",
    summary="Set the agents and teams of a campaign",
    tags=TAGS,
    body=AgentsIn,
    response=CampaignOut,
    roles=WRITE,
    errors=(404, 422),
)
def set_campaign_agents(campaign_id: int, body: AgentsIn) -> CampaignOut:
    campaign = service.get_campaign(db.session, campaign_id)
    service.do_set_agents(
        db.session, campaign, user_ids=body.user_ids, team_ids=body.team_ids, actor_id=current().id
    )
    return campaign_out(campaign)


@operation(
    bp,
    "/campaigns/<int:campaign_id>/dispositions",
    "PUT",
    summary="Replace the dispositions of a campaign",
    tags=TAGS,
    body=DispositionsIn,
    response=DispositionsOut,
    roles=WRITE,
    errors=(404, 422),
)
def set_campaign_dispositions(campaign_id: int, body: DispositionsIn) -> DispositionsOut:
    campaign = service.get_campaign(db.session, campaign_id)
    rows = service.do_set_dispositions(
        db.session, campaign, [i.model_dump() for i in body.items], user_id=current().id
    )
    return DispositionsOut(items=[_disposition_io(d) for d in rows])


# --------------------------------------------------------------------------- leads


class LeadOut(Out):
    id: int
    campaign_id: int
    list_id: int | None
    customer_id: int | None
    phone: str
    state: str
    attempts: int
    next_attempt_at: dt.datetime | None
    last_attempt_at: dt.datetime | None
    assigned_agent_id: int | None
    last_disposition: str | None
    refused_reason: str | None


class LeadPage(BaseModel):
    items: list[LeadOut]
    limit: int
    offset: int
    has_more: bool


class LeadQuery(PageQuery):
    state: Literal[LEAD_STATES] | None = None  # type: ignore[valid-type]
    list_id: Id | None = None


@operation(
    bp,
    "/campaigns/<int:campaign_id>/leads",
    "GET",
    summary="Leads of a campaign",
    tags=TAGS,
    query=LeadQuery,
    response=LeadPage,
    errors=(404,),
)
def list_leads(campaign_id: int, query: LeadQuery) -> LeadPage:
    service.get_campaign(db.session, campaign_id)
    stmt = select(Lead).where(Lead.campaign_id == campaign_id).order_by(Lead.id)
    if query.state:
        stmt = stmt.where(Lead.state == query.state)
    if query.list_id:
        stmt = stmt.where(Lead.list_id == query.list_id)
    rows = list(db.session.scalars(stmt.limit(query.limit + 1).offset(query.offset)))
    return LeadPage(
        items=[LeadOut.model_validate(r) for r in rows[: query.limit]],
        limit=query.limit,
        offset=query.offset,
        has_more=len(rows) > query.limit,
    )


class ListOut(Out):
    id: int
    campaign_id: int
    name: str
    source: str
    segment_id: int | None
    agent_id: int | None
    team_id: int | None
    created_at: dt.datetime


class ListsOut(BaseModel):
    items: list[ListOut]


class SegmentListIn(Strict):
    name: Text200
    segment_id: Id
    agent_id: Id | None = None
    team_id: Id | None = None


class SegmentListOut(BaseModel):
    list: ListOut
    selected: int
    added: int
    no_phone: int
    already_in_campaign: int


@operation(
    bp,
    "/campaigns/<int:campaign_id>/lists",
    "GET",
    summary="Call lists of a campaign",
    tags=TAGS,
    response=ListsOut,
    errors=(404,),
)
def list_lists(campaign_id: int) -> ListsOut:
    service.get_campaign(db.session, campaign_id)
    rows = db.session.scalars(
        select(CampaignList)
        .where(CampaignList.campaign_id == campaign_id)
        .order_by(CampaignList.id)
    )
    return ListsOut(items=[ListOut.model_validate(r) for r in rows])


@operation(
    bp,
    "/campaigns/<int:campaign_id>/lists/from-segment",
    "POST",
    summary="Build a call list from a CRM segment",
    tags=TAGS,
    body=SegmentListIn,
    response=SegmentListOut,
    status=201,
    roles=WRITE,
    errors=(404, 409, 422),
)
def build_list_from_segment(campaign_id: int, body: SegmentListIn) -> SegmentListOut:
    """One lead per selected customer with a phone (the primary one); customers without
    a phone and numbers already in the campaign are counted, not added."""
    campaign = service.get_campaign(db.session, campaign_id)
    segment = get_segment(db.session, body.segment_id)
    _check_assignee(body.agent_id, body.team_id)
    the_list, tally = service.do_build_list_from_segment(
        db.session,
        campaign,
        name=body.name,
        flt=segment.filter,
        segment_id=segment.id,
        agent_id=body.agent_id,
        team_id=body.team_id,
        user_id=current().id,
    )
    return SegmentListOut(list=ListOut.model_validate(the_list), **tally)


def _check_assignee(agent_id: int | None, team_id: int | None) -> None:
    from crm_core.models import Team, User

    if agent_id is not None and db.session.get(User, agent_id) is None:
        raise ValidationFailed("no such agent", field="agent_id")
    if team_id is not None and db.session.get(Team, team_id) is None:
        raise ValidationFailed("no such team", field="team_id")


# ------------------------------------------------------------------------- imports


class ImportOut(BaseModel):
    import_id: int
    campaign_id: int
    status: str
    total_rows: int
    processed_rows: int
    imported: int
    matched: int
    rejected: int
    error: str | None


class UploadOut(ImportOut):
    filename: str
    headers: list[str]
    sample: list[list[str]]
    suggested_mapping: dict[str, int]
    fields: list[str]


Mapping = Annotated[
    dict[Literal[imports.FIELDS], Annotated[int, Field(ge=0, le=1000)]],  # type: ignore[valid-type]
    Field(description="field -> column index (0-based); phone is required"),
]


class PreviewIn(Strict):
    mapping: Mapping


class PreviewRow(BaseModel):
    row: int
    outcome: Literal["new", "match", "reject"]
    phone: str | None
    cells: dict[str, str]
    customer_id: int | None = None
    code: str | None = None
    reason: str | None = None


class PreviewOut(BaseModel):
    rows: list[PreviewRow]


class StartIn(Strict):
    mapping: Mapping
    list_name: Text200
    agent_id: Id | None = None
    team_id: Id | None = None


class RejectionOut(Out):
    row_number: int
    code: str
    reason: str
    cells: dict[str, Any] | None


class RejectionPage(BaseModel):
    items: list[RejectionOut]
    limit: int
    offset: int
    has_more: bool


def _store() -> BlobStore:
    return BlobStore(current_app.extensions["switchboard.settings"].effective_blob_dir)


def _import_out(imp: Any) -> ImportOut:
    return ImportOut(**imports.progress(imp))


@operation(
    bp,
    "/campaigns/<int:campaign_id>/imports",
    "POST",
    summary="Upload a CSV or XLSX call list (step 1: headers, sample, suggested mapping)",
    tags=TAGS,
    response=UploadOut,
    status=201,
    upload=True,
    roles=WRITE,
    errors=(404, 413, 415, 422),
)
def upload_import(campaign_id: int) -> Response | UploadOut:
    """Multipart form with the file in ``file``. Nothing is imported until ``start``."""
    campaign = service.get_campaign(db.session, campaign_id)
    if request.mimetype != "multipart/form-data":
        return problem(
            415,
            "unsupported_media_type",
            "upload the file as multipart/form-data in a part named 'file'",
        )
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed("send the file in a multipart part named 'file'", field="file")
    settings = current_app.extensions["switchboard.settings"]
    limit = settings.max_upload_bytes
    data = upload.stream.read(limit + 1)
    if len(data) > limit:
        return problem(413, "too_large", "the file is larger than the upload limit")
    result = imports.do_upload_import(
        db.session,
        campaign,
        filename=upload.filename or "upload",
        data=data,
        store=_store(),
        region=settings.default_region,
        user_id=current().id,
    )
    base = _import_out(result.import_row)
    return UploadOut(
        **base.model_dump(),
        filename=result.import_row.filename,
        headers=result.headers,
        sample=result.sample,
        suggested_mapping=result.suggested,
        fields=list(imports.FIELDS),
    )


@operation(
    bp,
    "/campaigns/imports/<int:import_id>/preview",
    "POST",
    summary="Preview an import with a column mapping (step 2)",
    tags=TAGS,
    body=PreviewIn,
    response=PreviewOut,
    roles=WRITE,
    errors=(404, 422),
)
def preview_import(import_id: int, body: PreviewIn) -> PreviewOut:
    imp = imports.get_import(db.session, import_id)
    rows = imports.preview(db.session, imp, dict(body.mapping), _store())
    return PreviewOut(rows=[PreviewRow(**r) for r in rows])


@operation(
    bp,
    "/campaigns/imports/<int:import_id>/start",
    "POST",
    summary="Start an import (step 3): runs in the background",
    tags=TAGS,
    body=StartIn,
    response=ImportOut,
    status=202,
    roles=WRITE,
    errors=(404, 422),
)
def start_import(import_id: int, body: StartIn) -> ImportOut:
    """Progress: ``GET /campaigns/imports/<id>`` or the Socket.IO event
    ``campaign_import`` (room ``supervisors``)."""
    imp = imports.get_import(db.session, import_id)
    _check_assignee(body.agent_id, body.team_id)
    imports.do_start_import(
        db.session,
        imp,
        mapping=dict(body.mapping),
        list_name=body.list_name,
        store=_store(),
        agent_id=body.agent_id,
        team_id=body.team_id,
        user_id=current().id,
    )
    return _import_out(imp)


@operation(
    bp,
    "/campaigns/imports/<int:import_id>",
    "GET",
    summary="Progress and tally of an import",
    tags=TAGS,
    response=ImportOut,
    errors=(404,),
)
def get_import(import_id: int) -> ImportOut:
    return _import_out(imports.get_import(db.session, import_id))


@operation(
    bp,
    "/campaigns/imports/<int:import_id>/rejections",
    "GET",
    summary="Rejected rows of an import, with reasons",
    tags=TAGS,
    query=PageQuery,
    response=RejectionPage,
    errors=(404,),
)
def list_rejections(import_id: int, query: PageQuery) -> RejectionPage:
    imports.get_import(db.session, import_id)
    rows = list(
        db.session.scalars(
            select(ImportRejection)
            .where(ImportRejection.import_id == import_id)
            .order_by(ImportRejection.row_number)
            .limit(query.limit + 1)
            .offset(query.offset)
        )
    )
    return RejectionPage(
        items=[RejectionOut.model_validate(r) for r in rows[: query.limit]],
        limit=query.limit,
        offset=query.offset,
        has_more=len(rows) > query.limit,
    )


# ---------------------------------------------------------------------- do-not-call


class DncIn(Strict):
    number: PhoneText
    campaign_id: Id | None = Field(None, description="empty: the global list")
    reason: Annotated[str, StringConstraints(max_length=200)] | None = None


class DncBulkIn(Strict):
    numbers: Annotated[str, StringConstraints(min_length=1, max_length=2_000_000)] = Field(
        description="one number per line (or CSV: the first cell of each row)"
    )
    campaign_id: Id | None = None
    reason: Annotated[str, StringConstraints(max_length=200)] | None = None


class DncOut(Out):
    id: int
    number: str
    campaign_id: int | None
    reason: str | None
    source: str
    created_at: dt.datetime


class DncPage(BaseModel):
    items: list[DncOut]
    limit: int
    offset: int
    has_more: bool
    total: int


class DncQuery(Strict):
    campaign_id: Id | None = None
    scope: Literal["all", "global", "campaign"] = "all"
    number: Annotated[str, StringConstraints(max_length=40)] | None = None
    limit: Limit = 50
    offset: Offset = 0


class DncBulkOut(BaseModel):
    added: int
    already_listed: int
    repeated: int
    rejected: list[dict[str, Any]]


def _check_campaign(campaign_id: int | None) -> None:
    if campaign_id is not None:
        service.get_campaign(db.session, campaign_id)


@operation(
    bp,
    "/campaigns/dnc",
    "GET",
    summary="The do-not-call list",
    tags=DNC_TAGS,
    query=DncQuery,
    response=DncPage,
)
def list_dnc(query: DncQuery) -> DncPage:
    stmt = select(DncEntry)
    if query.scope == "global":
        stmt = stmt.where(DncEntry.campaign_id.is_(None))
    elif query.scope == "campaign" or query.campaign_id is not None:
        stmt = stmt.where(DncEntry.campaign_id.is_not(None))
        if query.campaign_id is not None:
            stmt = stmt.where(DncEntry.campaign_id == query.campaign_id)
    if query.number:
        digits = "".join(c for c in query.number if c.isdigit())
        if digits:
            stmt = stmt.where(DncEntry.number.contains(digits, autoescape=True))
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = list(
        db.session.scalars(
            stmt.order_by(DncEntry.id.desc()).limit(query.limit + 1).offset(query.offset)
        )
    )
    return DncPage(
        items=[DncOut.model_validate(r) for r in rows[: query.limit]],
        limit=query.limit,
        offset=query.offset,
        has_more=len(rows) > query.limit,
        total=total,
    )


@operation(
    bp,
    "/campaigns/dnc",
    "POST",
    summary="Put a number on the do-not-call list",
    tags=DNC_TAGS,
    body=DncIn,
    response=DncOut,
    status=201,
    roles=WRITE,
    errors=(404, 422),
)
def add_dnc(body: DncIn) -> DncOut:
    """National numbers are read in the deployment's region. Listing a number again
    returns the existing entry."""
    _check_campaign(body.campaign_id)
    entry, _ = dnc.do_add_dnc(
        db.session,
        body.number,
        campaign_id=body.campaign_id,
        reason=body.reason,
        region=current_app.extensions["switchboard.settings"].default_region,
        user_id=current().id,
    )
    return DncOut.model_validate(entry)


@operation(
    bp,
    "/campaigns/dnc/bulk",
    "POST",
    summary="Import numbers to the do-not-call list",
    tags=DNC_TAGS,
    body=DncBulkIn,
    response=DncBulkOut,
    roles=WRITE,
    errors=(404, 422),
)
def bulk_add_dnc(body: DncBulkIn) -> DncBulkOut:
    _check_campaign(body.campaign_id)
    result = dnc.do_bulk_add_dnc(
        db.session,
        body.numbers,
        campaign_id=body.campaign_id,
        reason=body.reason,
        region=current_app.extensions["switchboard.settings"].default_region,
        user_id=current().id,
    )
    return DncBulkOut(
        added=result.added,
        already_listed=result.already_listed,
        repeated=result.repeated,
        rejected=result.rejected,
    )


@operation(
    bp,
    "/campaigns/dnc/<int:entry_id>",
    "DELETE",
    summary="Take a number off the do-not-call list",
    tags=DNC_TAGS,
    status=204,
    roles=WRITE,
    errors=(404,),
)
def remove_dnc(entry_id: int) -> None:
    dnc.do_remove_dnc(db.session, entry_id, user_id=current().id)


__all__ = ["CAMPAIGN_STATUSES", "bp"]
