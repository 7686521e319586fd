"""A person's own preferences: the language and the time zone the product speaks to them in."""

from __future__ import annotations

import functools
import zoneinfo

from sqlalchemy.orm import Session

from crm_core.errors import N_, ValidationFailed
from crm_core.models import User
from crm_core.services import audit

# The languages with a complete message catalogue (hub/translations).
LANGUAGES = ("en", "pl", "uk")


@functools.cache
def time_zones() -> tuple[str, ...]:
    """Every IANA zone name the tz database knows, sorted (read once)."""
    return tuple(sorted(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC"))


def do_set_user_preferences(session: Session, user: User, *, language: str, timezone: str) -> User:
    """Set ``user``'s language and time zone; audited when something changed.

    Raises ValidationFailed for a language without a catalogue or an unknown zone name.
    """
    if language not in LANGUAGES:
        raise ValidationFailed(
            N_("language must be one of %(languages)s"),
            field="language",
            languages=", ".join(LANGUAGES),
        )
    if timezone not in time_zones():
        raise ValidationFailed(
            N_("not an IANA time zone name (e.g. Europe/Warsaw)"), field="timezone"
        )
    before = {"language": user.language, "timezone": user.timezone}
    after = {"language": language, "timezone": timezone}
    old, new = audit.changed(before, after)
    if new:
        user.language = language
        user.timezone = timezone
        session.flush()
        audit.record(
            session,
            user_id=user.id,
            action="user.preferences_changed",
            entity_type="user",
            entity_id=user.id,
            before=old,
            after=new,
        )
    return user
