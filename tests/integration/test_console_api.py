"""The console's JSON endpoints and pages, through the real app and database."""

from __future__ import annotations

from sqlalchemy import select

from crm_core.models import Interaction
from crm_core.services.custom_fields import define_field
from crm_core.services.tickets import do_create_ticket
from hub.intake import InboundEvent, receive
from tests.factories import PASSWORD, make_customer, make_user

XSS = "<img src=x onerror=alert(1)>"
JSON = {"Accept": "application/json"}


def login(client, user):
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.data


def test_console_page_needs_login_and_renders(app, client, session):
    assert client.get("/console").status_code == 302
    agent = make_user(session, name=XSS)
    session.commit()
    login(client, agent)
    page = client.get("/console")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert XSS not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'id="console-config"' in html
    with client.get("/console/vendor/socket.io.min.js") as js:
        assert js.status_code == 200 and js.mimetype == "text/javascript"
    with client.get("/console/static/console.js") as js:
        assert js.status_code == 200


def test_wallboard_is_for_supervisors(app, client, session):
    agent = make_user(session)
    boss = make_user(session, role="supervisor")
    session.commit()
    login(client, agent)
    assert client.get("/wallboard").status_code == 403
    assert client.get("/console/api/wallboard", headers=JSON).status_code == 403
    client.post("/logout")
    login(client, boss)
    page = client.get("/wallboard?tv=1")
    assert page.status_code == 200
    assert 'class="wallboard-page tv"' in page.get_data(as_text=True)
    data = client.get("/console/api/wallboard", headers=JSON).get_json()
    assert set(data) >= {"queues", "agents", "waiting", "volume", "sla_breaches_today"}


def test_search_finds_by_number_in_any_format_email_and_ticket(app, client, session):
    agent = make_user(session)
    anna = make_customer(
        session,
        first_name="Anna",
        last_name="Zielińska",
        phones=("+48 601 234 567",),
        emails=("anna@example.org",),
    )
    ticket = do_create_ticket(
        session, subject="Router broken", customer_id=anna.id, assignee_id=agent.id
    )
    session.commit()
    login(client, agent)
    for q in ("0048601234567", "601-234-567", "anna@EXAMPLE.org", "zieli", ticket.number):
        data = client.get("/console/api/search", query_string={"q": q}, headers=JSON).get_json()
        assert [c["id"] for c in data["customers"]] == [anna.id], q
        assert data["customers"][0]["contacts"][0] == "601 234 567"
    data = client.get(
        "/console/api/search", query_string={"q": ticket.number}, headers=JSON
    ).get_json()
    assert [t["id"] for t in data["tickets"]] == [ticket.id]
    assert client.get("/console/api/search?q=a", headers=JSON).get_json() == {
        "customers": [],
        "tickets": [],
    }


def test_unknown_caller_becomes_a_customer_linked_to_the_call(app, client, session):
    agent = make_user(session)
    session.commit()
    with app.app_context():
        call = receive(
            InboundEvent(
                channel="voice", external_id="CA-unknown-1", from_address="+48 22 123 45 67"
            )
        )
    login(client, agent)
    unknown = client.get(
        "/console/api/unknown-caller", query_string={"number": "+48221234567"}, headers=JSON
    ).get_json()
    assert unknown["known"] is False and unknown["display"] == "22 123 45 67"
    response = client.post(
        "/console/api/customers",
        json={
            "kind": "person",
            "first_name": "Jan",
            "last_name": "Nowy",
            "phone": "+48221234567",
            "link_interaction_id": call.id,
        },
    )
    assert response.status_code == 201, response.get_json()
    card = response.get_json()
    assert card["name"] == "Jan Nowy"
    assert [c["display"] for c in card["contact_points"]] == ["22 123 45 67"]
    detail = client.get(f"/console/api/interactions/{call.id}", headers=JSON).get_json()
    assert detail["customer_id"] == card["id"]


def test_link_to_existing_customer(app, client, session):
    agent = make_user(session)
    anna = make_customer(session, first_name="Anna")
    session.commit()
    with app.app_context():
        call = receive(
            InboundEvent(
                channel="voice", external_id="CA-unknown-2", from_address="+48 22 765 43 21"
            )
        )
    login(client, agent)
    response = client.post(
        f"/console/api/interactions/{call.id}/link", json={"customer_id": anna.id}
    )
    assert response.status_code == 200
    assert response.get_json()["card"]["id"] == anna.id
    bad = client.post(
        f"/console/api/interactions/{call.id}/link", json={"customer_id": "x"}, headers=JSON
    )
    assert bad.status_code == 422


