"""Call scripts: a graph of steps the agent walks through with the customer.

A definition::

    {"start": "hello",
     "steps": [
       {"id": "hello", "kind": "text", "text": "Good morning {{ customer.first_name }}!",
        "next": "interest"},
       {"id": "interest", "kind": "question", "text": "Would you like to hear our offer?",
        "answers": [{"value": "yes", "label": "Yes", "next": "offer"},
                    {"value": "no", "label": "No", "next": "bye"}]},
       {"id": "offer", "kind": "text", "text": "...", "next": "close"},
       {"id": "check", "kind": "branch", "on": "interest",
        "cases": [{"value": "yes", "next": "close"}], "default": "bye"},
       {"id": "again", "kind": "jump", "to": "hello"},
       {"id": "close", "kind": "end", "disposition": "sale"},
       {"id": "bye", "kind": "end", "disposition": "not_interested"}]}

Kinds: ``text`` (says ``text``, goes to ``next``), ``question`` (one of ``answers``, each
with its ``next``), ``branch`` (on an earlier question's answer: ``cases`` and a
``default``), ``jump`` (to another step) and ``end`` (with a ``disposition`` code). Texts
are Jinja templates rendered in a **sandboxed** environment, the result escaped, given
``customer`` (name fields, city, country, custom fields by key) and ``answers``.

:func:`clean_definition` refuses, naming the step: a jump to a missing step, a step that
cannot be reached from the start, a step from which no end can be reached (a cycle
without exit), an end without a disposition and a text that is not a valid template.

Versions: :func:`do_create_script` writes version 1, :func:`do_edit_script` a new version
for a changed definition; a campaign keeps the version it started with
(:func:`pin_current_version`).
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any

from jinja2 import ChainableUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.survey_models import CampaignScript, CampaignScriptVersion
from crm_core.errors import N_, Conflict, NotFound, ValidationFailed
from crm_core.models import Customer
from crm_core.services import audit

STEP_KINDS = ("text", "question", "branch", "jump", "end")
STEP_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
CODE_RE = re.compile(r"^[a-z0-9_]{1,40}$")
MAX_STEPS = 200
TEXT_LIMIT = 5000

# Autoescaping is off while rendering because the whole result is escaped afterwards: the
# script's own words as well as the customer's data are text, never markup.
# A missing field renders as nothing (ChainableUndefined: also ``missing.field``).
_env = SandboxedEnvironment(autoescape=False, undefined=ChainableUndefined)


def _refuse(message: str, at: str | None = None, **params: Any) -> ValidationFailed:
    """A refused script; ``message`` may be an ``N_`` template filled from ``params`` (the
    reader gets it translated), with ``at`` naming the step at fault."""
    return ValidationFailed(message, field=f"steps.{at}" if at else "steps", **params)


def _targets(step: dict[str, Any]) -> list[str]:
    kind = step["kind"]
    if kind == "text":
        return [step["next"]]
    if kind == "question":
        return [a["next"] for a in step["answers"]]
    if kind == "branch":
        return [c["next"] for c in step["cases"]] + [step["default"]]
    if kind == "jump":
        return [step["to"]]
    return []


def _ref(raw: dict[str, Any], name: str, step_id: str) -> str:
    value = str(raw.get(name) or "").strip()
    if not value:
        raise _refuse(f"step {step_id!r} needs {name!r} (the step that follows)", step_id)
    return value


def clean_definition(raw: Any) -> dict[str, Any]:
    """Check a script; a normalised copy, or ValidationFailed naming the step at fault."""
    if not isinstance(raw, dict):
        raise ValidationFailed("a script definition is an object", field="definition")
    steps_raw = raw.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        raise _refuse("a script needs at least one step")
    if len(steps_raw) > MAX_STEPS:
        raise _refuse(f"a script has at most {MAX_STEPS} steps")
    steps: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, s in enumerate(steps_raw):
        if not isinstance(s, dict):
            raise _refuse(f"step {i + 1} is not an object")
        sid = str(s.get("id") or "").strip()
        if not STEP_ID_RE.match(sid):
            raise _refuse(f"step {i + 1}: id {sid!r} must be 1-40 letters, digits, _ or -")
        if sid in seen:
            raise _refuse(f"step id {sid!r} is used twice", sid)
        seen.add(sid)
        kind = str(s.get("kind") or "")
        if kind not in STEP_KINDS:
            raise _refuse(f"step {sid!r}: kind {kind!r} is not one of {', '.join(STEP_KINDS)}", sid)
        step: dict[str, Any] = {"id": sid, "kind": kind}
        if kind in ("text", "question", "end") and s.get("text"):
            text = str(s["text"])[:TEXT_LIMIT]
            try:
                _env.from_string(text)
            except TemplateSyntaxError as exc:
                raise _refuse(
                    f"step {sid!r}: the text is not a valid template: {exc.message}", sid
                ) from None
            step["text"] = text
        if kind in ("text", "question") and "text" not in step:
            raise _refuse(f"step {sid!r} needs a text", sid)
        if kind == "text":
            step["next"] = _ref(s, "next", sid)
        elif kind == "question":
            answers = s.get("answers")
            if not isinstance(answers, list) or len(answers) < 2:
                raise _refuse(f"step {sid!r}: a question needs at least two answers", sid)
            clean_answers = []
            for a in answers:
                if not isinstance(a, dict) or not str(a.get("value") or "").strip():
                    raise _refuse(f"step {sid!r}: every answer needs a value", sid)
                value = str(a["value"]).strip()[:80]
                clean_answers.append(
                    {
                        "value": value,
                        "label": str(a.get("label") or value)[:200],
                        "next": _ref(a, "next", sid),
                    }
                )
            if len({a["value"] for a in clean_answers}) != len(clean_answers):
                raise _refuse(f"step {sid!r}: answer values must be unique", sid)
            step["answers"] = clean_answers
        elif kind == "branch":
            step["on"] = _ref(s, "on", sid)
            cases = s.get("cases")
            if not isinstance(cases, list) or not cases:
                raise _refuse(f"step {sid!r}: a branch needs cases", sid)
            step["cases"] = [
                {"value": str(c.get("value") or "")[:80], "next": _ref(c, "next", sid)}
                for c in cases
                if isinstance(c, dict)
            ]
            step["default"] = _ref(s, "default", sid)
        elif kind == "jump":
            step["to"] = _ref(s, "to", sid)
        else:
            code = str(s.get("disposition") or "").strip()
            if not CODE_RE.match(code):
                raise _refuse(
                    f"step {sid!r}: an end needs a disposition code (lower-case letters, "
                    "digits and _)",
                    sid,
                )
            step["disposition"] = code
        steps.append(step)
    by_id = {s["id"]: s for s in steps}
    start = str(raw.get("start") or steps[0]["id"])
    if start not in by_id:
        raise _refuse(N_("the start step '%(start)s' does not exist"), start=start)
    for step in steps:
        for target in _targets(step):
            if target not in by_id:
                raise _refuse(
                    N_("step '%(step)s' jumps to a missing step '%(target)s'"),
                    step["id"],
                    step=step["id"],
                    target=target,
                )
        if step["kind"] == "branch":
            on = by_id.get(step["on"])
            if on is None or on["kind"] != "question":
                raise _refuse(
                    f"step {step['id']!r} branches on {step['on']!r}, which is not a question",
                    step["id"],
                )
    _check_graph(start, steps, by_id)
    return {"start": start, "steps": steps}


def _check_graph(start: str, steps: list[dict[str, Any]], by_id: dict[str, dict[str, Any]]) -> None:
    reached = {start}
    todo = deque([start])
    while todo:
        for target in _targets(by_id[todo.popleft()]):
            if target not in reached:
                reached.add(target)
                todo.append(target)
    for step in steps:
        if step["id"] not in reached:
            raise _refuse(
                N_("step '%(step)s' is unreachable from the start '%(start)s'"),
                step["id"],
                step=step["id"],
                start=start,
            )
    # Steps that can reach an end, found backwards from the ends.
    incoming: dict[str, list[str]] = {s["id"]: [] for s in steps}
    for step in steps:
        for target in _targets(step):
            incoming[target].append(step["id"])
    finishing = {s["id"] for s in steps if s["kind"] == "end"}
    todo = deque(finishing)
    while todo:
        for source in incoming[todo.popleft()]:
            if source not in finishing:
                finishing.add(source)
                todo.append(source)
    for step in steps:
        if step["id"] not in finishing:
            raise _refuse(
                N_("step '%(step)s' can never reach an end: it is caught in a cycle without exit"),
                step["id"],
                step=step["id"],
            )


# ------------------------------------------------------------------------------- walking


def customer_context(session: Session, customer_id: int | None) -> dict[str, Any]:
    """What a script's texts may use as ``customer``."""
    if customer_id is None:
        return {}
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} not found", field="customer_id")
    fields = {v.field.key: v.value for v in customer.custom_values}
    return {
        "name": customer.display_name,
        "first_name": customer.first_name or "",
        "last_name": customer.last_name or "",
        "organisation_name": customer.organisation_name or "",
        "city": customer.city or "",
        "country": customer.country or "",
        "fields": fields,
    }


