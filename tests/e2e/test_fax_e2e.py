"""In Chromium, with CSRF on as in production: a received fax is offered to an agent, whose
console shows its pages; the agent opens it, stamps a page, hides and shows the layer,
removes the stamp; an admin defines a form."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from channels.fax.models import FaxAnnotation, FaxDocument
from channels.fax.service import receive_emailed_fax
from hub.db import db
from hub.routing import do_add_queue_member, do_create_queue
from tests.conftest import _empty_tables, make_test_app
from tests.e2e.conftest import LiveServer
from tests.e2e.test_console_e2e import TIMEOUT, go_available, login, shot
from tests.factories import make_user
from tests.integration.fax.conftest import make_pdf

pytestmark = pytest.mark.browser


@pytest.fixture
def fax_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    app = make_test_app(
        database_url,
        tmp_path / "var",
        WTF_CSRF_ENABLED=True,
        fax_email_gateway_addresses=["fax@switchboard.localhost"],
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)  # port 0: the OS picks
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(app, server)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        _empty_tables(app)
        db.engine_for(app).dispose()


def test_agent_stamps_a_fax_and_admin_defines_a_form(
    browser: Any, fax_server: LiveServer, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    app = fax_server.app
    pdf = make_pdf(2)
    with app.app_context(), db.transaction() as session:
        agent = make_user(session, name="Fax Agent")
        admin = make_user(session, role="admin", name="Form Admin")
        agent_email, admin_email = agent.email, admin.email
        queue = do_create_queue(session, name="Orders", channels=["fax"], offer_timeout_seconds=600)
        do_add_queue_member(session, queue, agent)

    # The agent is available in the fax queue: the fax is offered, accepted, and its pages
    # are in the console, each opening the annotator.
    console_ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    console = console_ctx.new_page()
    go_available(console, fax_server, agent_email)
    with app.app_context():
        interaction = receive_emailed_fax(
            to_address="fax@switchboard.localhost",
            from_address="+48221234567@fax.example.net",
            message_id="<e2e-fax@example.net>",
            subject="Fax",
            attachments=[("order.pdf", "application/pdf", pdf)],
        )
        assert interaction is not None
        doc_id = db.session.query(FaxDocument.id).scalar()
        db.session.rollback()
    expect(console.locator("#offer-box .offer")).to_be_visible(timeout=TIMEOUT)
    console.click("#offer-box button.accept")
    pages = console.locator(".fax-pages img")
    expect(pages).to_have_count(2, timeout=TIMEOUT)
    console.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=pages.first.element_handle()
    )
    expect(console.locator(".fax-pages")).to_contain_text("Page 1 of 2")
    assert console.locator(".fax-links a").first.get_attribute("href") == (
        f"/fax/documents/{doc_id}"
    )
    shot(console, artifacts, "fax-00-in-the-console")
    console_ctx.close()

    ctx = browser.new_context(viewport={"width": 1280, "height": 720})
    page = ctx.new_page()
    login(page, fax_server, agent_email, f"/fax/documents/{doc_id}")
    page.goto(f"{fax_server.url}/fax/interactions/{interaction.id}")  # the console's link
    page.wait_for_url(f"**/fax/documents/{doc_id}")
    images = page.locator(".fax-pages img")
    expect(images).to_have_count(2, timeout=TIMEOUT)
    for i in range(2):
        images.nth(i).scroll_into_view_if_needed()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=images.nth(i).element_handle()
        )
    page.select_option("select[name=kind]", "stamp")
    page.fill("input[name=text]", "approved")
    page.click(".fax-tools button[type=submit]")
    expect(page.locator(".fax-notes li")).to_have_count(1, timeout=TIMEOUT)
    expect(page.locator(".fax-notes li")).to_contain_text("APPROVED")
    expect(page.locator(".fax-notes li")).to_contain_text("Fax Agent")
    first = page.locator(".fax-pages img").first
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=first.element_handle()
    )
    shot(page, artifacts, "fax-01-stamped")
    page.click("text=Hide annotations")
    expect(page.locator("text=Show annotations")).to_be_visible(timeout=TIMEOUT)
    page.click("text=Show annotations")
    page.click(".fax-notes li button")
    expect(page.locator(".fax-notes li")).to_have_count(0, timeout=TIMEOUT)

    with app.app_context():
        session = db.session
        doc = session.query(FaxDocument).one()
        assert doc.sha256 == hashlib.sha256(pdf).hexdigest()
        notes = session.query(FaxAnnotation).all()
        assert len(notes) == 1 and notes[0].removed_at is not None
        session.rollback()
    ctx.close()

    admin_ctx = browser.new_context(viewport={"width": 1280, "height": 720})
    admin_page = admin_ctx.new_page()
    login(admin_page, fax_server, admin_email, "/admin/forms/new")
    admin_page.fill("#a-slug", "feedback")
    admin_page.fill("#a-title", "Feedback")
    admin_page.click("button.wf-send")
    admin_page.wait_for_url("**/admin/forms?saved=feedback")
    expect(admin_page.locator(".wf-admin-form h2")).to_contain_text("Feedback")
    shot(admin_page, artifacts, "webform-admin-list")
    admin_page.goto(f"{fax_server.url}/forms/feedback")
    expect(admin_page.locator("#f-email")).to_be_visible()
    admin_ctx.close()
