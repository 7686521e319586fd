"""Users and teams (admins), the caller's own account and API tokens, relation types.

Who may do what: users are listed, created and changed by admins only; every user may list
teams and their members (agents pick a team when they hand over a ticket), only admins
create teams or change membership. Everyone manages their own API tokens: a new token is
shown once, in the answer that creates it, and only its hash is kept.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from crm_core.models import RelationType, Team, User
from crm_core.services import users as svc
from hub.api import bp
from hub.api.common import SearchText, like_pattern, not_null
from hub.api.schemas import Id, Out, PageQuery, Strict
from hub.api.spec import operation
from hub.auth import current
from hub.db import db

Role = Literal["agent", "supervisor", "admin"]
UserName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
TeamName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())  # reads the tz database: once


def _timezone(value: str) -> str:
    if value not in _zones():
        raise ValueError("not an IANA time zone name (e.g. Europe/Warsaw)")
    return value


TimeZone = Annotated[str, StringConstraints(max_length=64), AfterValidator(_timezone)]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")]
TeamIds = Annotated[list[Id], Field(max_length=100)]


class TeamRef(Out):
    id: int
    name: str


class UserOut(Out):
    id: int
    email: str
    name: str
    role: str
    active: bool
    language: str
    timezone: str
    created_at: dt.datetime
    teams: list[TeamRef]


class UserPage(BaseModel):
    items: list[UserOut]
    limit: int
    offset: int
    has_more: bool


class UserQuery(PageQuery):
    role: Role | None = None
    active: bool | None = None
    team_id: Id | None = None
    q: SearchText | None = Field(None, description="part of the name or e-mail address")


class UserCreate(Strict):
    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=320)]
    name: UserName
    password: Annotated[str, StringConstraints(min_length=8, max_length=1024)] | None = Field(
        None, description="leave out for a user who only uses API tokens"
    )
    role: Role = "agent"
    team_ids: TeamIds = Field(default_factory=list)
    language: Language = "en"
    timezone: TimeZone = "UTC"


class UserUpdate(Strict):
    """Send only what changes; ``team_ids`` replaces the user's teams."""

    name: UserName = not_null()
    role: Role = not_null()
    active: bool = not_null()
    team_ids: TeamIds = not_null()


class TeamOut(Out):
    id: int
    name: str
    created_at: dt.datetime
    members: list[TeamRef]


class TeamList(BaseModel):
    items: list[TeamOut]


class TeamCreate(Strict):
    name: TeamName


class MemberIn(Strict):
    user_id: Id


class TokenCreate(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]


class TokenOut(Out):
    id: int
    name: str
    prefix: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="the bearer token; shown only this once")


class TokenList(BaseModel):
    items: list[TokenOut]


class RelationTypeOut(Out):
    key: str
    label: str
    inverse_label: str


class RelationTypeList(BaseModel):
    items: list[RelationTypeOut]


def _team_out(team: Team) -> TeamOut:
    return TeamOut(
        id=team.id,
        name=team.name,
        created_at=team.created_at,
        members=[TeamRef(id=u.id, name=u.name) for u in team.members],
    )


# --- users (admins) -------------------------------------------------------------------


@operation(
    bp,
    "/users",
    "GET",
    summary="List users",
    tags=["users"],
    query=UserQuery,
    response=UserPage,
    roles=("admin",),
)
def list_users(query: UserQuery) -> UserPage:
    stmt = select(User).options(selectinload(User.teams))
    if query.role is not None:
        stmt = stmt.where(User.role == query.role)
    if query.active is not None:
        stmt = stmt.where(User.active.is_(query.active))
    if query.team_id is not None:
        stmt = stmt.where(User.teams.any(Team.id == query.team_id))
    if query.q:
        pattern = like_pattern(query.q)
        stmt = stmt.where(
            or_(User.name.ilike(pattern, escape="\\"), User.email.ilike(pattern, escape="\\"))
        )
    stmt = stmt.order_by(func.lower(User.name), User.id)
    rows = list(db.session.scalars(stmt.limit(query.limit + 1).offset(query.offset)))
    return UserPage(
        items=[UserOut.model_validate(u) for u in rows[: query.limit]],
        limit=query.limit,
        offset=query.offset,
        has_more=len(rows) > query.limit,
    )


@operation(
    bp,
    "/users",
    "POST",
    summary="Create a user",
    tags=["users"],
    body=UserCreate,
    response=UserOut,
    status=201,
    roles=("admin",),
    errors=(409,),
)
def create_user(body: UserCreate) -> UserOut:
    session = db.session
    teams = svc.teams_by_id(session, body.team_ids)
    user = svc.do_create_user(
        session,
        email=body.email,
        name=body.name,
        password=body.password,
        role=body.role,
        teams=teams,
        language=body.language,
        timezone=body.timezone,
        actor_id=current().id,
    )
    return UserOut.model_validate(user)


