"""Surveys: the definition, its validation, typed answers and the one engine that the
console, the IVR and the web form all drive.

A definition (stored per version, see :mod:`campaigns.survey_models`)::

    {"title": "Satisfaction", "intro": "...", "thanks": "...",
     "questions": [
        {"key": "happy", "type": "yes_no", "text": "Are you happy with us?", "required": true},
        {"key": "why", "type": "text", "text": "Why not?",
         "show_if": {"question": "happy", "in": ["no"]}},
        {"key": "score", "type": "scale", "text": "How likely ...?", "min": 0, "max": 10},
        {"key": "plan", "type": "single_choice", "text": "...",
         "options": [{"value": "basic", "label": "Basic"}]}
     ]}

Types: ``single_choice``, ``multiple_choice`` (``options``), ``scale`` (``min``..``max``
whole numbers), ``number`` (``min``, ``max``, ``integer``), ``text`` (``max_length``),
``date`` (ISO), ``yes_no``. ``show_if`` makes a question conditional on an *earlier*
answer: ``in`` lists the values that show it (option values; ``yes``/``no``; scale
numbers), or ``min``/``max`` bound a number or scale answer. A definition whose question
can never be shown (a condition no answer can meet, or on a question that itself can
never be shown), or whose conditions look forward (which is how a cycle would start), is
refused with the question named.

Answers are validated per type on the server (:func:`coerce_answer`), and the next
question follows from the answers so far (:func:`next_question`). Hidden questions'
answers are dropped when an earlier answer changes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.survey_models import (
    SURVEY_CHANNELS,
    CampaignSurvey,
    CampaignSurveyAnswer,
    CampaignSurveyResponse,
    CampaignSurveyVersion,
)
from crm_core.db import utcnow
from crm_core.errors import N_, Conflict, NotFound, ValidationFailed
from crm_core.models import Customer, Interaction
from crm_core.services import audit
from crm_core.services.segments import compile_filter, get_segment

QUESTION_TYPES = (
    "single_choice",
    "multiple_choice",
    "scale",
    "number",
    "text",
    "date",
    "yes_no",
)
CHOICE_TYPES = frozenset({"single_choice", "multiple_choice"})
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,29}$")
MAX_QUESTIONS = 50
MAX_OPTIONS = 30
TEXT_LIMIT = 2000
# The languages a survey (its IVR prompts) can speak.
LANGUAGES = ("en", "pl", "uk")
# Question types a phone keypad can answer: single choice with up to 9 options (one key
# each), yes/no (1/2), a scale and a number (digits, then #).
IVR_MAX_OPTIONS = 9


def ivr_fits(question: dict[str, Any]) -> bool:
    qtype = question["type"]
    if qtype == "single_choice":
        return len(question["options"]) <= IVR_MAX_OPTIONS
    return qtype in ("yes_no", "scale", "number")


class AnswersInvalid(ValidationFailed):
    """One or more answers are wrong; ``errors`` maps question key to a message."""

    def __init__(self, errors: dict[str, str]) -> None:
        names = ", ".join(sorted(errors))
        super().__init__(f"invalid answers: {names}", field=next(iter(errors)), detail=errors)
        self.errors = errors


# ---------------------------------------------------------------------------- definitions


def _refuse(message: str, at: str | None = None, **params: Any) -> ValidationFailed:
    """A refused definition; ``message`` may be an ``N_`` template filled from ``params``
    (the reader gets it translated), with ``at`` naming the question at fault."""
    return ValidationFailed(message, field=f"questions.{at}" if at else "questions", **params)


def _int(raw: Any, what: str, key: str) -> int:
    if isinstance(raw, bool):
        raise _refuse(f"question {key!r}: {what} must be a whole number", key)
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise _refuse(f"question {key!r}: {what} must be a whole number", key) from None


def _options(raw: Any, key: str) -> list[dict[str, str]]:
    if not isinstance(raw, list) or len(raw) < 2:
        raise _refuse(f"question {key!r} needs at least two options", key)
    if len(raw) > MAX_OPTIONS:
        raise _refuse(f"question {key!r} has more than {MAX_OPTIONS} options", key)
    out: list[dict[str, str]] = []
    for item in raw:
        if isinstance(item, dict):
            value, label = str(item.get("value") or "").strip(), str(item.get("label") or "")
        else:
            value = label = str(item)
        value, label = value.strip()[:80], (label.strip() or value)[:200]
        if not value:
            raise _refuse(f"question {key!r}: every option needs a value", key)
        out.append({"value": value, "label": label})
    values = [o["value"] for o in out]
    labels = [o["label"] for o in out]
    if len(set(values)) != len(values) or len(set(labels)) != len(labels):
        raise _refuse(f"question {key!r}: option values and labels must be unique", key)
    return out


def _possible(question: dict[str, Any]) -> set[str] | None:
    """The canonical answers a question can take, as strings (None: too many to list)."""
    qtype = question["type"]
    if qtype in CHOICE_TYPES:
        return {o["value"] for o in question["options"]}
    if qtype == "yes_no":
        return {"yes", "no"}
    if qtype == "scale":
        return {str(n) for n in range(question["min"], question["max"] + 1)}
    return None


def clean_definition(raw: Any) -> dict[str, Any]:
    """Check a survey definition; a normalised copy, or ValidationFailed naming the question."""
    if not isinstance(raw, dict):
        raise ValidationFailed("a survey definition is an object", field="definition")
    questions = raw.get("questions")
    if not isinstance(questions, list) or not questions:
        raise _refuse("a survey needs at least one question")
    if len(questions) > MAX_QUESTIONS:
        raise _refuse(f"a survey has at most {MAX_QUESTIONS} questions")
    keys = [str(q.get("key") or "") if isinstance(q, dict) else "" for q in questions]
    position = {k: i for i, k in enumerate(keys)}
    out: list[dict[str, Any]] = []
    reachable: dict[str, bool] = {}
    for i, q in enumerate(questions):
        if not isinstance(q, dict):
            raise _refuse(f"question {i + 1} is not an object")
        key = keys[i]
        if not KEY_RE.match(key):
            raise _refuse(
                f"question {i + 1}: key {key!r} must be lower-case letters, digits and _ "
                "(up to 30, starting with a letter)"
            )
        if keys.count(key) > 1:
            raise _refuse(f"question key {key!r} is used twice", key)
        qtype = str(q.get("type") or "")
        if qtype not in QUESTION_TYPES:
            raise _refuse(
                f"question {key!r}: type {qtype!r} is not one of {', '.join(QUESTION_TYPES)}", key
            )
        text = str(q.get("text") or "").strip()
        if not text:
            raise _refuse(f"question {key!r} needs a text", key)
        item: dict[str, Any] = {
            "key": key,
            "type": qtype,
            "text": text[:1000],
            "required": bool(q.get("required", False)),
        }
        if q.get("help"):
            item["help"] = str(q["help"])[:500]
        if qtype in CHOICE_TYPES:
            item["options"] = _options(q.get("options"), key)
        elif qtype == "scale":
            lo, hi = _int(q.get("min", 1), "min", key), _int(q.get("max", 5), "max", key)
            if not 0 <= lo < hi <= 100:
                raise _refuse(f"question {key!r}: a scale runs from min to max in 0..100", key)
            item["min"], item["max"] = lo, hi
            for end in ("min_label", "max_label"):
                if q.get(end):
                    item[end] = str(q[end])[:80]
        elif qtype == "number":
            item["integer"] = bool(q.get("integer", False))
            for bound in ("min", "max"):
                if q.get(bound) is not None:
                    try:
                        item[bound] = float(q[bound])
                    except (TypeError, ValueError):
                        raise _refuse(f"question {key!r}: {bound} must be a number", key) from None
            if "min" in item and "max" in item and item["min"] > item["max"]:
                raise _refuse(f"question {key!r}: min is above max", key)
        elif qtype == "text":
            item["max_length"] = max(
                1, min(_int(q.get("max_length", 500), "max_length", key), TEXT_LIMIT)
            )
        reachable[key] = True
        cond = q.get("show_if")
        if cond is not None:
            item["show_if"] = _clean_condition(cond, key, i, keys, position, out, reachable)
        out.append(item)
    language = str(raw.get("language") or "en").strip().lower()
    if language not in LANGUAGES:
        raise ValidationFailed(f"language must be one of {', '.join(LANGUAGES)}", field="language")
    return {
        "title": str(raw.get("title") or "").strip()[:200],
        "language": language,
        "intro": str(raw.get("intro") or "").strip()[:2000],
        "thanks": str(raw.get("thanks") or "").strip()[:2000],
        "questions": out,
    }


def _clean_condition(
    cond: Any,
    key: str,
    index: int,
    keys: list[str],
    position: dict[str, int],
    earlier: list[dict[str, Any]],
    reachable: dict[str, bool],
) -> dict[str, Any]:
    if not isinstance(cond, dict) or not cond.get("question"):
        raise _refuse(f"question {key!r}: show_if needs the question it depends on", key)
    on = str(cond["question"])
    if on == key:
        raise _refuse(N_("question '%(key)s' depends on itself (a cycle)"), key, key=key)
    if on not in position:
        raise _refuse(
            N_("question '%(key)s' depends on a missing question '%(on)s'"), key, key=key, on=on
        )
    if position[on] > index:
        raise _refuse(
            N_(
                "question '%(key)s' depends on '%(on)s', which comes after it: a condition "
                "may only look back (otherwise the questions could wait on each other in a "
                "cycle)"
            ),
            key,
            key=key,
            on=on,
        )
    target = next(q for q in earlier if q["key"] == on)
    if target["type"] == "text" or target["type"] == "date":
        raise _refuse(f"question {key!r}: a condition cannot depend on a {target['type']}", key)
    clean: dict[str, Any] = {"question": on}
    possible = _possible(target)
    if "in" in cond:
        values = cond["in"] if isinstance(cond["in"], list) else [cond["in"]]
        clean["in"] = [str(v).lower() if target["type"] == "yes_no" else str(v) for v in values]
        if not clean["in"]:
            raise _refuse(
                N_("question '%(key)s' is unreachable: its condition lists no answer"),
                key,
                key=key,
            )
        if possible is not None and not set(clean["in"]) & possible:
            raise _refuse(
                N_("question '%(key)s' is unreachable: no answer to '%(on)s' is one of %(values)s"),
                key,
                key=key,
                on=on,
                values=", ".join(clean["in"]),
            )
    else:
        if target["type"] not in ("number", "scale"):
            raise _refuse(f"question {key!r}: show_if on {on!r} needs 'in'", key)
        for bound in ("min", "max"):
            if cond.get(bound) is not None:
                try:
                    clean[bound] = float(cond[bound])
                except (TypeError, ValueError):
                    raise _refuse(
                        f"question {key!r}: show_if {bound} is not a number", key
                    ) from None
        if "min" not in clean and "max" not in clean:
            raise _refuse(f"question {key!r}: show_if needs 'in', 'min' or 'max'", key)
        lo = max(clean.get("min", -1e18), float(target.get("min", -1e18)))
        hi = min(clean.get("max", 1e18), float(target.get("max", 1e18)))
        if lo > hi:
            raise _refuse(
                N_("question '%(key)s' is unreachable: no answer to '%(on)s' lies in its range"),
                key,
                key=key,
                on=on,
            )
    if not reachable.get(on, False):
        raise _refuse(
            N_(
                "question '%(key)s' is unreachable: it depends on '%(on)s', which can never "
                "be shown"
            ),
            key,
            key=key,
            on=on,
        )
    reachable[key] = True
    return clean


# ------------------------------------------------------------------------- surveys, versions


def _name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise ValidationFailed("a survey name is 1 to 120 characters", field="name")
    return name


def do_create_survey(
    session: Session,
    *,
    name: str,
    definition: dict[str, Any],
    segment_id: int | None = None,
    web_enabled: bool = False,
    user_id: int | None = None,
) -> CampaignSurvey:
    """Create a survey with its version 1; refused (422) when the definition is bad."""
    name = _name(name)
    clean = clean_definition(definition)
    if session.scalar(select(CampaignSurvey.id).where(CampaignSurvey.name == name)):
        raise Conflict(f"a survey named {name!r} exists already", field="name")
    if segment_id is not None:
        get_segment(session, segment_id)
    survey = CampaignSurvey(name=name, segment_id=segment_id, web_enabled=web_enabled)
    session.add(survey)
    session.flush()
    version = CampaignSurveyVersion(
        survey_id=survey.id, version=1, definition=clean, created_by_id=user_id
    )
    session.add(version)
    session.flush()
    audit.record(
        session,
        user_id=user_id,
        action="survey.created",
        entity_type="campaign_survey",
        entity_id=survey.id,
        after={"name": name, "version": 1},
    )
    return survey


def do_edit_survey(
    session: Session,
    survey: CampaignSurvey,
    *,
    definition: dict[str, Any] | None = None,
    name: str | None = None,
    segment_id: int | None = None,
    set_segment: bool = False,
    web_enabled: bool | None = None,
    user_id: int | None = None,
) -> CampaignSurveyVersion:
    """Change a survey. A changed definition is a new version; responses and campaigns
    keep the version they started with. Returns the current version."""
    current = current_version(session, survey.id)
    if name is not None and _name(name) != survey.name:
        clash = session.scalar(select(CampaignSurvey.id).where(CampaignSurvey.name == name.strip()))
        if clash:
            raise Conflict(f"a survey named {name.strip()!r} exists already", field="name")
        survey.name = name.strip()
    if set_segment:
        if segment_id is not None:
            get_segment(session, segment_id)
        survey.segment_id = segment_id
    if web_enabled is not None:
        survey.web_enabled = web_enabled
    if definition is not None:
        clean = clean_definition(definition)
        if clean != current.definition:
            current = CampaignSurveyVersion(
                survey_id=survey.id,
                version=current.version + 1,
                definition=clean,
                created_by_id=user_id,
            )
            session.add(current)
    session.flush()
    audit.record(
        session,
        user_id=user_id,
        action="survey.saved",
        entity_type="campaign_survey",
        entity_id=survey.id,
        after={"name": survey.name, "version": current.version},
    )
    return current


def get_survey(session: Session, survey_id: int) -> CampaignSurvey:
    survey = session.get(CampaignSurvey, survey_id)
    if survey is None:
        raise NotFound(f"survey {survey_id} not found")
    return survey


def current_version(session: Session, survey_id: int) -> CampaignSurveyVersion:
    version = session.scalar(
        select(CampaignSurveyVersion)
        .where(CampaignSurveyVersion.survey_id == survey_id)
        .order_by(CampaignSurveyVersion.version.desc())
        .limit(1)
    )
    if version is None:
        raise NotFound(f"survey {survey_id} not found")
    return version


def pin_current_survey_version(session: Session, survey_id: int) -> int:
    """The id of the survey's current version, for a campaign to keep while it runs."""
    return current_version(session, survey_id).id


