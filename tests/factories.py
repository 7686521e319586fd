"""Factories for test data, going through the same actions the product uses."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy.orm import Session

from crm_core.models import Customer, Team, User
from crm_core.services.customers import do_create_customer
from crm_core.services.users import do_create_user, do_issue_token, get_or_create_team

PASSWORD = "correct horse battery"
_seq = itertools.count(1)


def make_customer(
    session: Session,
    *,
    first_name: str = "Anna",
    last_name: str | None = None,
    phones: tuple[str, ...] = (),
    emails: tuple[str, ...] = (),
    kind: str = "person",
    organisation_name: str | None = None,
    region: str = "PL",
    **fields: Any,
) -> Customer:
    n = next(_seq)
    contact = [{"kind": "phone", "value": p} for p in phones]
    contact += [{"kind": "email", "value": e} for e in emails]
    data: dict[str, Any] = {"kind": kind, **fields}
    if kind == "organisation":
        data["organisation_name"] = organisation_name or f"Firma {n} sp. z o.o."
    else:
        data["first_name"] = first_name
        data["last_name"] = last_name or f"Kowalska-{n}"
    custom = data.pop("custom_fields", None)
    tags = data.pop("tags", ())
    return do_create_customer(
        session, fields=data, contact_points=contact, tags=tags, custom_fields=custom, region=region
    )


def make_user(
    session: Session, *, role: str = "agent", teams: tuple[str, ...] = (), name: str | None = None
) -> User:
    n = next(_seq)
    team_rows: list[Team] = [get_or_create_team(session, t) for t in teams]
    return do_create_user(
        session,
        email=f"{role}{n}@example.com",
        name=name or f"{role.title()} {n}",
        password=PASSWORD,
        role=role,
        teams=team_rows,
    )


def bearer(session: Session, user: User) -> dict[str, str]:
    _, token = do_issue_token(session, user, "test")
    return {"Authorization": f"Bearer {token}"}
