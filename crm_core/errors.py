"""Domain errors. Each carries what a user needs to act on it; hub turns them into HTTP codes."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class: a request we refuse for a reason the caller can understand."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.detail = detail


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