def in_target_group(session: Session, survey: CampaignSurvey, customer_id: int) -> bool:
    """Is the customer in the survey's segment (everyone, when it has none)?"""
    if survey.segment_id is None:
        return True
    segment = get_segment(session, survey.segment_id)
    flt = compile_filter(session, segment.filter)
    found = session.scalar(
        select(Customer.id).where(
            Customer.id == customer_id, Customer.merged_into_id.is_(None), flt
        )
    )
    return found is not None


def target_group_size(session: Session, survey: CampaignSurvey) -> int | None:
    if survey.segment_id is None:
        return None
    segment = get_segment(session, survey.segment_id)
    flt = compile_filter(session, segment.filter)
    return int(
        session.scalar(
            select(func.count(Customer.id)).where(Customer.merged_into_id.is_(None), flt)
        )
        or 0
    )


# --------------------------------------------------------------------------------- answers


def coerce_answer(question: dict[str, Any], raw: Any) -> Any:
    """The typed value of ``raw`` for ``question``; ValidationFailed with a message a
    person can act on. ``None`` and empty text mean "no answer"."""
    qtype = question["type"]
    key = question["key"]

    def bad(message: str) -> ValidationFailed:
        return ValidationFailed(message, field=key)

    if raw is None or (isinstance(raw, str) and not raw.strip()) or raw == []:
        return None
    if qtype == "single_choice":
        value = str(raw).strip()
        if value not in {o["value"] for o in question["options"]}:
            raise bad(_("Choose one of the options."))
        return value
    if qtype == "multiple_choice":
        items = raw if isinstance(raw, list) else [raw]
        allowed = [o["value"] for o in question["options"]]
        chosen = {str(v).strip() for v in items}
        if not chosen <= set(allowed):
            raise bad(_("Choose among the options only."))
        return [v for v in allowed if v in chosen]
    if qtype == "yes_no":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("yes", "true", "1", "y"):
            return True
        if text in ("no", "false", "0", "n"):
            return False
        raise bad(_("Answer yes or no."))
    if qtype in ("scale", "number"):
        if isinstance(raw, bool):
            raise bad(_("Enter a number."))
        try:
            number = Decimal(str(raw).strip().replace(",", "."))
        except InvalidOperation:
            raise bad(_("Enter a number.")) from None
        if not number.is_finite():
            raise bad(_("Enter a number."))
        if qtype == "scale":
            if number != number.to_integral_value() or not (
                question["min"] <= number <= question["max"]
            ):
                raise bad(
                    _(
                        "Choose a whole number from %(lo)s to %(hi)s.",
                        lo=question["min"],
                        hi=question["max"],
                    )
                )
            return int(number)
        if question.get("integer") and number != number.to_integral_value():
            raise bad(_("Enter a whole number."))
        if "min" in question and number < Decimal(str(question["min"])):
            raise bad(_("At least %(n)s, please.", n=f"{question['min']:g}"))
        if "max" in question and number > Decimal(str(question["max"])):
            raise bad(_("At most %(n)s, please.", n=f"{question['max']:g}"))
        if abs(number) >= Decimal(10) ** 14:
            raise bad(_("This number is too large."))
        exponent = number.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -4:
            raise bad(_("At most 4 decimal places, please."))
        return number
    if qtype == "date":
        if isinstance(raw, dt.date):
            return raw
        try:
            return dt.date.fromisoformat(str(raw).strip())
        except ValueError:
            raise bad(_("Please enter a date (YYYY-MM-DD).")) from None
    text = str(raw).replace("\r\n", "\n").strip()
    if "\x00" in text:
        raise bad(_("This contains characters we cannot store."))
    if len(text) > question.get("max_length", TEXT_LIMIT):
        raise bad(_("At most %(n)s characters, please.", n=question.get("max_length", TEXT_LIMIT)))
    return text