@operation(
    bp,
    "/users/<int:user_id>",
    "GET",
    summary="Read a user",
    tags=["users"],
    response=UserOut,
    roles=("admin",),
)
def get_user(user_id: int) -> UserOut:
    return UserOut.model_validate(svc.get_user(db.session, user_id))


@operation(
    bp,
    "/users/<int:user_id>",
    "PATCH",
    summary="Change a user's role, teams or status",
    tags=["users"],
    body=UserUpdate,
    response=UserOut,
    roles=("admin",),
    errors=(409,),
)
def update_user(user_id: int, body: UserUpdate) -> UserOut:
    """Deactivate with ``active: false`` (their tokens stop working at once). The last
    active admin cannot be demoted or deactivated (409)."""
    session = db.session
    user = svc.get_user(session, user_id)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    svc.do_update_user(session, user, changes, actor_id=current().id)
    return UserOut.model_validate(user)


# --- teams ----------------------------------------------------------------------------


@operation(
    bp, "/teams", "GET", summary="List teams and their members", tags=["teams"], response=TeamList
)
def list_teams() -> TeamList:
    rows = db.session.scalars(select(Team).options(selectinload(Team.members)).order_by(Team.name))
    return TeamList(items=[_team_out(t) for t in rows])


@operation(
    bp,
    "/teams",
    "POST",
    summary="Create a team",
    tags=["teams"],
    body=TeamCreate,
    response=TeamOut,
    status=201,
    roles=("admin",),
    errors=(409,),
)
def create_team(body: TeamCreate) -> TeamOut:
    team = svc.do_create_team(db.session, name=body.name, actor_id=current().id)
    return _team_out(team)


@operation(
    bp, "/teams/<int:team_id>", "GET", summary="Read a team", tags=["teams"], response=TeamOut
)
def get_team(team_id: int) -> TeamOut:
    return _team_out(svc.get_team(db.session, team_id))


@operation(
    bp,
    "/teams/<int:team_id>/members",
    "POST",
    summary="Add a member to a team",
    tags=["teams"],
    body=MemberIn,
    response=TeamOut,
    roles=("admin",),
)
def add_member(team_id: int, body: MemberIn) -> TeamOut:
    session = db.session
    team = svc.get_team(session, team_id)
    user = svc.get_user(session, body.user_id)
    svc.do_add_team_member(session, team, user, actor_id=current().id)
    return _team_out(team)


@operation(
    bp,
    "/teams/<int:team_id>/members/<int:user_id>",
    "DELETE",
    summary="Remove a member from a team",
    tags=["teams"],
    status=204,
    roles=("admin",),
)
def remove_member(team_id: int, user_id: int) -> None:
    session = db.session
    team = svc.get_team(session, team_id)
    user = svc.get_user(session, user_id)
    svc.do_remove_team_member(session, team, user, actor_id=current().id)


# --- the caller -----------------------------------------------------------------------


@operation(bp, "/me", "GET", summary="Who am I", tags=["me"], response=UserOut)
def me() -> UserOut:
    return UserOut.model_validate(current())


@operation(bp, "/me/tokens", "GET", summary="My API tokens", tags=["me"], response=TokenList)
def list_tokens() -> TokenList:
    return TokenList(
        items=[TokenOut.model_validate(t) for t in svc.tokens_of(db.session, current())]
    )


@operation(
    bp,
    "/me/tokens",
    "POST",
    summary="Create an API token for myself",
    tags=["me"],
    body=TokenCreate,
    response=TokenCreated,
    status=201,
)
def create_token(body: TokenCreate) -> TokenCreated:
    """The answer carries the token itself; it is not stored and cannot be shown again."""
    row, token = svc.do_issue_token(db.session, current(), body.name)
    return TokenCreated(**TokenOut.model_validate(row).model_dump(), token=token)


@operation(
    bp,
    "/me/tokens/<int:token_id>",
    "DELETE",
    summary="Revoke one of my API tokens",
    tags=["me"],
    status=204,
)
def revoke_token(token_id: int) -> None:
    svc.do_revoke_token(db.session, current(), token_id)


# --- reference data -------------------------------------------------------------------


@operation(
    bp,
    "/relation-types",
    "GET",
    summary="Kinds of relation between customers",
    tags=["customers"],
    response=RelationTypeList,
)
def relation_types() -> RelationTypeList:
    rows = db.session.scalars(select(RelationType).order_by(RelationType.key))
    return RelationTypeList(items=[RelationTypeOut.model_validate(r) for r in rows])
