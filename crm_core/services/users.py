"""Users, teams, passwords (argon2) and API tokens (shown once, stored as SHA-256)."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.db import utcnow
from crm_core.errors import N_, Conflict, NotFound, ValidationFailed
from crm_core.models import ApiToken, Team, User
from crm_core.models.users import ROLES
from crm_core.services import audit
from crm_core.services.emails import normalize_email

_hasher = PasswordHasher()
TOKEN_PREFIX = "sbt_"  # noqa: S105 - a prefix, not a secret
MIN_PASSWORD = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(user: User, password: str) -> bool:
    if not user.password_hash:
        return False
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def do_create_user(
    session: Session,
    *,
    email: str,
    name: str,
    password: str | None,
    role: str = "agent",
    teams: list[Team] | None = None,
    language: str = "en",
    timezone: str = "UTC",
    actor_id: int | None = None,
) -> User:
    addr = normalize_email(email)
    if addr is None:
        raise ValidationFailed(
            N_("'%(value)s' is not an e-mail address"), field="email", value=email
        )
    if role not in ROLES:
        raise ValidationFailed(
            N_("role must be one of %(roles)s"), field="role", roles=", ".join(ROLES)
        )
    if password is not None and len(password) < MIN_PASSWORD:
        raise ValidationFailed(
            N_("password must have at least %(min)s characters"), field="password", min=MIN_PASSWORD
        )
    if not name.strip():
        raise ValidationFailed(N_("name is required"), field="name")
    if session.scalar(select(User.id).where(User.email == addr)) is not None:
        raise Conflict(N_("a user with e-mail %(email)s exists already"), field="email", email=addr)
    user = User(
        email=addr,
        name=name.strip(),
        password_hash=hash_password(password) if password else None,
        role=role,
        language=language,
        timezone=timezone,
        active=True,
    )
    user.teams = list(teams or [])
    session.add(user)
    session.flush()
    audit.record(
        session,
        user_id=actor_id,
        action="user.created",
        entity_type="user",
        entity_id=user.id,
        after={"email": addr, "role": role, "teams": [t.name for t in user.teams]},
    )
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    addr = normalize_email(email)
    if addr is None:
        return None
    user = session.scalar(select(User).where(User.email == addr))
    if user is None:
        # Spend the same time as a real check so response time does not reveal accounts.
        _hasher.hash(password)
        return None
    if not user.active or not verify_password(user, password):
        return None
    return user


def get_or_create_team(session: Session, name: str) -> Team:
    team = session.scalar(select(Team).where(Team.name == name))
    if team is None:
        team = Team(name=name)
        session.add(team)
        session.flush()
    return team


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def do_issue_token(session: Session, user: User, name: str) -> tuple[ApiToken, str]:
    """Create an API token; returns the row and the token text, which is never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name, prefix=token[:10], token_hash=_digest(token))
    session.add(row)
    session.flush()
    audit.record(
        session,
        user_id=user.id,
        action="token.issued",
        entity_type="api_token",
        entity_id=row.id,
        after={"name": name, "prefix": row.prefix},
    )
    return row, token


def user_for_token(session: Session, token: str) -> User | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    row.last_used_at = utcnow()
    return row.user


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(N_("user %(id)s not found"), id=user_id)
    return user