def canonical(question: dict[str, Any], value: Any) -> str | list[str] | None:
    """An answer as the strings conditions compare with (``yes``/``no``, ``7``...)."""
    if value is None:
        return None
    if question["type"] == "yes_no":
        return "yes" if value else "no"
    if question["type"] == "multiple_choice":
        return [str(v) for v in value]
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def is_shown(question: dict[str, Any], answers: dict[str, Any], by_key: dict[str, Any]) -> bool:
    """Does ``question`` apply given ``answers`` (typed values by key)?"""
    cond = question.get("show_if")
    if cond is None:
        return True
    target = by_key[cond["question"]]
    if not is_shown(target, answers, by_key):
        return False
    value = answers.get(cond["question"])
    if value is None:
        return False
    if "in" in cond:
        shown = canonical(target, value)
        if isinstance(shown, list):
            return bool(set(shown) & set(cond["in"]))
        return shown in cond["in"]
    number = float(value)
    return cond.get("min", -1e18) <= number <= cond.get("max", 1e18)


def shown_questions(definition: dict[str, Any], answers: dict[str, Any]) -> list[dict[str, Any]]:
    by_key = {q["key"]: q for q in definition["questions"]}
    return [q for q in definition["questions"] if is_shown(q, answers, by_key)]


def next_question(
    definition: dict[str, Any], answers: dict[str, Any], *, skip: frozenset[str] = frozenset()
) -> dict[str, Any] | None:
    """The first shown question without an answer and not in ``skip``; None when done."""
    for question in shown_questions(definition, answers):
        if question["key"] not in answers and question["key"] not in skip:
            return question
    return None


