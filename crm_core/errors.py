"""Domain errors. Each carries what a user needs to act on it; hub turns them into HTTP codes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def N_(message: str) -> str:
    """Mark ``message`` for the translators' catalogue without translating it here.

    crm_core knows no Flask and no user, so it cannot pick a language; it raises errors with
    an English message template and its parameters, and whoever answers the user (hub)
    translates the template into the reader's language and fills the parameters in
    (:meth:`DomainError.localized`)."""
    return message


class DomainError(Exception):
    """Base class: a request we refuse for a reason the caller can understand.

    ``message`` is a template with ``%(name)s`` placeholders filled from ``params``:
    ``ValidationFailed(N_("%(value)s is not an e-mail address"), field="email", value=raw)``.
    ``.message`` is the English text (logs, the CLI); ``.localized(gettext)`` the reader's."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self, message: str, *, field: str | None = None, detail: Any = None, **params: Any
    ) -> None:
        self.template = message
        self.params = params
        self.message = message % params if params else message
        super().__init__(self.message)
        self.field = field
        self.detail = detail

    def localized(self, translate: Callable[[str], str]) -> str:
        """The message in the language ``translate`` (a gettext) speaks; English if the
        translation is missing or its placeholders do not fit."""
        try:
            text = translate(self.template)
            return text % self.params if self.params else text
        except (KeyError, TypeError, ValueError):
            return self.message


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class PermissionDenied(DomainError):
    status_code = 403
    code = "forbidden"


class ValidationFailed(DomainError):
    """Input that has the right shape but wrong content (a custom field of the wrong type)."""

    status_code = 422
    code = "validation_failed"


class Conflict(DomainError):
    """The request clashes with the current state (a duplicate e-mail, an illegal transition)."""

    status_code = 409
    code = "conflict"


class InvalidTransition(Conflict):
    code = "invalid_transition"
