"""Public forms that another package defines and the web-form channel serves.

The web-form channel (``channels/webforms``) serves the forms admins store in its own
table. A package that must not be imported by channels (``campaigns``: a survey answered
on the web) registers a *form provider* here instead: a function from a slug to a
:class:`ProvidedForm`. The channel asks the providers for a slug it does not know, serves
the provided form like its own (page, token, honeypot, rate limit, intake), and calls the
form's hooks:

- ``validate(values)`` after its own per-field checks, before intake: rules across fields
  (a question required only when an earlier answer shows it); the returned mapping of
  field name to message becomes the page's 422.
- ``on_intake(session, interaction, values)`` inside the intake transaction, after the
  customer is identified: what the submission means to the provider (the answers of a
  survey response), committed together with the interaction or not at all.

Registries are module-level like intake's threaders: providers are pure functions of the
database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from crm_core.models import Interaction

Validator = Callable[[dict[str, Any]], dict[str, str]]
IntakeHook = Callable[[Session, Interaction, dict[str, Any]], None]


@dataclass(frozen=True)
class ProvidedForm:
    """A form definition in the web-form channel's field format (see
    ``docs/webforms.md``), with the provider's hooks."""

    slug: str
    title: str
    fields: list[dict[str, Any]]
    description: str | None = None
    confirmation_text: str | None = None
    validate: Validator | None = None
    on_intake: IntakeHook | None = None
    extra: dict[str, Any] = field(default_factory=dict)


FormProvider = Callable[[Session, str], ProvidedForm | None]
_providers: list[FormProvider] = []


def register_form_provider(provider: FormProvider) -> None:
    """Add ``provider`` (idempotent: registering the same function twice is one entry)."""
    if provider not in _providers:
        _providers.append(provider)


def provided_form(session: Session, slug: str) -> ProvidedForm | None:
    """The first provider's form for ``slug``, or None when no provider knows it."""
    for provider in _providers:
        form = provider(session, slug)
        if form is not None:
            return form
    return None
