"""Web forms through the real app: the hosted page, the JSON endpoint, abuse controls."""

from __future__ import annotations

import io
import re
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from channels.webforms.models import WebForm
from channels.webforms.service import do_save_form
from crm_core.errors import ValidationFailed
from crm_core.models import Attachment, AuditEntry, ContactPoint, Customer, Interaction, Ticket
from hub.db import db
from hub.models import QueueEntry
from hub.routing import do_create_queue
from tests.factories import make_customer

FIELDS: list[dict[str, Any]] = [
    {"name": "name", "label": "Your name", "type": "text", "required": True},
    {"name": "email", "label": "E-mail", "type": "email"},
    {"name": "phone", "label": "Phone", "type": "phone"},
    {"name": "topic", "label": "Topic", "type": "choice", "choices": ["Order", "Complaint"]},
    {"name": "message", "label": "Message", "type": "textarea", "required": True},
    {"name": "order_no", "label": "Order number", "type": "number", "min": 1},
    {"name": "scan", "label": "Scan", "type": "file", "max_bytes": 1024},
    {"name": "consent", "label": "I agree", "type": "checkbox", "required": True},
]
PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def count(session: Session, model: Any) -> int:
    """Rows of ``model`` now (the read's transaction ends at once: SQLite locks on BEGIN)."""
    session.rollback()
    try:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        session.rollback()


@pytest.fixture
def form(app: Flask, session: Session) -> WebForm:
    queue = do_create_queue(session, name="Web", channels=["webform"])
    do_create_queue(session, name="Other", channels=["webform", "email"])
    made = do_save_form(
        session,
        slug="contact",
        title="Contact us",
        fields=FIELDS,
        queue_id=queue.id,
        open_ticket=True,
        ticket_type="complaint",
        confirmation_text="Thanks! We answer within a day.",
        confirmation_email=True,
        allowed_origins=["https://www.example.com"],
    )
    session.commit()
    return made


def page_fields(client: FlaskClient, slug: str = "contact", **query: str) -> dict[str, str]:
    response = client.get(f"/forms/{slug}", query_string=query)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    sid = re.search(r'name="submission_id" value="([^"]+)"', html)
    assert token and sid
    return {"csrf_token": token.group(1), "submission_id": sid.group(1)}


def good(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Jan Nowak",
        "email": "Jan.Nowak@Example.ORG",
        "phone": "601 234 567",
        "topic": "Complaint",
        "message": "The parcel arrived broken.",
        "order_no": "1234",
        "consent": "1",
    }
    data.update(over)
    return data


def test_page_is_accessible_and_carries_token_honeypot_and_languages(
    client: FlaskClient, form: WebForm
) -> None:
    response = client.get("/forms/contact?lang=pl")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<html lang="pl">' in html
    assert "Wyślij" in html and "(wymagane)" in html  # the page speaks Polish
    assert 'name="viewport"' in html
    assert 'for="f-email"' in html and 'id="f-email"' in html
    assert 'name="website_url"' in html and 'aria-hidden="true"' in html
    assert 'hreflang="uk"' in html
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    embedded = client.get("/forms/contact?embed=1")
    assert (
        "frame-ancestors 'self' https://www.example.com"
        in embedded.headers["Content-Security-Policy"]
    )
    assert client.get("/forms/nope").status_code == 404


