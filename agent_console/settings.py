"""The person's own settings (``/console/settings``): language and time zone."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import force_locale, format_datetime, format_decimal
from flask_babel import gettext as _
from flask_login import login_required

from agent_console import bp
from crm_core.db import utcnow
from crm_core.errors import ValidationFailed
from crm_core.services.preferences import do_set_user_preferences
from hub.auth import current
from hub.db import db
from hub.i18n import LANGUAGE_NAMES, LANGUAGES, time_zones


def _page(language: str, timezone: str, error: str | None = None, status: int = 200) -> Any:
    return (
        render_template(
            "console/settings.html",
            languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
            zones=time_zones(),
            language=language,
            timezone=timezone,
            error=error,
            now=format_datetime(utcnow(), "full"),
            number=format_decimal(1234567.891),
        ),
        status,
    )


@bp.get("/console/settings")
@login_required
def settings() -> Any:
    user = current()
    return _page(user.language or "en", user.timezone or "UTC")


@bp.post("/console/settings")
@login_required
def save_settings() -> Any:
    user = current()
    language = request.form.get("language", "")[:10]
    timezone = request.form.get("timezone", "")[:64]
    try:
        do_set_user_preferences(db.session, user, language=language, timezone=timezone)
    except ValidationFailed as exc:
        message = (
            _("Choose one of the languages on the list.")
            if exc.field == "language"
            else _("Choose a time zone from the list.")
        )
        return _page(language, timezone, error=message, status=422)
    # The page after the redirect speaks the new language; so does this message.
    with force_locale(language):
        flash(_("Your settings are saved."), "info")
    return redirect(url_for("console.settings"))