def test_edit_card_with_custom_fields_tags_contacts_and_relations(app, client, session):
    agent = make_user(session)
    define_field(session, key="contract", label="Contract", field_type="text")
    define_field(session, key="seats", label="Seats", field_type="number")
    anna = make_customer(session, first_name="Anna")
    org = make_customer(session, kind="organisation", organisation_name="Acme")
    session.commit()
    login(client, agent)
    response = client.patch(
        f"/console/api/customers/{anna.id}",
        json={
            "last_name": "Nowak",
            "vip": True,
            "no_mail": True,
            "tags": ["gold", "warsaw"],
            "birthday": "1990-05-01",
            "custom_fields": {"contract": "C-1", "seats": 3},
        },
    )
    assert response.status_code == 200, response.get_json()
    card = response.get_json()
    assert card["name"] == "Anna Nowak" and card["vip"] and card["consent"]["no_mail"]
    assert card["tags"] == ["gold", "warsaw"]
    assert {f["key"]: f["value"] for f in card["custom_fields"]} == {"contract": "C-1", "seats": 3}
    wrong = client.patch(
        f"/console/api/customers/{anna.id}", json={"custom_fields": {"seats": "many"}}, headers=JSON
    )
    assert wrong.status_code == 422
    assert wrong.get_json()["field"] == "custom_fields.seats"
    added = client.post(
        f"/console/api/customers/{anna.id}/contact-points",
        json={"kind": "phone", "value": "601 234 567"},
    )
    assert added.status_code == 201
    point = added.get_json()["contact_points"][0]
    assert point["display"] == "601 234 567"
    related = client.post(
        f"/console/api/customers/{anna.id}/relations",
        json={"relation": "works_for", "to_customer_id": org.id},
    )
    assert related.status_code == 201
    assert related.get_json()["organisation"]["name"] == "Acme"
    removed = client.delete(f"/console/api/customers/{anna.id}/contact-points/{point['id']}")
    assert removed.get_json()["contact_points"] == []


def test_history_pages_through_everything(app, client, session):
    agent = make_user(session)
    anna = make_customer(session, first_name="Anna")
    for n in range(45):
        session.add(
            Interaction(
                channel="email",
                direction="inbound",
                status="closed",
                customer_id=anna.id,
                summary=f"mail {n}",
            )
        )
    session.commit()
    login(client, agent)
    seen, cursor = [], None
    while True:
        page = client.get(
            f"/console/api/customers/{anna.id}/history",
            query_string={"cursor": cursor} if cursor else {},
            headers=JSON,
        ).get_json()
        seen += [i["summary"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 45 and len(set(seen)) == 45


def test_notes_and_disposition_on_an_interaction_reach_the_history(app, client, session):
    agent = make_user(session)
    anna = make_customer(session, first_name="Anna", phones=("+48601234567",))
    session.commit()
    with app.app_context():
        call = receive(
            InboundEvent(channel="voice", external_id="CA-note-1", from_address="601 234 567")
        )
    login(client, agent)
    response = client.post(
        f"/console/api/interactions/{call.id}/notes", json={"body": "Wants a callback"}
    )
    assert response.status_code == 201
    assert [n["body_text"] for n in response.get_json()["notes"]] == ["Wants a callback"]
    response = client.post(
        f"/console/api/interactions/{call.id}/disposition", json={"disposition": "callback"}
    )
    assert response.get_json()["disposition"] == "callback"
    history = client.get(f"/console/api/customers/{anna.id}/history", headers=JSON).get_json()
    assert "Wants a callback" in [i["summary"] for i in history["items"]]


def test_ticket_list_detail_changes_and_reply_through_the_port(app, client, session):
    agent = make_user(session)
    other = make_user(session)
    anna = make_customer(session, first_name="Anna", emails=("anna@example.org",))
    mine = do_create_ticket(
        session, subject=XSS, customer_id=anna.id, assignee_id=agent.id, priority="high"
    )
    hidden = do_create_ticket(session, subject="Not yours", assignee_id=other.id)
    session.commit()
    login(client, agent)
    items = client.get("/console/api/tickets", headers=JSON).get_json()["items"]
    assert [t["id"] for t in items] == [mine.id]
    assert items[0]["subject"] == XSS  # raw text: the page puts it in with textContent
    assert client.get("/console/api/tickets?priority=low", headers=JSON).get_json()["items"] == []
    assert client.get(f"/console/api/tickets/{hidden.id}", headers=JSON).status_code == 404
    detail = client.patch(
        f"/console/api/tickets/{mine.id}", json={"status": "open", "priority": "urgent"}
    )
    assert detail.status_code == 200
    assert detail.get_json()["status"] == "open" and detail.get_json()["priority"] == "urgent"
    illegal = client.patch(f"/console/api/tickets/{mine.id}", json={"status": "new"}, headers=JSON)
    assert illegal.status_code == 409
    reply = client.post(
        f"/console/api/tickets/{mine.id}/reply", json={"body": "We are on it.", "status": "pending"}
    )
    assert reply.status_code == 201, reply.get_json()
    data = reply.get_json()
    assert data["status"] == "pending"
    sent = [m for m in data["thread"] if m["direction"] == "outbound"]
    assert len(sent) == 1 and sent[0]["body_text"] == "We are on it."
    out = session.scalar(select(Interaction).where(Interaction.direction == "outbound"))
    assert out.to_address == "anna@example.org"
    assert out.subject == f"Re: {XSS} [{mine.number}]"


def test_html_mail_is_sanitised_in_the_thread_and_files_listed(app, client, session):
    from crm_core.services.blobs import BlobStore, do_attach_file

    agent = make_user(session)
    ticket = do_create_ticket(session, subject="HTML", assignee_id=agent.id)
    mail = Interaction(
        channel="email",
        direction="inbound",
        status="closed",
        ticket_id=ticket.id,
        from_address="x@example.org",
        body_html='<p onclick="x()">Hi<script>alert(1)</script><img src=x onerror=alert(1)></p>',
    )
    session.add(mail)
    session.flush()
    store = BlobStore(app.extensions["switchboard.settings"].effective_blob_dir)
    do_attach_file(
        session,
        store,
        data=b"%PDF-1.4 invoice",
        filename="invoice.pdf",
        max_size=10_000,
        interaction_id=mail.id,
        ticket_id=ticket.id,
    )
    session.commit()
    login(client, agent)
    thread = client.get(f"/console/api/tickets/{ticket.id}", headers=JSON).get_json()["thread"]
    assert thread[0]["body_html"] == "<p>Hi</p>"
    [att] = thread[0]["attachments"]
    assert att["filename"] == "invoice.pdf"
    with client.get(att["url"]) as download:
        assert download.status_code == 200 and download.data == b"%PDF-1.4 invoice"


def test_supervisor_sets_an_agents_state_and_reassigns_waiting_work(app, client, session):
    from hub.models import AgentStatus, QueueEntry
    from hub.routing import do_add_queue_member, do_create_queue

    queue = do_create_queue(session, name="Voice", channels=["voice"])
    agent = make_user(session, name="Ala Agent")
    boss = make_user(session, role="supervisor")
    do_add_queue_member(session, queue, agent)
    session.commit()
    with app.app_context():
        call = receive(
            InboundEvent(channel="voice", external_id="CA-wait-1", from_address="+48 601 000 111")
        )
    login(client, boss)
    board = client.get("/console/api/wallboard", headers=JSON).get_json()
    assert [w["id"] for w in board["waiting"]] == [call.id]
    assert board["waiting"][0]["who"] == "601 000 111"
    assert board["queues"][0]["waiting"] == 1
    assert sum(board["volume"]["voice"]) == 1

    response = client.post(
        f"/console/api/agents/{agent.id}/state", json={"state": "break", "pause_code": "meeting"}
    )
    assert response.status_code == 200, response.get_json()
    session.expire_all()
    status = session.get(AgentStatus, agent.id)
    assert (status.state, status.pause_code) == ("break", "meeting")
    session.commit()
    bad = client.post(f"/console/api/agents/{agent.id}/state", json={"state": "busy"}, headers=JSON)
    assert bad.status_code == 422

    response = client.post(
        f"/console/api/interactions/{call.id}/assign", json={"agent_id": agent.id}
    )
    assert response.status_code == 200, response.get_json()
    session.expire_all()
    assert session.get(QueueEntry, call.id).target_agent_id == agent.id
    session.commit()


def test_agents_may_not_use_supervisor_actions(app, client, session):
    agent = make_user(session)
    other = make_user(session)
    session.commit()
    login(client, agent)
    response = client.post(
        f"/console/api/agents/{other.id}/state", json={"state": "offline"}, headers=JSON
    )
    assert response.status_code == 403


def test_bad_input_is_refused_with_the_field_named(app, client, session):
    agent = make_user(session)
    anna = make_customer(session, first_name="Anna")
    session.commit()
    login(client, agent)
    cases = [
        ("patch", f"/console/api/customers/{anna.id}", {"first_name": "x" * 121}, "first_name"),
        ("patch", f"/console/api/customers/{anna.id}", {"vip": "yes"}, "vip"),
        ("patch", f"/console/api/customers/{anna.id}", {"birthday": "yesterday"}, "birthday"),
        ("patch", f"/console/api/customers/{anna.id}", {"tags": "gold"}, "tags"),
        (
            "post",
            f"/console/api/customers/{anna.id}/contact-points",
            {"kind": "phone", "value": "12"},
            "value",
        ),
        ("post", "/console/api/customers", ["not", "an", "object"], "body"),
        (
            "post",
            f"/console/api/customers/{anna.id}/relations",
            {"relation": "works_for", "to_customer_id": True},
            "to_customer_id",
        ),
    ]
    for method, url, body, field in cases:
        response = getattr(client, method)(url, json=body, headers=JSON)
        assert response.status_code == 422, (url, body, response.get_json())
        assert response.get_json()["field"] == field, (url, body)
    assert client.get("/console/api/customers/999999/card", headers=JSON).status_code == 404