def validate_answers(
    definition: dict[str, Any], raw: dict[str, Any], *, require_complete: bool
) -> dict[str, Any]:
    """Typed answers for the shown questions of ``raw`` (answers to hidden questions are
    dropped); AnswersInvalid listing every problem. ``require_complete``: every shown
    required question must be answered."""
    by_key = {q["key"]: q for q in definition["questions"]}
    errors: dict[str, str] = {}
    unknown = [k for k in raw if k not in by_key]
    for key in unknown:
        errors[key] = _("There is no such question.")
    typed: dict[str, Any] = {}
    for question in definition["questions"]:
        key = question["key"]
        if key not in raw:
            continue
        try:
            value = coerce_answer(question, raw[key])
        except ValidationFailed as exc:
            errors[key] = exc.message
            continue
        if value is not None:
            typed[key] = value
    if errors:
        raise AnswersInvalid(errors)
    kept = {
        q["key"]: typed[q["key"]] for q in shown_questions(definition, typed) if q["key"] in typed
    }
    if require_complete:
        for question in shown_questions(definition, kept):
            if question["required"] and question["key"] not in kept:
                errors[question["key"]] = _("This question needs an answer.")
        if errors:
            raise AnswersInvalid(errors)
    return kept


# -------------------------------------------------------------------------------- responses