def render_text(
    text: str, customer: dict[str, Any], answers: dict[str, str] | None = None
) -> Markup:
    """``text`` with the customer's fields filled in, sandboxed, as escaped HTML. A template
    that tries to reach outside its data renders as the plain text instead."""
    try:
        return Markup.escape(
            _env.from_string(text).render(customer=customer, answers=answers or {})
        )
    except (TemplateError, ArithmeticError, TypeError, ValueError):
        # SecurityError (the sandbox said no) and any other failure of a supervisor's text
        # show the text as written rather than break the agent's screen.
        return Markup.escape(text)


def next_step_id(
    definition: dict[str, Any], step_id: str, answer: str | None, answers: dict[str, str]
) -> str | None:
    """The step after ``step_id`` (given its ``answer`` for a question); jumps and branches
    are followed. None after an end. ValidationFailed for an answer the question lacks."""
    by_id = {s["id"]: s for s in definition["steps"]}
    step = by_id.get(step_id)
    if step is None:
        raise NotFound(f"no step {step_id!r}", field="step")
    if step["kind"] == "end":
        return None
    if step["kind"] == "question":
        match = next((a for a in step["answers"] if a["value"] == answer), None)
        if match is None:
            raise ValidationFailed(f"step {step_id!r}: choose one of the answers", field="answer")
        return resolve(definition, match["next"], answers)
    return resolve(definition, _targets(step)[0], answers)


