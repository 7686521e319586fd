"""The fax channel over real HTTP: signed webhooks, media fetched from a local stand-in
provider, rendering, the annotation layer, outbound faxes and the e-mail gateway."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pypdfium2 as pdfium
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from channels.fax.models import FaxAnnotation, FaxDocument
from channels.fax.service import receive_emailed_fax
from crm_core.models import Attachment, AuditEntry, Customer, Interaction
from crm_core.services.blobs import BlobStore
from crm_core.services.customers import do_create_customer
from hub.db import db
from hub.models import QueueEntry
from hub.routing import do_create_queue
from tests.conftest import _Client
from tests.factories import bearer, make_user
from tests.integration.fax.conftest import (
    ACCOUNT,
    PUBLIC,
    FaxProviderStandIn,
    make_pdf,
    make_tiff,
    sign,
)

HOOK = "/webhooks/fax/signalwire"
SENDER = "+48 22 123 45 67"


@pytest.fixture
def client(fax_app: Flask) -> FlaskClient:
    fax_app.test_client_class = _Client
    return fax_app.test_client(use_cookies=False)  # a bearer-token client, as integrations are


@pytest.fixture
def session(fax_app: Flask) -> Any:
    with fax_app.app_context():
        yield db.session


def reset(session: Session) -> None:
    """Forget what this session knows: requests and tasks committed in other sessions
    (and expire_on_commit is off, so a commit alone does not refresh)."""
    session.rollback()
    session.expire_all()


def count(session: Session, model: Any) -> int:
    reset(session)
    try:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        reset(session)


def params(provider: FaxProviderStandIn, sid: str, media: str, **over: str) -> dict[str, str]:
    data = {
        "AccountSid": ACCOUNT,
        "FaxSid": sid,
        "From": SENDER,
        "To": "+48 22 100 20 99",
        "NumPages": "2",
        "FaxStatus": "received",
        "MediaUrl": f"{provider.url}/media/{media}",
    }
    data.update(over)
    return data


def post(client: FlaskClient, data: dict[str, str], path: str = HOOK) -> Any:
    return client.post(path, data=data, headers=sign(f"{PUBLIC}{path}", data))


def fax_customer_and_queue(session: Session) -> Customer:
    do_create_queue(session, name="Orders", channels=["fax"])
    customer = do_create_customer(
        session,
        fields={"kind": "organisation", "organisation_name": "Hurtownia Fax sp. z o.o."},
        contact_points=[{"kind": "fax", "value": "22 123 45 67"}],
        region="PL",
    )
    session.commit()
    return customer


def receive_pdf(
    client: FlaskClient, provider: FaxProviderStandIn, session: Session, pdf: bytes, sid: str
) -> FaxDocument:
    provider.media[sid] = pdf
    response = post(client, params(provider, sid, sid))
    assert response.status_code == 200, response.get_data(as_text=True)
    reset(session)
    doc = session.scalars(select(FaxDocument).where(FaxDocument.fax_sid == sid)).one()
    reset(session)
    return doc


def test_signed_webhook_fetches_renders_identifies_and_queues(
    client: FlaskClient, provider: FaxProviderStandIn, session: Session
) -> None:
    customer = fax_customer_and_queue(session)
    pdf = make_pdf(2)
    doc = receive_pdf(client, provider, session, pdf, "FX" + "1" * 32)
    assert doc.status == "ready"
    assert doc.num_pages == 2 and len(doc.page_images or []) == 2
    assert doc.sha256 == hashlib.sha256(pdf).hexdigest()
    interaction = session.get(Interaction, doc.interaction_id)
    assert interaction is not None and interaction.channel == "fax"
    assert interaction.customer_id == customer.id
    assert interaction.from_address == SENDER
    assert session.get(QueueEntry, interaction.id) is not None
    att = session.scalars(select(Attachment).where(Attachment.interaction_id == interaction.id))
    assert [a.sha256 for a in att] == [doc.sha256]
    # The pages are real images.
    user = make_user(session)
    auth = bearer(session, user)
    session.commit()
    png = client.get(f"/fax/documents/{doc.id}/pages/1.png", headers=auth)
    assert png.status_code == 200 and png.data[:8] == b"\x89PNG\r\n\x1a\n"
    page = client.get(f"/fax/documents/{doc.id}", headers=auth)
    assert page.status_code == 200 and "Page 2 of 2" in page.get_data(as_text=True)
    assert client.get(f"/fax/documents/{doc.id}").status_code in (302, 401)


def test_a_repeated_webhook_is_one_fax(
    client: FlaskClient, provider: FaxProviderStandIn, session: Session
) -> None:
    sid = "FX" + "2" * 32
    provider.media[sid] = make_pdf(1)
    data = params(provider, sid, sid)
    assert post(client, data).status_code == 200
    assert post(client, data).status_code == 200
    assert count(session, Interaction) == 1
    assert count(session, FaxDocument) == 1


def test_the_first_webhook_is_answered_with_receive(
    client: FlaskClient, provider: FaxProviderStandIn, session: Session
) -> None:
    data = {"AccountSid": ACCOUNT, "FaxSid": "FX" + "3" * 32, "FaxStatus": "receiving"}
    response = post(client, data)
    assert response.status_code == 200
    assert b'<Receive action="http://localhost/webhooks/fax/signalwire"/>' in response.data
    assert count(session, Interaction) == 0


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}],
    ids=["unsigned", "forged"],
)
def test_forged_or_missing_signature_is_403_and_nothing_written(
    client: FlaskClient, provider: FaxProviderStandIn, session: Session, headers: dict[str, str]
) -> None:
    sid = "FX" + "4" * 32
    provider.media[sid] = make_pdf(1)
    response = client.post(HOOK, data=params(provider, sid, sid), headers=headers)
    assert response.status_code == 403
    assert count(session, Interaction) == 0
    assert provider.requests == []  # nothing was fetched either


def test_signature_over_other_params_is_403(
    client: FlaskClient, provider: FaxProviderStandIn, session: Session
) -> None:
    sid = "FX" + "5" * 32
    data = params(provider, sid, sid)
    headers = sign(f"{PUBLIC}{HOOK}", data)
    data["From"] = "+48 600 000 000"  # tampered after signing
    assert client.post(HOOK, data=data, headers=headers).status_code == 403
    assert count(session, Interaction) == 0


def test_media_url_on_a_foreign_host_is_refused(
    client: FlaskClient, provider: FaxProviderStandIn, session: Session
) -> None:
    sid = "FX" + "6" * 32
    for url in (
        "http://203.0.113.50/evil.pdf",
        "file:///etc/passwd",
        f"http://user:pw@{provider.host}/media/x",
        f"http://{provider.host}.evil.test/media/x",
    ):
        response = post(client, params(provider, sid, sid, MediaUrl=url))
        assert response.status_code == 400, url
        assert response.get_json()["field"] == "MediaUrl"
    assert count(session, Interaction) == 0
    assert provider.requests == []


def test_a_redirect_away_from_the_media_host_is_not_followed(
    client: FlaskClient, provider: FaxProviderStandIn, session: Session
) -> None:
    sid = "FX" + "7" * 32
    assert post(client, params(provider, sid, "redirect-away")).status_code == 200
    reset(session)
    doc = session.scalars(select(FaxDocument)).one()
    assert doc.status == "fetch_failed" and "allowed media host" in (doc.error or "")
    assert count(session, Interaction) == 1  # the fax is kept, flagged


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"FaxSid": ""}, "FaxSid"),
        ({"FaxSid": "FX/../../etc"}, "FaxSid"),
        ({"NumPages": "two"}, "NumPages"),
        ({"FaxStatus": "exploded"}, "FaxStatus"),
        ({"MediaUrl": ""}, "MediaUrl"),
        ({"From": "9" * 400}, "From"),
    ],
)
def test_malformed_webhooks_are_400_with_the_field(
    client: FlaskClient,
    provider: FaxProviderStandIn,
    session: Session,
    change: dict[str, str],
    field: str,
) -> None:
    response = post(client, params(provider, "FX" + "8" * 32, "x", **change))
    assert response.status_code == 400
    assert response.get_json()["field"] == field
    assert count(session, Interaction) == 0


def test_corrupt_pdf_is_kept_and_flagged(
    client: FlaskClient, provider: FaxProviderStandIn, session: Session
) -> None:
    broken = b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\ngarbage\x00\xff" * 20
    doc = receive_pdf(client, provider, session, broken, "FX" + "9" * 32)
    assert doc.status == "corrupt" and doc.error
    assert doc.sha256 == hashlib.sha256(broken).hexdigest()
    store = BlobStore(db_settings(client).effective_blob_dir)
    assert store.get(doc.sha256) == broken
    assert count(session, Interaction) == 1
    assert count(session, Attachment) == 1


def db_settings(client: FlaskClient) -> Any:
    assert client.application is not None
    return client.application.extensions["switchboard.settings"]


def test_media_fetch_is_retried_then_succeeds(
    client: FlaskClient, provider: FaxProviderStandIn, session: Session
) -> None:
    provider.fail_next = 2
    doc = receive_pdf(client, provider, session, make_pdf(1), "FX" + "a" * 32)
    assert doc.status == "ready" and doc.attempts == 3


def test_media_that_never_comes_is_flagged_not_dropped(
    client: FlaskClient, provider: FaxProviderStandIn, session: Session
) -> None:
    provider.fail_next = 10
    doc = receive_pdf(client, provider, session, make_pdf(1), "FX" + "b" * 32)
    assert doc.status == "fetch_failed" and doc.attempts == 3
    assert count(session, Interaction) == 1


def test_a_fax_whose_fetch_task_was_lost_is_fetched_by_the_tick(
    fax_app: Flask, client: FlaskClient, provider: FaxProviderStandIn, session: Session
) -> None:
    """A worker died holding the fetch task: the document stays "fetching". The periodic
    tick queues it again once it is older than the longest back-off, and only then."""
    import datetime as dt

    from crm_core.db import utcnow
    from hub.tasks import run_tick

    lost = receive_pdf(client, provider, session, make_pdf(2), "FX" + "c" * 32)
    recent = receive_pdf(client, provider, session, make_pdf(1), "FX" + "d" * 32)
    now = utcnow()
    for doc_id, age in ((lost.id, dt.timedelta(hours=2)), (recent.id, dt.timedelta(minutes=5))):
        doc = session.get(FaxDocument, doc_id)
        assert doc is not None and doc.status == "ready"
        doc.status, doc.sha256, doc.page_images, doc.num_pages = "fetching", None, None, None
        doc.updated_at = now - age
    session.commit()
    with fax_app.app_context():
        assert run_tick(now)["fax_fetches_resumed"] == 1
        assert run_tick(now)["fax_fetches_resumed"] == 0  # claimed: not queued twice
    reset(session)
    fetched = session.get(FaxDocument, lost.id)
    waiting = session.get(FaxDocument, recent.id)
    assert fetched is not None and fetched.status == "ready" and fetched.num_pages == 2
    assert waiting is not None and waiting.status == "fetching"  # its task may still come
    reset(session)


def test_multipage_tiff_is_rendered(
    client: FlaskClient, provider: FaxProviderStandIn, session: Session
) -> None:
    doc = receive_pdf(client, provider, session, make_tiff(3), "FX" + "c" * 32)
    assert doc.status == "ready" and doc.num_pages == 3
    assert doc.content_type == "image/tiff"


def test_annotations_are_a_separate_audited_layer_and_export_flattened(
    client: FlaskClient, provider: FaxProviderStandIn, session: Session
) -> None:
    pdf = make_pdf(2)
    original_hash = hashlib.sha256(pdf).hexdigest()
    doc = receive_pdf(client, provider, session, pdf, "FX" + "d" * 32)
    agent = make_user(session, name="Ala <b>Agent</b>")
    auth = bearer(session, agent)
    session.commit()
    url = f"/fax/documents/{doc.id}/annotations"
    stamp = client.post(
        url,
        json={
            "page": 1,
            "kind": "stamp",
            "x": 0.6,
            "y": 0.05,
            "width": 0.3,
            "height": 0.1,
            "text": "received",
        },
        headers=auth,
    )
    assert stamp.status_code == 201, stamp.get_json()
    assert stamp.get_json()["text"].startswith("RECEIVED\n")
    assert "Ala <b>Agent</b>" in stamp.get_json()["text"]
    mark = client.post(
        url,
        json={"page": 2, "kind": "highlight", "x": 0.1, "y": 0.2, "width": 0.8, "height": 0.1},
        headers=auth,
    )
    note = client.post(
        url,
        json={"page": 2, "kind": "comment", "x": 0.1, "y": 0.5, "text": "<script>x</script>"},
        headers=auth,
    )
    assert mark.status_code == 201 and note.status_code == 201
    bad = [
        {"page": 9, "kind": "stamp", "x": 0, "y": 0, "text": "OK"},
        {"page": 1, "kind": "sticker", "x": 0, "y": 0},
        {"page": 1, "kind": "highlight", "x": 1.5, "y": 0},
        {"page": 1, "kind": "highlight", "x": 0.9, "y": 0, "width": 0.5},
        {"page": 1, "kind": "comment", "x": 0, "y": 0, "text": ""},
        {"page": "one", "kind": "comment", "x": 0, "y": 0, "text": "x"},
    ]
    for body in bad:
        response = client.post(url, json=body, headers=auth)
        assert response.status_code == 422, body
        assert response.get_json()["error"] == "validation_failed"
    assert count(session, FaxAnnotation) == 3

    removed = client.delete(f"{url}/{mark.get_json()['id']}", headers=auth)
    assert removed.status_code == 204
    assert client.delete(f"{url}/{mark.get_json()['id']}", headers=auth).status_code == 404
    listed = client.get(url, headers=auth).get_json()["annotations"]
    assert [a["kind"] for a in listed] == ["stamp", "comment"]

    plain = client.get(f"/fax/documents/{doc.id}/pages/1.png", headers=auth).data
    marked = client.get(f"/fax/documents/{doc.id}/pages/1.png?annotated=1", headers=auth).data
    assert plain != marked
    page = client.get(f"/fax/documents/{doc.id}", headers=auth).get_data(as_text=True)
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x" not in page

    export = client.get(f"/fax/documents/{doc.id}/flattened.pdf", headers=auth)
    assert export.status_code == 200 and export.mimetype == "application/pdf"
    flattened = pdfium.PdfDocument(export.data)
    assert len(flattened) == 2
    flattened.close()
    assert hashlib.sha256(export.data).hexdigest() != original_hash

    # The original never changed: not in the store, not in what is served.
    reset(session)
    fresh = session.get(FaxDocument, doc.id)
    assert fresh is not None and fresh.sha256 == original_hash
    store = BlobStore(db_settings(client).effective_blob_dir)
    assert hashlib.sha256(store.get(original_hash)).hexdigest() == original_hash
    served = client.get(f"/fax/documents/{doc.id}/original", headers=auth).data
    assert hashlib.sha256(served).hexdigest() == original_hash
    actions = session.scalars(
        select(AuditEntry.action)
        .where(AuditEntry.entity_type == "fax_annotation")
        .order_by(AuditEntry.id)
    ).all()
    assert actions == [
        "fax.annotation_added",
        "fax.annotation_added",
        "fax.annotation_added",
        "fax.annotation_removed",
    ]
    reset(session)


def test_outbound_fax_through_the_port_with_status_callbacks_and_retry(
    client: FlaskClient, provider: FaxProviderStandIn, session: Session
) -> None:
    agent = make_user(session)
    auth = bearer(session, agent)
    session.commit()
    pdf = make_pdf(1)
    response = client.post(
        "/fax/send",
        data={"to": "22 765 43 21", "file": (io.BytesIO(pdf), "offer.pdf")},
        headers=auth,
        content_type="multipart/form-data",
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    posts = provider.posts()
    assert len(posts) == 1
    assert posts[0]["To"] == ["+48227654321"] and posts[0]["From"] == ["+48 22 100 20 99"]
    media_url = posts[0]["MediaUrl"][0]
    assert media_url.startswith(f"{PUBLIC}/fax/media/")
    assert posts[0]["StatusCallback"] == [f"{PUBLIC}/webhooks/fax/signalwire/status"]
    # What the provider would fetch is the document, byte for byte.
    fetched = client.get(media_url.removeprefix(PUBLIC))
    assert fetched.status_code == 200 and fetched.data == pdf
    assert client.get("/fax/media/forged-token").status_code == 404

    reset(session)
    doc = session.scalars(select(FaxDocument).where(FaxDocument.direction == "outbound")).one()
    first_sid = doc.fax_sid
    reset(session)
    status_path = f"{HOOK}/status"
    failed = {
        "AccountSid": ACCOUNT,
        "FaxSid": first_sid or "",
        "FaxStatus": "failed",
        "ErrorMessage": "line busy",
    }
    assert post(client, failed, status_path).status_code == 200
    assert len(provider.posts()) == 2  # retried per fax_send_attempts
    reset(session)
    doc = session.get(FaxDocument, doc.id)
    assert doc is not None and doc.fax_sid not in (None, first_sid) and doc.attempts == 2
    second_sid = doc.fax_sid
    reset(session)
    sending = {"AccountSid": ACCOUNT, "FaxSid": second_sid or "", "FaxStatus": "sending"}
    assert post(client, sending, status_path).status_code == 200
    delivered = {"AccountSid": ACCOUNT, "FaxSid": second_sid or "", "FaxStatus": "delivered"}
    assert post(client, delivered, status_path).status_code == 200
    assert post(client, failed | {"FaxSid": second_sid or ""}, status_path).status_code == 200
    reset(session)
    doc = session.get(FaxDocument, doc.id)
    interaction = session.get(Interaction, doc.interaction_id) if doc else None
    assert doc is not None and doc.status == "delivered"
    assert interaction is not None and interaction.status == "closed"
    assert interaction.summary == "fax to +48227654321 delivered"
    assert [s["status"] for s in (interaction.payload or {})["fax_status"]] == [
        "failed",
        "sending",
        "delivered",
    ]
    unknown = {"AccountSid": ACCOUNT, "FaxSid": "FX" + "0" * 32, "FaxStatus": "delivered"}
    assert post(client, unknown, status_path).status_code == 404
    forged = client.post(status_path, data=delivered)
    assert forged.status_code == 403
    reset(session)


def test_outbound_fax_fails_for_good_after_the_attempts(
    client: FlaskClient, provider: FaxProviderStandIn, session: Session
) -> None:
    agent = make_user(session)
    auth = bearer(session, agent)
    session.commit()
    provider.fail_next = 5  # the provider's API is down
    response = client.post(
        "/fax/send",
        data={"to": "22 765 43 21", "file": (io.BytesIO(make_pdf(1)), "offer.pdf")},
        headers=auth,
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    assert len(provider.posts()) == 2
    reset(session)
    doc = session.scalars(select(FaxDocument)).one()
    assert doc.status == "failed" and "503" in (doc.error or "")
    interaction = session.get(Interaction, doc.interaction_id)
    assert interaction is not None and "failed" in (interaction.summary or "")
    reset(session)
    bad = client.post(
        "/fax/send",
        data={"to": "22 765 43 21", "file": (io.BytesIO(b"hello"), "note.txt")},
        headers=auth,
        content_type="multipart/form-data",
    )
    assert bad.status_code == 422
    assert count(session, FaxDocument) == 1


def test_email_to_fax_gateway(
    fax_app: Flask, provider: FaxProviderStandIn, session: Session
) -> None:
    customer = fax_customer_and_queue(session)
    pdf = make_pdf(1)
    reset(session)
    got = receive_emailed_fax(
        to_address="Fax@Switchboard.localhost",
        from_address="noreply@faxgateway.example",
        message_id="<gw-1@faxgateway.example>",
        subject="Fax from +48 22 123 45 67 (1 page)",
        attachments=[("cover.txt", "text/plain", b"hi"), ("fax.pdf", "application/pdf", pdf)],
    )
    assert got is not None and got.channel == "fax"
    reset(session)
    doc = session.scalars(select(FaxDocument)).one()
    assert doc.status == "ready" and doc.sha256 == hashlib.sha256(pdf).hexdigest()
    interaction = session.get(Interaction, doc.interaction_id)
    assert interaction is not None and interaction.customer_id == customer.id
    reset(session)
    again = receive_emailed_fax(
        to_address="fax@switchboard.localhost",
        from_address="noreply@faxgateway.example",
        message_id="<gw-1@faxgateway.example>",
        subject="Fax from +48 22 123 45 67 (1 page)",
        attachments=[("fax.pdf", "application/pdf", pdf)],
    )
    assert again is not None and again.id == got.id
    assert (
        receive_emailed_fax(
            to_address="support@switchboard.localhost",
            from_address="x@example.org",
            message_id="<m2@example.org>",
            subject="hello",
            attachments=[("fax.pdf", "application/pdf", pdf)],
        )
        is None
    )
    assert count(session, Interaction) == 1


def test_without_a_provider_the_webhook_is_404_and_faxes_are_only_recorded(
    app: Flask, client_plain: FlaskClient
) -> None:
    data = {"FaxSid": "FX" + "e" * 32, "FaxStatus": "received"}
    assert client_plain.post(HOOK, data=data).status_code == 404
    with app.app_context():
        session = db.session
        agent = make_user(session)
        auth = bearer(session, agent)
        session.commit()
    response = client_plain.post(
        "/fax/send",
        data={"to": "22 765 43 21", "file": (io.BytesIO(make_pdf(1)), "offer.pdf")},
        headers=auth,
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert "not sent: no fax provider configured" in response.get_data(as_text=True)
    with app.app_context():
        rows = db.session.scalars(select(Interaction)).all()
        assert [(r.channel, r.direction, r.status) for r in rows] == [("fax", "outbound", "closed")]
        db.session.rollback()


@pytest.fixture
def client_plain(app: Flask) -> FlaskClient:
    app.test_client_class = _Client
    return app.test_client(use_cookies=False)


def test_outbound_fax_generated_from_typed_text(
    client: FlaskClient, provider: FaxProviderStandIn, session: Session
) -> None:
    agent = make_user(session)
    auth = bearer(session, agent)
    session.commit()
    text = "Dzień dobry,\n\npotwierdzamy zamówienie nr 2026/11/42. " * 40
    response = client.post(
        "/fax/send",
        data={"to": "22 765 43 21", "subject": "Order confirmation", "message": text},
        headers=auth,
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    assert len(provider.posts()) == 1
    reset(session)
    doc = session.scalars(select(FaxDocument)).one()
    assert doc.content_type == "application/pdf"
    store = BlobStore(db_settings(client).effective_blob_dir)
    generated = pdfium.PdfDocument(store.get(doc.sha256 or ""))
    assert len(generated) >= 2  # long text flows onto more pages
    generated.close()
    reset(session)
    empty = client.post("/fax/send", data={"to": "22 765 43 21"}, headers=auth)
    assert empty.status_code == 422