def test_submission_creates_customer_interaction_ticket_queue_entry_and_confirmation(
    client: FlaskClient, form: WebForm, session: Session
) -> None:
    data = {**page_fields(client), **good()}
    data["scan"] = (io.BytesIO(PDF_BYTES), "scan.pdf", "application/pdf")
    response = client.post("/forms/contact", data=data, content_type="multipart/form-data")
    assert response.status_code == 200, response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    assert "Thanks! We answer within a day." in html
    session.rollback()
    inbound = session.scalars(select(Interaction).where(Interaction.channel == "webform")).one()
    assert inbound.external_id == f"contact:{data['submission_id']}"
    assert inbound.payload is not None and inbound.payload["fields"]["topic"] == "Complaint"
    customer = session.get(Customer, inbound.customer_id)
    assert customer is not None and customer.display_name == "Jan Nowak"
    emails = [c.value for c in customer.contact_points if c.kind == "email"]
    assert emails == ["jan.nowak@example.org"]
    ticket = session.get(Ticket, inbound.ticket_id)
    assert ticket is not None and ticket.ticket_type == "complaint"
    assert ticket.number in html
    entry = session.get(QueueEntry, inbound.id)
    assert entry is not None and entry.queue_id == form.queue_id
    att = session.scalars(select(Attachment).where(Attachment.interaction_id == inbound.id)).one()
    assert att.content_type == "application/pdf" and att.filename == "scan.pdf"
    confirmation = session.scalars(
        select(Interaction).where(
            Interaction.channel == "email", Interaction.direction == "outbound"
        )
    ).one()
    assert confirmation.to_address == "jan.nowak@example.org"
    assert confirmation.parent_id == inbound.id


def test_double_submit_is_one_interaction(
    client: FlaskClient, form: WebForm, session: Session
) -> None:
    data = {**page_fields(client), **good()}
    first = client.post("/forms/contact", data=data)
    second = client.post("/forms/contact", data=data)
    assert first.status_code == second.status_code == 200
    assert count(session, Interaction) == 2  # the submission and its confirmation e-mail
    assert count(session, Ticket) == 1


def test_known_customer_is_identified_by_phone_and_phone_only_sender_is_created(
    client: FlaskClient, form: WebForm, session: Session
) -> None:
    known = make_customer(session, first_name="Ewa", phones=("+48 601 234 567",))
    session.commit()
    data = {**page_fields(client), **good(email="")}
    assert client.post("/forms/contact", data=data).status_code == 200
    data = {**page_fields(client), **good(email="", phone="+48 22 555 01 02", name="Olek Bor")}
    assert client.post("/forms/contact", data=data).status_code == 200
    session.rollback()
    first, second = session.scalars(
        select(Interaction).where(Interaction.channel == "webform").order_by(Interaction.id)
    )
    assert first.customer_id == known.id
    created = session.get(Customer, second.customer_id)
    assert created is not None and created.display_name == "Olek Bor"
    assert [c.value for c in created.contact_points] == ["+48225550102"]


def test_validation_errors_are_shown_next_to_the_field_and_nothing_is_written(
    client: FlaskClient, form: WebForm, session: Session
) -> None:
    data = {**page_fields(client), **good(email="not-an-address", message="", topic="Spam")}
    data["scan"] = (io.BytesIO(b"MZ\x90\x00" + b"x" * 100), "run.exe")
    response = client.post("/forms/contact", data=data, content_type="multipart/form-data")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for name in ("email", "message", "topic", "scan"):
        assert f'id="e-{name}"' in html
        assert re.search(rf'id="f-{name}"[^>]*aria-invalid="true"', html), name
    assert "valid e-mail address" in html
    assert "not accepted" in html
    assert 'value="Jan Nowak"' in html  # what the visitor typed is kept
    assert count(session, Interaction) == 0
    assert count(session, Customer) == 0


