"""Small pieces the API modules share: typed input fields, settings, the blob store."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from flask import current_app
from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints

from crm_core.services.blobs import BlobStore
from hub.settings import Settings


def _storable_moment(value: dt.datetime) -> dt.datetime:
    # Every backend stores UTC: a moment whose UTC form falls outside year 1..9999 (or far
    # from any date a contact centre deals in) cannot be stored or compared.
    try:
        utc = value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("date and time out of range") from None
    if not 1900 <= utc.year <= 2999:
        raise ValueError("date and time must lie between the years 1900 and 2999")
    return utc


# An aware ISO 8601 date-time (``2026-11-23T14:00:00Z``), normalised to UTC.
Moment = Annotated[AwareDatetime, AfterValidator(_storable_moment)]
SearchText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


def settings() -> Settings:
    value: Settings = current_app.extensions["switchboard.settings"]
    return value


def blob_store() -> BlobStore:
    return BlobStore(settings().effective_blob_dir)


def like_pattern(text: str) -> str:
    """``%text%`` for LIKE with ``\\`` as the escape character, wildcards escaped."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def not_null() -> Any:
    """The default of a PATCH field that may be left out but not sent as null.

    Pydantic does not validate defaults, so the field's type (without None) refuses an
    explicit null while an absent field stays out of ``model_fields_set``.
    """
    return Field(None)