@dataclass(frozen=True)
class ResponseState:
    response: CampaignSurveyResponse
    definition: dict[str, Any]
    answers: dict[str, Any]


def get_response(session: Session, response_id: int) -> CampaignSurveyResponse:
    response = session.get(CampaignSurveyResponse, response_id)
    if response is None:
        raise NotFound(f"survey response {response_id} not found")
    return response


def definition_of(session: Session, response: CampaignSurveyResponse) -> dict[str, Any]:
    version = session.get(CampaignSurveyVersion, response.survey_version_id)
    assert version is not None
    return version.definition


def do_start_response(
    session: Session,
    *,
    survey_version_id: int,
    channel: str,
    customer_id: int | None = None,
    interaction_id: int | None = None,
    agent_id: int | None = None,
    external_ref: str | None = None,
) -> CampaignSurveyResponse:
    """Open a response on a survey version; with ``external_ref`` a repeat returns the
    response already opened (a webhook retried by Twilio)."""
    if channel not in SURVEY_CHANNELS:
        raise ValidationFailed(
            f"channel must be one of {', '.join(SURVEY_CHANNELS)}", field="channel"
        )
    if session.get(CampaignSurveyVersion, survey_version_id) is None:
        raise NotFound(f"survey version {survey_version_id} not found")
    if customer_id is not None and session.get(Customer, customer_id) is None:
        raise NotFound(f"customer {customer_id} not found", field="customer_id")
    if interaction_id is not None and session.get(Interaction, interaction_id) is None:
        raise NotFound(f"interaction {interaction_id} not found", field="interaction_id")
    if external_ref is not None:
        existing = session.scalar(
            select(CampaignSurveyResponse).where(
                CampaignSurveyResponse.channel == channel,
                CampaignSurveyResponse.external_ref == external_ref,
            )
        )
        if existing is not None:
            return existing
    response = CampaignSurveyResponse(
        survey_version_id=survey_version_id,
        channel=channel,
        customer_id=customer_id,
        interaction_id=interaction_id,
        agent_id=agent_id,
        external_ref=external_ref,
        completed=False,
        partial=False,
    )
    session.add(response)
    session.flush()
    return response


