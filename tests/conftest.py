"""Shared fixtures: a real, migrated database (SQLite by default, PostgreSQL when
``SWITCHBOARD_TEST_DATABASE_URL`` names a server), the app, clients and factories.

Intake and other actions commit for real (that is what they promise), so instead of
rolling back one outer transaction we empty every table after each test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, g, has_app_context
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from crm_core.db import Base
from hub.app import create_app
from hub.db import db as database
from hub.migrate import upgrade

KEEP_TABLES = {"alembic_version", "relation_types"}
IN_CI = os.environ.get("CI") == "true"


def _pg_admin_url(url: str) -> str:
    return make_url(url).set(database="postgres").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("SWITCHBOARD_TEST_DATABASE_URL", "")
    if not configured.startswith("postgresql"):
        path = tmp_path_factory.mktemp("db") / "test.sqlite3"
        url = f"sqlite:///{path}"
        upgrade(url)
        yield url
        return
    name = f"switchboard_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(_pg_admin_url(configured), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        if IN_CI:
            raise RuntimeError(f"PostgreSQL at {configured} is required in CI: {exc}") from exc
        pytest.exit(f"PostgreSQL at {configured} is unreachable: {exc}", returncode=3)
    url = make_url(configured).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


def _empty_tables(app: Flask) -> None:
    # The app's background threads (routing passes, the real-time fan-out) finish what the
    # test committed first: a read of theirs must not meet the TRUNCATE.
    from hub import realtime, routing

    routing.wait_idle(30)
    realtime.wait_idle(30)
    engine = database.engine_for(app)
    tables = [t for t in reversed(Base.metadata.sorted_tables) if t.name not in KEEP_TABLES]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())


def make_test_app(database_url: str, var_dir: Path, **extra: Any) -> Flask:
    config: dict[str, Any] = {
        "database_url": database_url,
        "var_dir": str(var_dir),
        "env": "test",
        "secret_key": "t" * 64,
        "default_region": "PL",
        "TESTING": True,
        "WTF_CSRF_ENABLED": False,
    }
    config.update(extra)
    return create_app(config)


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    application = make_test_app(database_url, tmp_path / "var")
    yield application
    _empty_tables(application)
    database.engine_for(application).dispose()


class _Client(FlaskClient):
    """A test client whose every request learns anew who is asking.

    The ``session`` fixture keeps one app context open for the whole test, and Flask reuses
    an open app context for each request; Flask-Login caches the user in that context's
    ``g``, so without this the first caller would answer for every later request.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        if has_app_context():
            g.pop("_login_user", None)
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    app.test_client_class = _Client
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """``db.session`` inside an app context; commit it to make data visible to requests."""
    with app.app_context():
        yield database.session


@pytest.fixture
def postgres_only(is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip(
            "PostgreSQL only: run with SWITCHBOARD_TEST_DATABASE_URL=postgresql+psycopg://..."
        )
