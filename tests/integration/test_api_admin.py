"""Users, teams, the caller's own account and tokens, relation types."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.factories import PASSWORD, bearer, make_user

API = "/api/v1"


def test_users_are_for_admins_only(client: FlaskClient, session: Session) -> None:
    agent_h = bearer(session, make_user(session, role="agent"))
    super_h = bearer(session, make_user(session, role="supervisor"))
    session.commit()
    for headers in (agent_h, super_h):
        assert client.get(f"{API}/users", headers=headers).status_code == 403
        assert (
            client.post(
                f"{API}/users",
                headers=headers,
                json={"email": "x@example.com", "name": "X", "role": "admin"},
            ).status_code
            == 403
        )
        assert (
            client.patch(f"{API}/users/1", headers=headers, json={"role": "admin"}).status_code
            == 403
        )
        assert client.post(f"{API}/teams", headers=headers, json={"name": "T"}).status_code == 403
    # Every user may see the teams (to hand a ticket over).
    assert client.get(f"{API}/teams", headers=agent_h).status_code == 200


def test_admin_manages_users_and_teams(client: FlaskClient, session: Session) -> None:
    admin = make_user(session, role="admin")
    h = bearer(session, admin)
    session.commit()

    r = client.post(f"{API}/teams", headers=h, json={"name": "  Billing "})
    assert r.status_code == 201, r.json
    billing = r.json["id"]
    assert client.post(f"{API}/teams", headers=h, json={"name": "Billing"}).status_code == 409
    sales = client.post(f"{API}/teams", headers=h, json={"name": "Sales"}).json["id"]

    r = client.post(
        f"{API}/users",
        headers=h,
        json={
            "email": "Ola.Nowak@Example.com",
            "name": "Ola Nowak",
            "password": PASSWORD,
            "role": "agent",
            "team_ids": [billing],
            "timezone": "Europe/Warsaw",
            "language": "pl",
        },
    )
    assert r.status_code == 201, r.json
    ola = r.json
    assert ola["email"] == "ola.nowak@example.com"
    assert [t["name"] for t in ola["teams"]] == ["Billing"]
    assert "password" not in ola and "password_hash" not in ola
    dup = client.post(
        f"{API}/users", headers=h, json={"email": "ola.nowak@example.com", "name": "Again"}
    )
    assert dup.status_code == 409
    for body, field in (
        ({"email": "not-an-address", "name": "N"}, "email"),
        ({"email": "n@example.com", "name": "N", "password": "short"}, "password"),
        ({"email": "n@example.com", "name": "N", "role": "root"}, "role"),
        ({"email": "n@example.com", "name": "N", "timezone": "Mars/Olympus"}, "timezone"),
        ({"email": "n@example.com", "name": "N", "team_ids": [99999]}, "team_ids"),
    ):
        r = client.post(f"{API}/users", headers=h, json=body)
        assert r.status_code == 422, (body, r.json)
        fields = {d["field"] for d in r.json.get("detail") or []} | {r.json.get("field")}
        assert field in fields, r.json

    r = client.patch(
        f"{API}/users/{ola['id']}",
        headers=h,
        json={"role": "supervisor", "team_ids": [sales, billing]},
    )
    assert r.status_code == 200, r.json
    assert r.json["role"] == "supervisor"
    assert [t["name"] for t in r.json["teams"]] == ["Billing", "Sales"]

    listed = client.get(f"{API}/users?role=supervisor", headers=h).json["items"]
    assert [u["id"] for u in listed] == [ola["id"]]
    assert [u["id"] for u in client.get(f"{API}/users?q=nowak", headers=h).json["items"]] == [
        ola["id"]
    ]
    assert [
        u["id"] for u in client.get(f"{API}/users?team_id={sales}", headers=h).json["items"]
    ] == [ola["id"]]

    # Membership one at a time.
    r = client.delete(f"{API}/teams/{sales}/members/{ola['id']}", headers=h)
    assert r.status_code == 204
    assert client.delete(f"{API}/teams/{sales}/members/{ola['id']}", headers=h).status_code == 404
    r = client.post(f"{API}/teams/{sales}/members", headers=h, json={"user_id": ola["id"]})
    assert r.status_code == 200 and [m["id"] for m in r.json["members"]] == [ola["id"]]
    teams = client.get(f"{API}/teams", headers=h).json["items"]
    assert [t["name"] for t in teams] == ["Billing", "Sales"]

    # A deactivated user's tokens stop working at once.
    session.expire_all()
    from crm_core.services.users import get_user

    ola_h = bearer(session, get_user(session, ola["id"]))
    session.commit()
    assert client.get(f"{API}/me", headers=ola_h).status_code == 200
    assert (
        client.patch(f"{API}/users/{ola['id']}", headers=h, json={"active": False}).status_code
        == 200
    )
    assert client.get(f"{API}/me", headers=ola_h).status_code == 401


def test_last_admin_stays(client: FlaskClient, session: Session) -> None:
    admin = make_user(session, role="admin")
    h = bearer(session, admin)
    session.commit()
    for change in ({"role": "agent"}, {"active": False}):
        r = client.patch(f"{API}/users/{admin.id}", headers=h, json=change)
        assert r.status_code == 409, r.json
    assert client.get(f"{API}/me", headers=h).json["role"] == "admin"
    r = client.patch(f"{API}/users/{admin.id}", headers=h, json={"role": None})
    assert r.status_code == 422


def test_me_and_my_tokens(client: FlaskClient, session: Session) -> None:
    agent = make_user(session, role="agent", teams=("Sales",))
    other = make_user(session, role="agent")
    h = bearer(session, agent)
    other_h = bearer(session, other)
    session.commit()

    me = client.get(f"{API}/me", headers=h).json
    assert me["id"] == agent.id and [t["name"] for t in me["teams"]] == ["Sales"]

    r = client.post(f"{API}/me/tokens", headers=h, json={"name": "CRM sync"})
    assert r.status_code == 201, r.json
    token = r.json["token"]
    assert token.startswith(r.json["prefix"])
    new_h = {"Authorization": f"Bearer {token}"}
    assert client.get(f"{API}/me", headers=new_h).json["id"] == agent.id

    listed = client.get(f"{API}/me/tokens", headers=h).json["items"]
    assert {t["name"] for t in listed} == {"test", "CRM sync"}
    assert all("token" not in t for t in listed)  # shown once, never again

    # Someone else's token is not theirs to revoke.
    assert client.delete(f"{API}/me/tokens/{r.json['id']}", headers=other_h).status_code == 404
    assert client.delete(f"{API}/me/tokens/{r.json['id']}", headers=h).status_code == 204
    assert client.get(f"{API}/me", headers=new_h).status_code == 401
    revoked = [
        t
        for t in client.get(f"{API}/me/tokens", headers=h).json["items"]
        if t["id"] == r.json["id"]
    ]
    assert revoked[0]["revoked_at"] is not None


def test_relation_types(client: FlaskClient, session: Session) -> None:
    h = bearer(session, make_user(session))
    session.commit()
    items = client.get(f"{API}/relation-types", headers=h).json["items"]
    keys = {i["key"] for i in items}
    assert {"works_for", "spouse_of", "parent_company_of"} <= keys