def _answer_rows(session: Session, response_id: int) -> list[CampaignSurveyAnswer]:
    return list(
        session.scalars(
            select(CampaignSurveyAnswer)
            .where(CampaignSurveyAnswer.response_id == response_id)
            .order_by(CampaignSurveyAnswer.id)
        )
    )


def _value_of(row: CampaignSurveyAnswer) -> Any:
    if row.question_type == "yes_no":
        return row.value_bool
    if row.question_type == "multiple_choice":
        return list(row.value_choices or [])
    if row.question_type == "scale":
        return None if row.value_number is None else int(row.value_number)
    if row.question_type == "number":
        return None if row.value_number is None else row.value_number.normalize()
    if row.question_type == "date":
        return row.value_date
    return row.value_text


def answers_of(session: Session, response: CampaignSurveyResponse) -> dict[str, Any]:
    """The response's answers, typed, by question key."""
    return {row.question_key: _value_of(row) for row in _answer_rows(session, response.id)}


def _store(row: CampaignSurveyAnswer, question: dict[str, Any], value: Any) -> None:
    row.question_type = question["type"]
    row.value_text = row.value_date = row.value_bool = row.value_choices = None
    row.value_number = None
    qtype = question["type"]
    if qtype == "yes_no":
        row.value_bool = bool(value)
    elif qtype == "multiple_choice":
        row.value_choices = list(value)
    elif qtype in ("scale", "number"):
        row.value_number = Decimal(value)
    elif qtype == "date":
        row.value_date = value
    else:
        row.value_text = str(value)
    row.answered_at = utcnow()


def do_submit_answers(
    session: Session, response: CampaignSurveyResponse, raw: dict[str, Any]
) -> ResponseState:
    """Record answers (question key -> raw value; an empty value clears an answer).
    Every answer is checked before anything is written (AnswersInvalid, 422); answers to
    questions that the new answers hide are removed."""
    if response.completed:
        raise Conflict("this survey response is completed already")
    definition = definition_of(session, response)
    by_key = {q["key"]: q for q in definition["questions"]}
    errors: dict[str, str] = {}
    typed: dict[str, Any] = {}
    cleared: set[str] = set()
    for key, value in raw.items():
        question = by_key.get(key)
        if question is None:
            errors[key] = _("There is no such question.")
            continue
        try:
            coerced = coerce_answer(question, value)
        except ValidationFailed as exc:
            errors[key] = exc.message
            continue
        if coerced is None:
            cleared.add(key)
        else:
            typed[key] = coerced
    if errors:
        raise AnswersInvalid(errors)
    rows = {row.question_key: row for row in _answer_rows(session, response.id)}
    answers = {k: _value_of(r) for k, r in rows.items() if k not in cleared}
    answers.update(typed)
    hidden = set(answers) - {q["key"] for q in shown_questions(definition, answers)}
    if hidden & set(typed):
        first = sorted(hidden & set(typed))[0]
        raise AnswersInvalid({first: _("This question does not apply given the earlier answers.")})
    for key in set(rows) & (cleared | hidden):
        session.delete(rows.pop(key))
        answers.pop(key, None)
    for key, value in typed.items():
        row = rows.get(key)
        if row is None:
            row = CampaignSurveyAnswer(response_id=response.id, question_key=key)
            session.add(row)
        _store(row, by_key[key], value)
    session.flush()
    return ResponseState(response, definition, answers)


