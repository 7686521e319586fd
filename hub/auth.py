"""Who is asking: session login for people, bearer tokens for integrations; role checks."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, Request, abort, request
from flask_babel import gettext
from flask_login import AnonymousUserMixin, LoginManager, current_user
from sqlalchemy import select

from crm_core.models import User
from crm_core.services.users import user_for_token
from hub.db import db

login_manager = LoginManager()
F = TypeVar("F", bound=Callable[..., Any])

# Flask-Login's protocol, added to our model without crm_core knowing about Flask.
User.is_authenticated = property(lambda self: bool(self.active))
User.is_anonymous = False
User.is_active = property(lambda self: bool(self.active))
User.get_id = lambda self: f"{self.id}"


class Anonymous(AnonymousUserMixin):
    role = "anonymous"
    is_supervisor = False
    is_admin = False
    id = None


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "console.login"
    login_manager.anonymous_user = Anonymous
    login_manager.session_protection = "strong"


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    try:
        ident = int(user_id)
    except ValueError:
        return None
    return db.session.scalar(select(User).where(User.id == ident, User.active.is_(True)))


@login_manager.request_loader
def _load_from_token(req: Request) -> User | None:
    header = req.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    return user_for_token(db.session, token.strip())


@login_manager.unauthorized_handler
def _unauthorized() -> Any:
    from flask import redirect, url_for

    if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
        from hub.errors import problem

        response = problem(401, "unauthorized", "log in or send a bearer token")
        response.headers["WWW-Authenticate"] = 'Bearer realm="switchboard"'
        return response
    return redirect(url_for("console.login", next=request.full_path.rstrip("?")))


def current() -> User:
    """The logged-in user (call only behind ``login_required``)."""
    return cast(User, current_user._get_current_object())


def require_role(*roles: str) -> Callable[[F], F]:
    """403 unless the current user has one of ``roles`` (admins pass every check)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role != "admin" and current_user.role not in roles:
                abort(403, description=gettext("Your role may not do this."))
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorator
