"""Call scripts: validation that names the step at fault, sandboxed escaped rendering,
walking branches and jumps, versions and pinning."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from campaigns.scripts import (
    clean_definition,
    current_version,
    do_create_script,
    do_edit_script,
    next_step_id,
    pin_current_version,
    render_text,
    resolve,
)
from crm_core.errors import ValidationFailed
from tests.factories import PASSWORD, make_customer, make_user

SCRIPT: dict[str, Any] = {
    "start": "hello",
    "steps": [
        {"id": "hello", "kind": "text", "text": "Hi {{ customer.first_name }}!", "next": "ask"},
        {
            "id": "ask",
            "kind": "question",
            "text": "Interested?",
            "answers": [
                {"value": "yes", "label": "Yes", "next": "check"},
                {"value": "no", "label": "No", "next": "retry"},
            ],
        },
        {
            "id": "check",
            "kind": "branch",
            "on": "ask",
            "cases": [{"value": "yes", "next": "sale"}],
            "default": "bye",
        },
        # A loop back to the question is fine: it has a way out.
        {"id": "retry", "kind": "jump", "to": "ask2"},
        {
            "id": "ask2",
            "kind": "question",
            "text": "Sure?",
            "answers": [
                {"value": "again", "label": "Ask again", "next": "ask"},
                {"value": "stop", "label": "Stop", "next": "bye"},
            ],
        },
        {"id": "sale", "kind": "end", "text": "Great.", "disposition": "sale"},
        {"id": "bye", "kind": "end", "disposition": "not_interested"},
    ],
}


def variant(change: Any) -> dict[str, Any]:
    script = copy.deepcopy(SCRIPT)
    change(script)
    return script


def refused(script: dict[str, Any]) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as info:
        clean_definition(script)
    return info.value


def test_a_good_script_passes_with_its_loop() -> None:
    clean = clean_definition(SCRIPT)
    assert clean["start"] == "hello" and len(clean["steps"]) == 7


def test_unreachable_step_is_named() -> None:
    def add_orphan(s: dict[str, Any]) -> None:
        s["steps"].append({"id": "orphan", "kind": "end", "disposition": "sale"})

    exc = refused(variant(add_orphan))
    assert "'orphan' is unreachable" in exc.message and exc.field == "steps.orphan"


def test_jump_to_a_missing_step_is_named() -> None:
    def break_jump(s: dict[str, Any]) -> None:
        s["steps"][3]["to"] = "nowhere"

    exc = refused(variant(break_jump))
    assert exc.message == "step 'retry' jumps to a missing step 'nowhere'"


def test_cycle_without_exit_is_named() -> None:
    def trap(s: dict[str, Any]) -> None:
        # ask2 -> retry -> ask2 whatever the answer: once there, no end is reachable.
        s["steps"][4]["answers"][0]["next"] = "retry"
        s["steps"][4]["answers"][1]["next"] = "retry"

    exc = refused(variant(trap))
    assert "can never reach an end" in exc.message and "cycle" in exc.message
    assert exc.field in {"steps.retry", "steps.ask2"}

    def self_loop(s: dict[str, Any]) -> None:
        s["steps"][0]["next"] = "hello"

    exc = refused(variant(self_loop))
    assert exc.message.startswith("step 'ask' is unreachable") or "'hello' can never" in (
        exc.message
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: s["steps"][5].pop("disposition"), "'sale': an end needs a disposition"),
        (lambda s: s["steps"][2].update(on="hello"), "which is not a question"),
        (lambda s: s["steps"][0].update(text="{{ oops"), "not a valid template"),
        (lambda s: s["steps"][1].update(answers=[s["steps"][1]["answers"][0]]), "two answers"),
        (lambda s: s.update(start="none"), "start step 'none' does not exist"),
        (lambda s: s["steps"].append(dict(s["steps"][0])), "used twice"),
    ],
)
def test_other_mistakes_are_named(change: Any, expected: str) -> None:
    assert expected in refused(variant(change)).message


def test_rendering_is_sandboxed_and_escaped() -> None:
    customer = {"first_name": "<b>Ann</b>", "fields": {"plan": "Gold & Co"}}
    assert str(render_text("Hi {{ customer.first_name }}", customer)) == (
        "Hi &lt;b&gt;Ann&lt;/b&gt;"
    )
    assert str(render_text("<i>{{ customer.fields.plan }}</i>", customer)) == (
        "&lt;i&gt;Gold &amp; Co&lt;/i&gt;"
    )
    escape = "{{ customer.__class__.__mro__[1].__subclasses__() }}"
    assert str(render_text(escape, customer)) == escape.replace("'", "&#39;")
    assert str(render_text("{{ missing.field }}", customer)) == ""


def test_walking_follows_answers_branches_and_jumps() -> None:
    clean = clean_definition(SCRIPT)
    assert resolve(clean, clean["start"], {}) == "hello"
    assert next_step_id(clean, "hello", None, {}) == "ask"
    assert next_step_id(clean, "ask", "yes", {"ask": "yes"}) == "sale"
    assert next_step_id(clean, "ask", "no", {"ask": "no"}) == "ask2"  # through the jump
    assert next_step_id(clean, "sale", None, {}) is None
    with pytest.raises(ValidationFailed):
        next_step_id(clean, "ask", "maybe", {})


def test_versions_and_pinning(session: Session) -> None:
    script = do_create_script(session, name="Offer", definition=SCRIPT)
    pinned = pin_current_version(session, script.id)

    def reword(s: dict[str, Any]) -> None:
        s["steps"][0]["text"] = "Good morning {{ customer.first_name }}"

    second = do_edit_script(session, script, definition=variant(reword))
    session.commit()
    assert second.version == 2 and second.id != pinned
    assert pin_current_version(session, script.id) == second.id
    assert current_version(session, script.id).definition["steps"][0]["text"].startswith("Good")
    # The pinned version is untouched; saving the same text again is no new version.
    assert do_edit_script(session, script, definition=variant(reword)).id == second.id


def test_designer_and_walk_api(client: FlaskClient, session: Session) -> None:
    boss = make_user(session, role="supervisor")
    customer = make_customer(session, first_name="Zoë")
    session.commit()
    assert client.post("/login", data={"email": boss.email, "password": PASSWORD}).status_code
    from campaigns.script_views import rows_of

    def form(script: dict[str, Any]) -> dict[str, str]:
        data = {"name": "Offer", "start": script["start"]}
        for n, row in enumerate(rows_of(clean_definition(script))):
            data.update({f"step-{n}-{k}": v for k, v in row.items()})
        return data

    data = form(SCRIPT)
    data.update({"step-7-id": "lost", "step-7-kind": "end", "step-7-disposition": "sale"})
    data.update({"step-8-id": "", "step-8-kind": "text"})  # a blank row is dropped
    page = client.post("/campaigns/scripts/new", data=data)
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert "step &#39;lost&#39; is unreachable" in html
    assert 'value="lost"' in html  # what the supervisor typed is kept
    saved = client.post("/campaigns/scripts/new", data=form(SCRIPT))
    assert saved.status_code == 302
    editor = client.get(saved.headers["Location"])
    assert editor.status_code == 200 and "Hi Anna!" in editor.get_data(as_text=True)
    assert "yes | Yes | check" in editor.get_data(as_text=True)
    session.rollback()
    from campaigns.survey_models import CampaignScriptVersion

    version_id = session.query(CampaignScriptVersion.id).scalar()
    walk = client.post(
        f"/campaigns/api/script-versions/{version_id}/step", json={"customer_id": customer.id}
    )
    assert walk.get_json()["step"] == {"id": "hello", "kind": "text", "html": "Hi Zoë!"}
    nxt = client.post(
        f"/campaigns/api/script-versions/{version_id}/step",
        json={"customer_id": customer.id, "step": "ask", "answer": "yes"},
    ).get_json()
    assert nxt["step"]["disposition"] == "sale" and nxt["answers"] == {"ask": "yes"}
    wrong = client.post(
        f"/campaigns/api/script-versions/{version_id}/step", json={"step": "ask", "answer": "x"}
    )
    assert wrong.status_code == 422 and wrong.get_json()["field"] == "answer"


def test_refusals_speak_the_readers_language(app: Any) -> None:
    from flask_babel import force_locale, gettext

    def break_jump(s: dict[str, Any]) -> None:
        s["steps"][3]["to"] = "nowhere"

    exc = refused(variant(break_jump))
    with app.test_request_context(), force_locale("pl"):
        assert exc.localized(gettext) == "krok 'retry' prowadzi do nieistniejącego kroku 'nowhere'"
    with app.test_request_context(), force_locale("uk"):
        assert exc.localized(gettext) == "крок 'retry' веде до відсутнього кроку 'nowhere'"