def test_oversized_upload_is_refused_next_to_the_field(
    client: FlaskClient, form: WebForm, session: Session
) -> None:
    data = {**page_fields(client), **good()}
    data["scan"] = (io.BytesIO(PDF_BYTES + b"0" * 2048), "big.pdf")
    response = client.post("/forms/contact", data=data, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "too large" in response.get_data(as_text=True)
    assert count(session, Interaction) == 0


def test_script_in_a_field_is_stored_as_typed_and_shown_as_text(
    client: FlaskClient, form: WebForm, session: Session
) -> None:
    evil = "<script>alert(1)</script>"
    data = {**page_fields(client), **good(name=evil, email="bad")}
    html = client.post("/forms/contact", data=data).get_data(as_text=True)
    assert evil not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    data = {**page_fields(client), **good(message=evil)}
    assert client.post("/forms/contact", data=data).status_code == 200
    session.rollback()
    stored = session.scalars(select(Interaction).where(Interaction.channel == "webform")).one()
    assert stored.payload is not None and stored.payload["fields"]["message"] == evil


def test_missing_or_forged_token_is_refused_and_nothing_written(
    client: FlaskClient, form: WebForm, session: Session
) -> None:
    fields = page_fields(client)
    no_token = client.post(
        "/forms/contact", data={**good(), "submission_id": fields["submission_id"]}
    )
    assert no_token.status_code == 400
    assert "expired" in no_token.get_data(as_text=True)
    other_sid = {**fields, "submission_id": uuid.uuid4().hex}  # token of another page
    assert client.post("/forms/contact", data={**good(), **other_sid}).status_code == 400
    bad_sid = {**fields, "submission_id": "x"}
    assert client.post("/forms/contact", data={**good(), **bad_sid}).status_code == 400
    assert count(session, Interaction) == 0


def test_honeypot_refuses_bots_and_not_people(
    client: FlaskClient, form: WebForm, session: Session
) -> None:
    bot = {**page_fields(client), **good(), "website_url": "http://spam.example"}
    assert client.post("/forms/contact", data=bot).status_code == 400
    assert count(session, Interaction) == 0
    person = {**page_fields(client), **good()}
    assert client.post("/forms/contact", data=person).status_code == 200
    assert count(session, Interaction) == 2


def test_rate_limit_per_ip_refuses_a_flood_and_not_another_visitor(
    client: FlaskClient, form: WebForm, session: Session
) -> None:
    bot_ip = {"X-Forwarded-For": "203.0.113.9"}
    statuses = []
    for _ in range(12):
        data = {**page_fields(client), **good(message="")}  # invalid: nothing is stored
        statuses.append(client.post("/forms/contact", data=data, headers=bot_ip).status_code)
    assert statuses[:10] == [422] * 10
    assert statuses[10:] == [429, 429]
    person = {**page_fields(client), **good()}
    ok = client.post("/forms/contact", data=person, headers={"X-Forwarded-For": "198.51.100.7"})
    assert ok.status_code == 200


def test_json_endpoint_with_cors_allow_list(
    client: FlaskClient, form: WebForm, session: Session
) -> None:
    allowed = {"Origin": "https://www.example.com"}
    pre = client.options("/forms/contact/submissions", headers=allowed)
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "https://www.example.com"
    foreign = client.options("/forms/contact/submissions", headers={"Origin": "https://evil.test"})
    assert foreign.status_code == 403 and "Access-Control-Allow-Origin" not in foreign.headers
    body = {"submission_id": str(uuid.uuid4()), "fields": good()}
    first = client.post("/forms/contact/submissions", json=body, headers=allowed)
    assert first.status_code == 201, first.get_json()
    assert first.headers["Access-Control-Allow-Origin"] == "https://www.example.com"
    again = client.post("/forms/contact/submissions", json=body, headers=allowed)
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    assert again.get_json()["id"] == first.get_json()["id"]
    evil = client.post(
        "/forms/contact/submissions",
        json={**body, "submission_id": str(uuid.uuid4())},
        headers={"Origin": "https://evil.test"},
    )
    assert evil.status_code == 403
    assert count(session, Ticket) == 1
    own = client.post(
        "/forms/contact/submissions",
        json={**body, "submission_id": str(uuid.uuid4())},
        headers={"Origin": "http://localhost"},  # our own pages may always post
    )
    assert own.status_code == 201


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ("not json", 415, "unsupported_media_type"),
        ({"fields": {}}, 400, "bad_request"),
        ({"submission_id": "../../x", "fields": {"name": "a"}}, 400, "bad_request"),
        ({"submission_id": "a" * 32, "fields": "x"}, 400, "bad_request"),
        ({"submission_id": "a" * 32, "fields": {"name": "Jan"}}, 422, "validation_failed"),
        ({"submission_id": "a" * 32, "fields": {}, "website_url": "x"}, 400, "refused"),
    ],
)
def test_json_endpoint_bad_input_is_a_clear_4xx(
    client: FlaskClient, form: WebForm, session: Session, body: Any, status: int, error: str
) -> None:
    if isinstance(body, str):
        response = client.post("/forms/contact/submissions", data=body)
    else:
        response = client.post("/forms/contact/submissions", json=body)
    assert response.status_code == status
    assert response.get_json()["error"] == error
    if status == 422:
        assert set(response.get_json()["fields"]) >= {"message", "consent"}
    assert count(session, Interaction) == 0


