"""The menu: each role sees the pages it may open, every link it sees opens, and the pages
it does not see refuse it."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from hub.nav import MENU
from tests.factories import PASSWORD, make_user

LINK = re.compile(r'<nav aria-label="[^"]*">(.*?)</nav>', re.S)
HREF = re.compile(r'href="([^"]+)"')


def _menu_links(html: str) -> list[str]:
    found = LINK.search(html)
    assert found is not None, "no menu on the page"
    return HREF.findall(found.group(1))


@pytest.mark.parametrize("role", ["agent", "supervisor", "admin"])
def test_every_link_in_a_roles_menu_opens_and_the_rest_is_refused(
    app: Flask, client: FlaskClient, session: Session, role: str
) -> None:
    user = make_user(session, role=role)
    session.commit()
    login = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert login.status_code == 302
    page = client.get("/console")
    assert page.status_code == 200
    links = _menu_links(page.get_data(as_text=True))
    with app.test_request_context():
        from flask import url_for

        expected = {
            url_for(link.endpoint)
            for group in MENU
            for link in group.links
            if role in link.roles and link.endpoint in app.view_functions
        }
        hidden = {
            url_for(link.endpoint)
            for group in MENU
            for link in group.links
            if role not in link.roles and link.endpoint in app.view_functions
        }
    assert set(links) == expected
    assert "/console" in links
    for url in links:
        response = client.get(url)
        assert response.status_code == 200, (role, url, response.status_code)
    for url in hidden:
        response = client.get(url)
        assert response.status_code == 403, (role, url, response.status_code)


def test_visitors_get_no_menu(client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert "navmenu" not in page


def test_an_admin_page_carries_the_menu(app: Flask, client: FlaskClient, session: Session) -> None:
    admin = make_user(session, role="admin")
    session.commit()
    client.post("/login", data={"email": admin.email, "password": PASSWORD})
    html = client.get("/admin/email").get_data(as_text=True)
    assert 'aria-current="page"' in html and "/admin/forms" in _menu_links(html)
