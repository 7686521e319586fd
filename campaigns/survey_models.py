"""Tables of campaign scripts and surveys.

A script and a survey are each a name plus immutable versions: editing one writes a new
version row, and whatever ran on a version (a campaign, a response) keeps pointing at it.
A survey response is one customer's pass through one survey version on one channel
(``console``, ``ivr``, ``webform``); its answers are rows per question with the value in a
typed column.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.db import Base, JSONType, utcnow

SURVEY_CHANNELS = ("console", "ivr", "webform")


class CampaignScript(Base):
    __tablename__ = "campaign_scripts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CampaignScriptVersion(Base):
    """One immutable version of a script: ``definition`` is ``{"start", "steps": [...]}``."""

    __tablename__ = "campaign_script_versions"
    __table_args__ = (UniqueConstraint("script_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    script_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_scripts.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CampaignSurvey(Base):
    """A survey; ``segment_id`` is its target group (a saved CRM segment)."""

    __tablename__ = "campaign_surveys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    segment_id: Mapped[int | None] = mapped_column(
        ForeignKey("segments.id", ondelete="SET NULL"), index=True
    )
    web_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CampaignSurveyVersion(Base):
    """One immutable version: ``definition`` is ``{"title", "intro", "questions": [...]}``."""

    __tablename__ = "campaign_survey_versions"
    __table_args__ = (UniqueConstraint("survey_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_surveys.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CampaignSurveyResponse(Base):
    """One pass through a survey version. ``partial``: some questions were skipped because
    the channel cannot ask them (the IVR skips free text, dates, multiple choice).
    ``external_ref`` makes a channel's retries idempotent (the IVR's CallSid)."""

    __tablename__ = "campaign_survey_responses"
    __table_args__ = (UniqueConstraint("channel", "external_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_version_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_survey_versions.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    interaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("interactions.id", ondelete="SET NULL"), index=True
    )
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(12))
    external_ref: Mapped[str | None] = mapped_column(String(80))
    completed: Mapped[bool] = mapped_column(Boolean, default=False)
    partial: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column()


class CampaignSurveyAnswer(Base):
    """The answer to one question, in the column of its type: ``value_text`` (single
    choice, text), ``value_number`` (number, scale), ``value_date``, ``value_bool``
    (yes/no), ``value_choices`` (multiple choice, a JSON list)."""

    __tablename__ = "campaign_survey_answers"
    __table_args__ = (UniqueConstraint("response_id", "question_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_survey_responses.id", ondelete="CASCADE"), index=True
    )
    question_key: Mapped[str] = mapped_column(String(40))
    question_type: Mapped[str] = mapped_column(String(20))
    value_text: Mapped[str | None] = mapped_column(Text)
    value_number: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    value_date: Mapped[dt.date | None] = mapped_column(Date)
    value_bool: Mapped[bool | None] = mapped_column(Boolean)
    value_choices: Mapped[list[str] | None] = mapped_column(JSONType)
    answered_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