def test_embed_snippet_points_at_the_embedded_page(client: FlaskClient, form: WebForm) -> None:
    response = client.get("/forms/contact/embed.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert '"http://localhost/forms/contact?embed=1"' in response.get_data(as_text=True)


def test_form_definitions_are_validated_and_audited(app: Flask, session: Session) -> None:
    with pytest.raises(ValidationFailed):
        do_save_form(session, slug="Bad Slug!", title="x", fields=FIELDS)
    with pytest.raises(ValidationFailed):
        do_save_form(session, slug="ok", title="x", fields=[{"name": "a", "type": "rocket"}])
    with pytest.raises(ValidationFailed):
        do_save_form(session, slug="ok", title="x", fields=[{"name": "csrf_token"}])
    with pytest.raises(ValidationFailed):
        do_save_form(
            session, slug="ok", title="x", fields=[{"name": "a"}], allowed_origins=["javascript:x"]
        )
    with pytest.raises(ValidationFailed):
        do_save_form(session, slug="ok", title="x", fields=[{"name": "a"}], confirmation_email=True)
    saved = do_save_form(session, slug="feedback", title="Feedback", fields=[{"name": "a"}])
    do_save_form(session, slug="feedback", title="Feedback 2", fields=[{"name": "b"}])
    session.commit()
    actions = session.scalars(
        select(AuditEntry.action).where(AuditEntry.entity_type == "webform").order_by(AuditEntry.id)
    ).all()
    assert actions == ["webform.created", "webform.saved"]
    assert saved.fields[0]["name"] == "b"
    assert session.scalar(select(func.count()).select_from(ContactPoint)) == 0
    assert db.session is session


def test_admins_define_forms_in_the_admin_pages(app: Flask, session: Session) -> None:
    from tests.factories import bearer, make_user

    queue = do_create_queue(session, name="Web", channels=["webform"])
    admin = bearer(session, make_user(session, role="admin"))
    agent = bearer(session, make_user(session, role="agent"))
    session.commit()
    from tests.conftest import _Client

    app.test_client_class = _Client
    client = app.test_client(use_cookies=False)  # bearer tokens, as integrations use
    assert client.get("/admin/forms", headers=agent).status_code == 403
    new = client.get("/admin/forms/new", headers=admin)
    assert new.status_code == 200 and 'id="a-fields"' in new.get_data(as_text=True)
    data = {
        "slug": "feedback",
        "title": "Feedback <b>form</b>",
        "fields": '[{"name": "email", "type": "email", "required": true}]',
        "queue_id": str(queue.id),
        "ticket_type": "question",
        "allowed_origins": "https://shop.example.com",
        "active": "on",
    }
    saved = client.post("/admin/forms/new", data=data, headers=admin)
    assert saved.status_code == 303
    listing = client.get("/admin/forms", headers=admin).get_data(as_text=True)
    assert "Feedback &lt;b&gt;form&lt;/b&gt;" in listing
    assert "/forms/feedback/embed.js" in listing
    bad = client.post(
        "/admin/forms/feedback/edit", data={**data, "fields": "[{oops"}, headers=admin
    )
    assert bad.status_code == 422 and "not valid JSON" in bad.get_data(as_text=True)
    session.rollback()
    form = session.scalars(select(WebForm)).one()
    assert form.queue_id == queue.id and form.allowed_origins == ["https://shop.example.com"]
    session.rollback()


class StrictCaptcha:
    """A captcha provider stand-in: the widget posts ``captcha``; only "solved" passes."""

    def __init__(self) -> None:
        self.seen: list[tuple[str | None, str | None]] = []

    def widget_html(self) -> str:
        return '<div class="captcha-widget" data-sitekey="test"></div>'

    def verify(self, response: str | None, remote_addr: str | None) -> bool:
        self.seen.append((response, remote_addr))
        return response == "solved"


def test_captcha_hook_guards_page_and_json(
    app: Flask, client: FlaskClient, form: WebForm, session: Session
) -> None:
    from channels.webforms.security import register_captcha

    captcha = StrictCaptcha()
    register_captcha(app, captcha)
    fields = page_fields(client)
    assert 'class="captcha-widget"' in client.get("/forms/contact").get_data(as_text=True)
    refused = client.post("/forms/contact", data={**fields, **good()})
    assert refused.status_code == 400 and "robot" in refused.get_data(as_text=True)
    body = {"submission_id": uuid.uuid4().hex, "fields": good(), "captcha": "guess"}
    assert client.post("/forms/contact/submissions", json=body).status_code == 400
    assert count(session, Interaction) == 0
    ok = client.post("/forms/contact", data={**fields, **good(), "captcha": "solved"})
    assert ok.status_code == 200
    assert captcha.seen[-1] == ("solved", "127.0.0.1")


def test_the_rate_limit_is_shared_by_every_web_node_through_redis(
    app: Flask, form: WebForm, session: Session, database_url: str, tmp_path: Any
) -> None:
    """Two web nodes with the deployment's Redis count one flood together: a bot that
    alternates between them gets refused after the form's limit, not twice the limit; and
    with Redis gone a node still answers (counting on its own)."""
    import redis

    from channels.webforms.security import SharedRateLimiter, rate_limiter
    from tests.conftest import _Client, make_test_app
    from tests.multiprocess.procs import redis_or_skip, redis_url

    redis_or_skip()
    url = redis_url()
    bot = f"203.0.113.{uuid.uuid4().int % 200 + 20}"
    store = redis.Redis.from_url(url)
    store.delete(f"{SharedRateLimiter.PREFIX}webform:{bot}")
    session.commit()
    nodes = [make_test_app(database_url, tmp_path / f"node{i}", redis_url=url) for i in (1, 2)]
    try:
        clients = []
        for node in nodes:
            node.test_client_class = _Client
            clients.append(node.test_client())
            assert isinstance(rate_limiter(node), SharedRateLimiter)
        statuses = []
        for i in range(12):
            client = clients[i % 2]
            data = {**page_fields(client), **good(message="")}  # invalid: nothing is stored
            response = client.post("/forms/contact", data=data, headers={"X-Forwarded-For": bot})
            statuses.append(response.status_code)
        assert statuses[:10] == [422] * 10
        assert statuses[10:] == [429, 429]
        # Redis unreachable: the node falls back to its own count rather than failing.
        down = nodes[0]
        down.extensions["switchboard.webform_limiter"] = SharedRateLimiter(
            redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
        )
        person = {**page_fields(clients[0]), **good()}
        ok = clients[0].post("/forms/contact", data=person, headers={"X-Forwarded-For": bot})
        assert ok.status_code == 200
    finally:
        store.delete(f"{SharedRateLimiter.PREFIX}webform:{bot}")
        for node in nodes:
            from hub.db import db as database

            database.engine_for(node).dispose()