def do_complete_response(
    session: Session, response: CampaignSurveyResponse, *, skipped: frozenset[str] = frozenset()
) -> CampaignSurveyResponse:
    """Close a response. Every shown required question must be answered, except those the
    channel could not ask (``skipped``), which mark the response ``partial``."""
    if response.completed:
        return response
    definition = definition_of(session, response)
    answers = answers_of(session, response)
    missing = {
        q["key"]: _("This question needs an answer.")
        for q in shown_questions(definition, answers)
        if q["required"] and q["key"] not in answers and q["key"] not in skipped
    }
    if missing:
        raise AnswersInvalid(missing)
    unanswered = [q["key"] for q in shown_questions(definition, answers) if q["key"] not in answers]
    response.partial = any(k in skipped for k in unanswered)
    response.completed = True
    response.completed_at = utcnow()
    session.flush()
    return response


def do_record_response(
    session: Session,
    *,
    survey_version_id: int,
    channel: str,
    answers: dict[str, Any],
    customer_id: int | None = None,
    interaction_id: int | None = None,
    agent_id: int | None = None,
    external_ref: str | None = None,
) -> CampaignSurveyResponse:
    """A whole response at once (the web form): validated, stored and completed."""
    response = do_start_response(
        session,
        survey_version_id=survey_version_id,
        channel=channel,
        customer_id=customer_id,
        interaction_id=interaction_id,
        agent_id=agent_id,
        external_ref=external_ref,
    )
    if response.completed:
        return response
    definition = definition_of(session, response)
    typed = validate_answers(definition, answers, require_complete=True)
    do_submit_answers(session, response, typed)
    return do_complete_response(session, response)


def state_json(state: ResponseState) -> dict[str, Any]:
    """What a client driving the survey needs: the response, the answers so far and the
    next question (None when every shown question is answered)."""
    response = state.response
    nxt = next_question(state.definition, state.answers)
    return {
        "response_id": response.id,
        "survey_version_id": response.survey_version_id,
        "customer_id": response.customer_id,
        "interaction_id": response.interaction_id,
        "channel": response.channel,
        "completed": response.completed,
        "partial": response.partial,
        "answers": {k: _json_value(v) for k, v in state.answers.items()},
        "questions": shown_questions(state.definition, state.answers),
        "next_question": nxt,
    }


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def response_state(session: Session, response: CampaignSurveyResponse) -> ResponseState:
    return ResponseState(response, definition_of(session, response), answers_of(session, response))


# ---------------------------------------------------------------------------------- results


def _versions(session: Session, survey_id: int) -> list[CampaignSurveyVersion]:
    return list(
        session.scalars(
            select(CampaignSurveyVersion)
            .where(CampaignSurveyVersion.survey_id == survey_id)
            .order_by(CampaignSurveyVersion.version)
        )
    )


def survey_results(session: Session, survey_id: int) -> dict[str, Any]:
    """Per question of the current version: how many answered and the distribution of the
    answers (every version's answers count under the same question key), plus response
    totals per channel."""
    survey = get_survey(session, survey_id)
    versions = _versions(session, survey.id)
    definition = versions[-1].definition
    version_ids = [v.id for v in versions]
    responses = list(
        session.scalars(
            select(CampaignSurveyResponse).where(
                CampaignSurveyResponse.survey_version_id.in_(version_ids)
            )
        )
    )
    by_channel = Counter(r.channel for r in responses)
    done = Counter(r.channel for r in responses if r.completed)
    rows = list(
        session.scalars(
            select(CampaignSurveyAnswer)
            .join(CampaignSurveyResponse)
            .where(CampaignSurveyResponse.survey_version_id.in_(version_ids))
        )
    )
    by_question: dict[str, list[Any]] = {}
    for row in rows:
        by_question.setdefault(row.question_key, []).append(_value_of(row))
    questions = []
    for q in definition["questions"]:
        values = [v for v in by_question.get(q["key"], []) if v is not None]
        questions.append(_distribution(q, values))
    return {
        "survey_id": survey.id,
        "name": survey.name,
        "version": versions[-1].version,
        "responses": len(responses),
        "completed": sum(done.values()),
        "partial": sum(1 for r in responses if r.partial),
        "by_channel": {
            c: {"started": by_channel[c], "completed": done[c]} for c in SURVEY_CHANNELS
        },
        "questions": questions,
    }