def resolve(definition: dict[str, Any], step_id: str, answers: dict[str, str]) -> str:
    """Follow jumps and branches from ``step_id`` to the next step the agent sees."""
    by_id = {s["id"]: s for s in definition["steps"]}
    for _hop in range(len(by_id) + 1):
        step = by_id[step_id]
        if step["kind"] == "jump":
            step_id = step["to"]
        elif step["kind"] == "branch":
            given = answers.get(step["on"])
            step_id = next(
                (c["next"] for c in step["cases"] if c["value"] == given), step["default"]
            )
        else:
            return step_id
    raise ValidationFailed("the script loops through jumps and branches only", field="steps")


def step_view(
    definition: dict[str, Any], step_id: str, customer: dict[str, Any], answers: dict[str, str]
) -> dict[str, Any]:
    """A step as the console shows it (text rendered, escaped)."""
    step = next(s for s in definition["steps"] if s["id"] == step_id)
    out: dict[str, Any] = {"id": step["id"], "kind": step["kind"]}
    if "text" in step:
        out["html"] = str(render_text(step["text"], customer, answers))
    if step["kind"] == "question":
        out["answers"] = [{"value": a["value"], "label": a["label"]} for a in step["answers"]]
    if step["kind"] == "end":
        out["disposition"] = step["disposition"]
    return out


# -------------------------------------------------------------------------- scripts, versions


def do_create_script(
    session: Session, *, name: str, definition: dict[str, Any], user_id: int | None = None
) -> CampaignScript:
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise ValidationFailed("a script name is 1 to 120 characters", field="name")
    clean = clean_definition(definition)
    if session.scalar(select(CampaignScript.id).where(CampaignScript.name == name)):
        raise Conflict(f"a script named {name!r} exists already", field="name")
    script = CampaignScript(name=name)
    session.add(script)
    session.flush()
    session.add(
        CampaignScriptVersion(
            script_id=script.id, version=1, definition=clean, created_by_id=user_id
        )
    )
    session.flush()
    audit.record(
        session,
        user_id=user_id,
        action="script.created",
        entity_type="campaign_script",
        entity_id=script.id,
        after={"name": name, "version": 1},
    )
    return script


def do_edit_script(
    session: Session,
    script: CampaignScript,
    *,
    definition: dict[str, Any],
    user_id: int | None = None,
) -> CampaignScriptVersion:
    """Save a changed definition as a new version (an unchanged one is a no-op)."""
    current = current_version(session, script.id)
    clean = clean_definition(definition)
    if clean == current.definition:
        return current
    version = CampaignScriptVersion(
        script_id=script.id, version=current.version + 1, definition=clean, created_by_id=user_id
    )
    session.add(version)
    session.flush()
    audit.record(
        session,
        user_id=user_id,
        action="script.saved",
        entity_type="campaign_script",
        entity_id=script.id,
        after={"version": version.version},
    )
    return version


def get_script(session: Session, script_id: int) -> CampaignScript:
    script = session.get(CampaignScript, script_id)
    if script is None:
        raise NotFound(f"script {script_id} not found")
    return script


def current_version(session: Session, script_id: int) -> CampaignScriptVersion:
    version = session.scalar(
        select(CampaignScriptVersion)
        .where(CampaignScriptVersion.script_id == script_id)
        .order_by(CampaignScriptVersion.version.desc())
        .limit(1)
    )
    if version is None:
        raise NotFound(f"script {script_id} not found")
    return version


def get_version(session: Session, version_id: int) -> CampaignScriptVersion:
    version = session.get(CampaignScriptVersion, version_id)
    if version is None:
        raise NotFound(f"script version {version_id} not found")
    return version


def pin_current_version(session: Session, script_id: int) -> int:
    """The id of the script's current version: a campaign stores it when it starts and
    keeps walking that version however the script is edited later."""
    return current_version(session, script_id).id
