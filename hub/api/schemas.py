"""Request and response models of the REST API (pydantic v2); they are the OpenAPI schemas."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)]
ShortText = Annotated[str, StringConstraints(max_length=250)]
Limit = Annotated[int, Field(ge=1, le=200)]
Offset = Annotated[int, Field(ge=0, le=10_000_000)]
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PageQuery(Strict):
    limit: Limit = 50
    offset: Offset = 0


class ContactPointIn(Strict):
    kind: Literal["phone", "email", "fax"]
    value: Annotated[str, StringConstraints(min_length=1, max_length=320)]
    label: Annotated[str, StringConstraints(max_length=40)] | None = None
    is_primary: bool = False


class ContactPointOut(Out):
    id: int
    kind: str
    value: str
    raw: str | None
    label: str | None
    is_primary: bool


CustomValue = str | float | int | bool | dt.date | None


class CustomerFields(Strict):
    first_name: Name | None = None
    last_name: Name | None = None
    organisation_name: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None
    ) = None
    customer_class: Annotated[str, StringConstraints(max_length=40)] | None = None
    vip: bool | None = None
    no_calls: bool | None = None
    no_mail: bool | None = None
    birthday: dt.date | None = None
    language: Annotated[str, StringConstraints(max_length=10)] | None = None
    timezone: Annotated[str, StringConstraints(max_length=64)] | None = None
    city: Name | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    notes: Annotated[str, StringConstraints(max_length=20_000)] | None = None
    tags: list[Annotated[str, StringConstraints(min_length=1, max_length=80)]] | None = Field(
        None, max_length=50
    )
    custom_fields: dict[Annotated[str, StringConstraints(max_length=60)], CustomValue] | None = (
        Field(None, max_length=100)
    )


class CustomerCreate(CustomerFields):
    kind: Literal["person", "organisation"] = "person"
    contact_points: list[ContactPointIn] = Field(default_factory=list, max_length=50)


class CustomerUpdate(CustomerFields):
    kind: Literal["person", "organisation"] | None = None


class CustomerOut(Out):
    id: int
    kind: str
    display_name: str
    first_name: str | None
    last_name: str | None
    organisation_name: str | None
    customer_class: str | None
    vip: bool
    no_calls: bool
    no_mail: bool
    birthday: dt.date | None
    language: str | None
    timezone: str | None
    city: str | None
    country: str | None
    notes: str | None
    merged_into_id: int | None
    tags: list[str]
    contact_points: list[ContactPointOut]
    custom_fields: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


class CustomerSummary(Out):
    id: int
    kind: str
    display_name: str
    customer_class: str | None
    vip: bool


class CustomerPage(BaseModel):
    items: list[CustomerOut]
    limit: int
    offset: int
    has_more: bool


class CustomerQuery(PageQuery):
    q: Annotated[str, StringConstraints(max_length=200)] | None = None
    segment_id: Id | None = None
    kind: Literal["person", "organisation"] | None = None
    tag: Annotated[str, StringConstraints(max_length=80)] | None = None


class RelationIn(Strict):
    relation: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    to_customer_id: Id
    note: ShortText | None = None


class RelationOut(BaseModel):
    id: int
    relation: str
    label: str
    direction: Literal["outgoing", "incoming"]
    customer_id: int
    customer_name: str
    note: str | None


class RelationList(BaseModel):
    items: list[RelationOut]


class MergeIn(Strict):
    merged_id: Id


class InteractionOut(Out):
    id: int
    channel: str
    direction: str
    status: str
    external_id: str | None
    customer_id: int | None
    ticket_id: int | None
    parent_id: int | None
    agent_id: int | None
    queue_id: int | None
    campaign_id: int | None
    from_address: str | None
    to_address: str | None
    subject: str | None
    summary: str | None
    body_text: str | None
    disposition: str | None
    created_at: dt.datetime
    received_at: dt.datetime | None
    started_at: dt.datetime | None
    ended_at: dt.datetime | None


class HistoryQuery(Strict):
    limit: Limit = 50
    cursor: Annotated[str, StringConstraints(max_length=200)] | None = None
    channel: (
        list[Literal["voice", "email", "fax", "webform", "sms", "chat", "note", "task"]] | None
    ) = None


class HistoryPage(BaseModel):
    items: list[InteractionOut]
    next_cursor: str | None


class CustomFieldIn(Strict):
    key: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,59}$")]
    label: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    field_type: Literal["text", "number", "date", "choice", "boolean"]
    choices: list[Annotated[str, StringConstraints(min_length=1, max_length=120)]] | None = Field(
        None, max_length=200
    )
    required: bool = False
    position: Annotated[int, Field(ge=0, le=10_000)] = 0


class CustomFieldOut(Out):
    id: int
    key: str
    label: str
    field_type: str
    choices: list[str] | None
    required: bool
    position: int


class CustomFieldList(BaseModel):
    items: list[CustomFieldOut]


class Problem(BaseModel):
    error: str
    message: str
    field: str | None = None
    detail: Any = None