def get_team(session: Session, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None:
        raise NotFound(N_("team %(id)s not found"), id=team_id)
    return team


def teams_by_id(session: Session, team_ids: list[int]) -> list[Team]:
    wanted = list(dict.fromkeys(team_ids))
    found = {t.id: t for t in session.scalars(select(Team).where(Team.id.in_(wanted)))}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise ValidationFailed(
            N_("team %(ids)s does not exist"), field="team_ids", ids=", ".join(map(str, missing))
        )
    return [found[i] for i in wanted]


def _other_active_admins(session: Session, user: User) -> int:
    return len(
        session.scalars(
            select(User.id).where(User.role == "admin", User.active.is_(True), User.id != user.id)
        ).all()
    )


def do_update_user(
    session: Session, user: User, changes: dict[str, Any], *, actor_id: int | None = None
) -> User:
    """Change a user's name, role, active flag or teams (``team_ids``).

    The last active admin can be neither demoted nor deactivated (409): someone must be
    left who can undo it.
    """
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "name":
            if not isinstance(value, str) or not value.strip() or len(value.strip()) > 120:
                raise ValidationFailed(N_("name is 1 to 120 characters"), field="name")
            value = value.strip()
        elif key == "role":
            if value not in ROLES:
                raise ValidationFailed(
                    N_("role must be one of %(roles)s"), field="role", roles=", ".join(ROLES)
                )
        elif key == "active":
            if not isinstance(value, bool):
                raise ValidationFailed(N_("active is true or false"), field="active")
        elif key == "team_ids":
            teams = teams_by_id(session, list(value))
            old_names = [t.name for t in user.teams]
            if {t.id for t in teams} != {t.id for t in user.teams}:
                before["teams"], after["teams"] = old_names, [t.name for t in teams]
                user.teams = sorted(teams, key=lambda t: t.name)
            continue
        else:
            raise ValidationFailed(N_("unknown field '%(key)s'"), field=key, key=key)
        old = getattr(user, key)
        if old != value:
            before[key], after[key] = old, value
            setattr(user, key, value)
    losing_admin = before.get("role") == "admin" or (
        user.role == "admin" and before.get("active") is True
    )
    if losing_admin and _other_active_admins(session, user) == 0:
        raise Conflict(N_("this is the last active admin; make another admin first"))
    if after:
        session.flush()
        audit.record(
            session,
            user_id=actor_id,
            action="user.updated",
            entity_type="user",
            entity_id=user.id,
            before=before,
            after=after,
        )
    return user


def do_create_team(session: Session, *, name: str, actor_id: int | None = None) -> Team:
    name = name.strip()
    if not name or len(name) > 120:
        raise ValidationFailed(N_("a team name is 1 to 120 characters"), field="name")
    if session.scalar(select(Team.id).where(Team.name == name)) is not None:
        raise Conflict(N_("a team named '%(name)s' exists already"), field="name", name=name)
    team = Team(name=name)
    session.add(team)
    session.flush()
    audit.record(
        session,
        user_id=actor_id,
        action="team.created",
        entity_type="team",
        entity_id=team.id,
        after={"name": name},
    )
    return team


def do_add_team_member(
    session: Session, team: Team, user: User, *, actor_id: int | None = None
) -> Team:
    """Add ``user`` to ``team`` (nothing happens when they are a member already)."""
    if user not in team.members:
        team.members.append(user)
        session.flush()
        audit.record(
            session,
            user_id=actor_id,
            action="team.member_added",
            entity_type="team",
            entity_id=team.id,
            after={"user_id": user.id},
        )
    return team


def do_remove_team_member(
    session: Session, team: Team, user: User, *, actor_id: int | None = None
) -> Team:
    if user not in team.members:
        raise NotFound(
            N_("user %(user)s is not a member of team %(team)s"), user=user.id, team=team.id
        )
    team.members.remove(user)
    session.flush()
    audit.record(
        session,
        user_id=actor_id,
        action="team.member_removed",
        entity_type="team",
        entity_id=team.id,
        before={"user_id": user.id},
    )
    return team


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    return list(
        session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        )
    )


def do_revoke_token(session: Session, user: User, token_id: int) -> ApiToken:
    """Revoke one of ``user``'s own tokens; another user's token is not found."""
    row = session.scalar(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id)
    )
    if row is None:
        raise NotFound(N_("token %(id)s not found"), id=token_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
        audit.record(
            session,
            user_id=user.id,
            action="token.revoked",
            entity_type="api_token",
            entity_id=row.id,
            before={"name": row.name, "prefix": row.prefix},
        )
    return row