def _distribution(q: dict[str, Any], values: list[Any]) -> dict[str, Any]:
    qtype = q["type"]
    out: dict[str, Any] = {
        "key": q["key"],
        "type": qtype,
        "text": q["text"],
        "answered": len(values),
    }
    counts: list[dict[str, Any]] = []
    if qtype in CHOICE_TYPES:
        c: Counter[str] = Counter()
        for v in values:
            c.update(v if isinstance(v, list) else [v])
        counts = [
            {"value": o["value"], "label": o["label"], "count": c[o["value"]]} for o in q["options"]
        ]
    elif qtype == "yes_no":
        c2 = Counter(bool(v) for v in values)
        counts = [
            {"value": "yes", "label": "yes", "count": c2[True]},
            {"value": "no", "label": "no", "count": c2[False]},
        ]
    elif qtype == "scale":
        c3 = Counter(int(v) for v in values)
        counts = [
            {"value": str(n), "label": str(n), "count": c3[n]}
            for n in range(q["min"], q["max"] + 1)
        ]
    elif qtype == "number":
        if values:
            nums = [Decimal(v) for v in values]
            out["min"] = format(min(nums).normalize(), "f")
            out["max"] = format(max(nums).normalize(), "f")
            mean = sum(nums, Decimal(0)) / len(nums)
            out["mean"] = format(mean.quantize(Decimal("0.01")), "f")
    elif qtype == "date":
        if values:
            out["min"], out["max"] = min(values).isoformat(), max(values).isoformat()
    else:
        out["samples"] = [str(v)[:200] for v in values[-5:]]
    if counts:
        out["counts"] = counts
    if qtype in ("scale",) and values:
        out["mean"] = format((Decimal(sum(values)) / len(values)).quantize(Decimal("0.01")), "f")
    return out


def export_rows(session: Session, survey_id: int) -> tuple[list[str], list[list[Any]]]:
    """Header and one row per response (answers of the current version's questions)."""
    survey = get_survey(session, survey_id)
    versions = _versions(session, survey.id)
    definition = versions[-1].definition
    number = {v.id: v.version for v in versions}
    keys = [q["key"] for q in definition["questions"]]
    header = [
        "response_id",
        "survey_version",
        "channel",
        "customer_id",
        "customer",
        "interaction_id",
        "completed",
        "partial",
        "started_at",
        *keys,
    ]
    responses = session.scalars(
        select(CampaignSurveyResponse)
        .where(CampaignSurveyResponse.survey_version_id.in_(list(number)))
        .order_by(CampaignSurveyResponse.id)
    )
    rows: list[list[Any]] = []
    for r in responses:
        answers = answers_of(session, r)
        customer = session.get(Customer, r.customer_id) if r.customer_id else None
        row: list[Any] = [
            r.id,
            number[r.survey_version_id],
            r.channel,
            r.customer_id,
            customer.display_name if customer else "",
            r.interaction_id,
            r.completed,
            r.partial,
            r.started_at.isoformat(),
        ]
        for key in keys:
            value = answers.get(key)
            if isinstance(value, list):
                value = ", ".join(value)
            elif isinstance(value, bool):
                value = "yes" if value else "no"
            row.append(_json_value(value) if value is not None else "")
        rows.append(row)
    return header, rows


def customer_responses(
    session: Session, customer_id: int, *, limit: int = 5
) -> list[dict[str, Any]]:
    """The customer's latest survey responses with their answers, for the customer card."""
    responses = session.scalars(
        select(CampaignSurveyResponse)
        .where(CampaignSurveyResponse.customer_id == customer_id)
        .order_by(CampaignSurveyResponse.started_at.desc(), CampaignSurveyResponse.id.desc())
        .limit(limit)
    )
    out = []
    for r in responses:
        version = session.get(CampaignSurveyVersion, r.survey_version_id)
        assert version is not None
        survey = session.get(CampaignSurvey, version.survey_id)
        answers = answers_of(session, r)
        by_key = {q["key"]: q for q in version.definition["questions"]}
        out.append(
            {
                "response_id": r.id,
                "survey_id": version.survey_id,
                "survey": survey.name if survey else "",
                "version": version.version,
                "channel": r.channel,
                "interaction_id": r.interaction_id,
                "completed": r.completed,
                "partial": r.partial,
                "started_at": r.started_at.isoformat(),
                "answers": [
                    {
                        "key": key,
                        "type": by_key[key]["type"] if key in by_key else "text",
                        "question": by_key[key]["text"] if key in by_key else key,
                        "value": display_value(by_key.get(key), value),
                    }
                    for key, value in answers.items()
                ],
            }
        )
    return out


def display_value(question: dict[str, Any] | None, value: Any) -> str:
    """An answer as text for people: option labels, yes/no, ISO dates."""
    if value is None:
        return ""
    if question is not None and question["type"] in CHOICE_TYPES:
        labels = {o["value"]: o["label"] for o in question["options"]}
        items = value if isinstance(value, list) else [value]
        return ", ".join(str(labels.get(v, v)) for v in items)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(_json_value(value))


def card_section(session: Session, customer_id: int) -> list[dict[str, Any]]:
    """The customer card's ``sections["surveys"]``: the latest responses and answers."""
    return customer_responses(session, customer_id, limit=3)
