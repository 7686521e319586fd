"""The menu: every page a person can open, grouped, each shown only to the roles that may
open it and only when the package that serves it is installed.

The menu is one product decision, so it lives in one place; links name Flask endpoints
(strings), so hub imports none of the packages that serve them, and a link whose endpoint
the app does not have (a channel switched off) simply does not show. Pages still check
rights themselves: the menu only hides what a role cannot use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, url_for
from flask_babel import lazy_gettext as _l

EVERYONE = frozenset({"agent", "supervisor", "admin"})
SUPERVISORS = frozenset({"supervisor", "admin"})
ADMINS = frozenset({"admin"})


@dataclass(frozen=True)
class NavLink:
    endpoint: str
    label: Any  # a lazy translated string
    roles: frozenset[str]


@dataclass(frozen=True)
class NavGroup:
    key: str
    label: Any
    links: tuple[NavLink, ...]


MENU: tuple[NavGroup, ...] = (
    NavGroup(
        "work",
        _l("Work"),
        (
            NavLink("console.console", _l("Console"), EVERYONE),
            NavLink("console.calendar_page", _l("Calendar"), EVERYONE),
            NavLink("fax.send", _l("Send a fax"), EVERYONE),
            # Over the complaints the reader may see (record rules), so for everyone.
            NavLink("console.complaints_report_page", _l("Complaints report"), EVERYONE),
            NavLink("console.settings", _l("My settings"), EVERYONE),
        ),
    ),
    NavGroup(
        "supervise",
        _l("Supervision"),
        (
            NavLink("console.wallboard", _l("Wallboard"), SUPERVISORS),
            NavLink("console.reports_page", _l("Reports"), SUPERVISORS),
        ),
    ),
    NavGroup(
        "campaigns",
        _l("Campaigns"),
        (
            NavLink("campaigns.index", _l("Campaigns"), SUPERVISORS),
            NavLink("scripts.index", _l("Scripts"), SUPERVISORS),
            NavLink("surveys.index", _l("Surveys"), EVERYONE),  # agents run them from here
            NavLink("campaigns.dnc_page", _l("Do-not-call list"), SUPERVISORS),
        ),
    ),
    NavGroup(
        "admin",
        _l("Administration"),
        (
            NavLink("webforms_admin.index", _l("Web forms"), ADMINS),
            NavLink("email_admin.index", _l("E-mail channel"), ADMINS),
            NavLink("api.api_docs", _l("API documentation"), EVERYONE),
        ),
    ),
)


def menu_for(role: str | None) -> list[dict[str, Any]]:
    """The groups and links ``role`` may use, with their URLs (empty groups left out)."""
    if role is None:
        return []
    have = current_app.view_functions
    groups = []
    for group in MENU:
        links = [
            {"url": url_for(link.endpoint), "label": str(link.label), "endpoint": link.endpoint}
            for link in group.links
            if role in link.roles and link.endpoint in have
        ]
        if links:
            groups.append({"key": group.key, "label": str(group.label), "links": links})
    return groups


def init_app(app: Flask) -> None:
    """``nav_menu()`` in every template: the signed-in user's menu."""

    @app.context_processor
    def _menu() -> dict[str, Any]:
        def nav_menu() -> list[dict[str, Any]]:
            from flask_login import current_user

            if not getattr(current_user, "is_authenticated", False):
                return []
            return menu_for(getattr(current_user, "role", None))

        return {"nav_menu": nav_menu}
