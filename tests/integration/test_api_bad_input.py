"""Bad input gets a clear 4xx JSON problem naming what is wrong, never a 500."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.factories import bearer, make_customer, make_user

API = "/api/v1"


@pytest.fixture
def headers(session: Session) -> dict[str, str]:
    h = bearer(session, make_user(session, role="admin"))
    session.commit()
    return h


def test_non_json_body_is_415(client: FlaskClient, headers: dict[str, str]) -> None:
    r = client.post(
        f"{API}/tickets",
        data="subject=Hello",
        headers=headers,
        content_type="application/x-www-form-urlencoded",
    )
    assert r.status_code == 415
    assert r.json["error"] == "unsupported_media_type"
    r = client.post(f"{API}/tickets", data=b"{}", headers=headers, content_type="text/plain")
    assert r.status_code == 415


@pytest.mark.parametrize("raw", [b"{", b"{'subject': 'x'}", b"", b"null", b"\xff\xfe"])
def test_malformed_json_is_400(client: FlaskClient, headers: dict[str, str], raw: bytes) -> None:
    r = client.post(f"{API}/tickets", data=raw, headers=headers, content_type="application/json")
    assert r.status_code == 400, r.json
    assert r.json["error"] == "bad_json"


@pytest.mark.parametrize(
    ("url", "method", "body", "field"),
    [
        ("/tickets", "post", {"subject": "x", "urgency": 5}, "urgency"),
        ("/customers", "post", {"last_name": "x", "shoe_size": 5}, "shoe_size"),
        ("/segments", "post", {"name": "s", "filter": {}, "owner": 1}, "owner"),
        ("/users", "post", {"email": "a@example.com", "name": "A", "is_admin": True}, "is_admin"),
        ("/me/tokens", "post", {"name": "t", "scopes": ["all"]}, "scopes"),
    ],
)
def test_unknown_field_is_422_naming_it(
    client: FlaskClient,
    headers: dict[str, str],
    url: str,
    method: str,
    body: dict[str, object],
    field: str,
) -> None:
    r = getattr(client, method)(f"{API}{url}", json=body, headers=headers)
    assert r.status_code == 422, r.json
    assert field in r.json["message"]
    assert [d["field"] for d in r.json["detail"]] == [field]


def test_unknown_query_parameter_values_and_types(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    r = client.get(f"{API}/tickets?limit=lots", headers=headers)
    assert r.status_code == 422 and r.json["detail"][0]["field"] == "limit"
    r = client.get(f"{API}/tickets?customer_id=-3", headers=headers)
    assert r.status_code == 422 and r.json["detail"][0]["field"] == "customer_id"


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/tickets", {"subject": "nul \x00 inside"}, "subject"),
        ("/customers", {"last_name": "x", "tags": ["ok", "bad\x00"]}, "tags.1"),
        (
            "/segments/preview",
            {"filter": {"field": "city", "op": "eq", "value": "\x00"}},
            "filter.value",
        ),
        ("/customers", {"last_name": "x", "custom_fields": {"k\x00": 1}}, "custom_fields.k\x00"),
    ],
)
def test_text_no_database_can_store_is_422(
    client: FlaskClient,
    headers: dict[str, str],
    url: str,
    body: dict[str, object],
    field: str,
) -> None:
    r = client.post(f"{API}{url}", json=body, headers=headers)
    assert r.status_code == 422, r.json
    assert r.json["field"] == field


def test_not_a_number_is_422(client: FlaskClient, headers: dict[str, str]) -> None:
    # Python's JSON parser accepts NaN; nothing downstream can store it.
    r = client.post(
        f"{API}/segments/preview",
        headers=headers,
        data=b'{"filter": {"field": "custom.x", "op": "gte", "value": NaN}}',
        content_type="application/json",
    )
    assert r.status_code == 422 and r.json["field"] == "filter.value"


@pytest.mark.parametrize("ident", ["0", "2147483648", "99999999999999999999999"])
def test_ids_out_of_range_are_404(client: FlaskClient, headers: dict[str, str], ident: str) -> None:
    for url in (
        f"/customers/{ident}",
        f"/tickets/{ident}",
        f"/segments/{ident}/customers",
        f"/attachments/{ident}/content",
        f"/users/{ident}",
    ):
        r = client.get(f"{API}{url}", headers=headers)
        assert r.status_code == 404, (url, r.json)
        assert r.is_json


def test_wrong_method_is_json_405(client: FlaskClient, headers: dict[str, str]) -> None:
    r = client.put(f"{API}/tickets", json={}, headers=headers)
    assert r.status_code == 405 and r.is_json
    assert "GET" in r.headers["Allow"]


def test_unknown_api_path_is_json_404(client: FlaskClient, headers: dict[str, str]) -> None:
    r = client.get(f"{API}/no-such-thing", headers=headers)
    assert r.status_code == 404 and r.is_json


def test_bad_bearer_tokens_are_401(client: FlaskClient, session: Session) -> None:
    make_customer(session)
    session.commit()
    for value in (
        "Bearer",
        "Bearer sbt_" + "x" * 500,
        "Bearer nonsense",
        "Basic Zm9vOmJhcg==",
        "Bearer sbt_\u00e9",
    ):
        r = client.get(f"{API}/customers", headers={"Authorization": value})
        assert r.status_code == 401, value
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
