"""A survey as a public web form, served by the web-form channel.

``campaigns`` may not import ``channels`` and the other way round, so the survey is
offered through ``hub.forms``: :func:`provide_form` turns survey ``<id>`` (when it is
``web_enabled``) into the form ``survey-<id>`` in the channel's field format. The channel
serves it like its own forms (token, honeypot, rate limit) and sends the submission
through ``hub.intake.receive``, so it is a ``webform`` interaction in the customer's
history (identified, or created, by the e-mail address). Inside that intake transaction
the channel calls :func:`_on_intake`, which stores the answers as a completed ``webform``
response on the same interaction: both are committed, or neither.

Field mapping: ``single_choice`` and ``scale`` are a choice, ``yes_no`` a choice of
yes/no, ``multiple_choice`` one checkbox per option (``q_<key>__<n>``), ``number`` a
number, ``text`` a text area, ``date`` a date. A conditional question is never
``required`` on the page (the page cannot know whether it shows); :func:`_validate` checks
the answers as the console does and names the field to correct.
"""

from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from campaigns.survey_models import CampaignSurvey
from campaigns.surveys import (
    AnswersInvalid,
    current_version,
    do_record_response,
)
from crm_core.models import Interaction
from hub.forms import ProvidedForm

SLUG_PREFIX = "survey-"
_SLUG = re.compile(r"^survey-(\d{1,9})$")


def slug_for(survey_id: int) -> str:
    return f"{SLUG_PREFIX}{survey_id}"


def _field(key: str) -> str:
    return f"q_{key}"


def _yes_no() -> list[str]:
    return [_("Yes"), _("No")]


def web_fields(definition: dict[str, Any]) -> list[dict[str, Any]]:
    """The web-form fields of a survey definition (see the module's docstring)."""
    fields: list[dict[str, Any]] = [
        {"name": "name", "label": _("Your name"), "type": "text", "required": False},
        {"name": "email", "label": _("Your e-mail"), "type": "email", "required": True},
    ]
    by_key = {q["key"]: q for q in definition["questions"]}
    for q in definition["questions"]:
        required = q["required"] and "show_if" not in q
        help_text = q.get("help")
        cond = q.get("show_if")
        if cond is not None:
            help_text = _(
                "Only if it applies after: %(question)s", question=by_key[cond["question"]]["text"]
            )
        base: dict[str, Any] = {"name": _field(q["key"]), "label": q["text"], "required": required}
        if help_text:
            base["help"] = help_text
        qtype = q["type"]
        if qtype == "single_choice":
            fields.append({**base, "type": "choice", "choices": [o["label"] for o in q["options"]]})
        elif qtype == "scale":
            numbers = [str(n) for n in range(q["min"], q["max"] + 1)]
            fields.append({**base, "type": "choice", "choices": numbers})
        elif qtype == "yes_no":
            fields.append({**base, "type": "choice", "choices": _yes_no()})
        elif qtype == "multiple_choice":
            for n, option in enumerate(q["options"], start=1):
                label = f"{q['text']}: {option['label']}" if n == 1 else option["label"]
                fields.append(
                    {"name": f"{_field(q['key'])}__{n}", "label": label, "type": "checkbox"}
                )
        elif qtype == "number":
            extra = {b: q[b] for b in ("min", "max") if b in q}
            fields.append({**base, "type": "number", **extra})
        elif qtype == "date":
            fields.append({**base, "type": "date"})
        else:
            fields.append({**base, "type": "textarea", "max_length": q.get("max_length", 500)})
    return fields


def web_answers(definition: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The raw answers (question key -> value) in a cleaned web submission."""
    answers: dict[str, Any] = {}
    for q in definition["questions"]:
        name = _field(q["key"])
        qtype = q["type"]
        if qtype == "multiple_choice":
            chosen = [
                o["value"]
                for n, o in enumerate(q["options"], start=1)
                if values.get(f"{name}__{n}") is True
            ]
            if chosen:
                answers[q["key"]] = chosen
            continue
        value = values.get(name)
        if value is None or value == "":
            continue
        if qtype == "single_choice":
            labels = {o["label"]: o["value"] for o in q["options"]}
            answers[q["key"]] = labels.get(str(value), str(value))
        elif qtype == "yes_no":
            yes, no = _yes_no()
            answers[q["key"]] = {yes: "yes", no: "no"}.get(str(value), str(value))
        else:
            answers[q["key"]] = value
    return answers


def _error_field(definition: dict[str, Any], key: str) -> str:
    for q in definition["questions"]:
        if q["key"] == key and q["type"] == "multiple_choice":
            return f"{_field(key)}__1"
    return _field(key)


def provide_form(session: Session, slug: str) -> ProvidedForm | None:
    """``hub.forms`` provider: the form of a web-enabled survey, None for other slugs."""
    match = _SLUG.match(slug)
    if match is None:
        return None
    survey = session.get(CampaignSurvey, int(match.group(1)))
    if survey is None or not survey.web_enabled:
        return None
    version = current_version(session, survey.id)
    definition = version.definition
    version_id = version.id

    def validate(values: dict[str, Any]) -> dict[str, str]:
        from campaigns.surveys import validate_answers

        try:
            validate_answers(definition, web_answers(definition, values), require_complete=True)
        except AnswersInvalid as exc:
            return {_error_field(definition, k): msg for k, msg in exc.errors.items()}
        return {}

    def on_intake(session: Session, interaction: Interaction, values: dict[str, Any]) -> None:
        do_record_response(
            session,
            survey_version_id=version_id,
            channel="webform",
            answers=web_answers(definition, values),
            customer_id=interaction.customer_id,
            interaction_id=interaction.id,
            external_ref=(interaction.external_id or "")[:80] or None,
        )

    return ProvidedForm(
        slug=slug,
        title=definition.get("title") or survey.name,
        description=definition.get("intro") or None,
        fields=web_fields(definition),
        confirmation_text=definition.get("thanks") or _("Thank you for your answers."),
        validate=validate,
        on_intake=on_intake,
    )
