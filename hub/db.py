"""The database of the running app: one engine, one session per app context.

A request (or CLI command, or task) gets ``db.session``; the web layer commits it once at the
end of a successful request (unit of work) and rolls it back otherwise, so views and
actions never call ``commit()`` themselves. Intake commits explicitly: it must know the
commit happened before a channel acknowledges.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, Response, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

READ_ONLY = "switchboard_read_only"


def make_engine(
    url: str,
    *,
    echo: bool = False,
    pool_size: int = 10,
    statement_timeout_ms: int = 0,
    pool_timeout: float = 30.0,
) -> Engine:
    """An engine tuned per backend: WAL + busy timeout on SQLite, pooling on PostgreSQL.

    Each unit of work (request, intake, task, routing pass, real-time batch) holds at most
    one connection at a time: work that runs after a commit (routing, fan-out) starts only
    once the committing session has given its connection back (see ``hub.routing`` and
    ``hub.realtime``). So the pool needs about one connection per concurrent request plus
    a few for the background threads: ``pool_size`` kept, as many again in overflow.
    """
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        if ":memory:" in url or url in ("sqlite://", "sqlite:///"):
            kwargs["poolclass"] = StaticPool
        else:
            # SQLite connections are cheap but each opening re-runs the pragmas: keep
            # enough for the request threads and the background workers.
            kwargs.update(pool_size=max(5, pool_size), max_overflow=max(10, pool_size))
    else:
        kwargs.update(
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            pool_recycle=1800,
            pool_timeout=pool_timeout,
            pool_use_lifo=True,
        )
        if statement_timeout_ms:
            kwargs["connect_args"] = {"options": f"-c statement_timeout={statement_timeout_ms}"}
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # pysqlite's own transaction handling is off: we issue BEGIN ourselves (see below).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # BEGIN IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout
    # instead of one failing with "database is locked" when it upgrades a read lock.
    # Read-only sessions (``Database.read_session``: the real-time fan-out) take a plain
    # deferred BEGIN: under WAL they read a snapshot and never block a writer.
    if conn.get_execution_options().get(READ_ONLY):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """Flask extension: ``db.init_app(app)``, then ``db.session`` inside an app context."""

    def __init__(self) -> None:
        self._engines: dict[int, Engine] = {}
        self._makers: dict[int, sessionmaker[Session]] = {}
        self._read_makers: dict[int, sessionmaker[Session]] = {}

    def init_app(self, app: Flask, engine: Engine | None = None) -> None:
        settings = app.extensions["switchboard.settings"]
        if engine is None:
            engine = make_engine(
                settings.effective_database_url,
                echo=settings.sql_echo,
                pool_size=settings.db_pool_size,
                statement_timeout_ms=settings.statement_timeout_ms,
                pool_timeout=settings.db_pool_timeout,
            )
        app.extensions["switchboard.db"] = self
        self._engines[id(app)] = engine
        self._makers[id(app)] = sessionmaker(bind=engine, expire_on_commit=False)
        self._read_makers[id(app)] = sessionmaker(
            bind=engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )
        app.teardown_appcontext(self._teardown)

    def engine_for(self, app: Flask) -> Engine:
        return self._engines[id(app)]

    def sessionmaker_for(self, app: Flask) -> sessionmaker[Session]:
        return self._makers[id(app)]

    @contextmanager
    def read_session(self, app: Flask) -> Iterator[Session]:
        """A session for reads only (never commits; rolled back and closed at the end).

        On SQLite its transaction is a deferred ``BEGIN`` (a WAL snapshot that does not
        take the write lock); on PostgreSQL it is an ordinary session.
        """
        sess = self._read_makers[id(app)]()
        try:
            yield sess
        finally:
            sess.rollback()
            sess.close()

    @property
    def engine(self) -> Engine:
        from flask import current_app

        return self._engines[id(current_app._get_current_object())]  # type: ignore[attr-defined]

    @property
    def session(self) -> Session:
        """The session of the current app context, created on first use."""
        sess: Session | None = g.get("_sb_session")
        if sess is None:
            from flask import current_app

            app = current_app._get_current_object()  # type: ignore[attr-defined]
            sess = self._makers[id(app)]()
            g._sb_session = sess
        return sess

    def bind_session(self, session: Session) -> None:
        """Use ``session`` for this app context (tests run each test in one transaction)."""
        g._sb_session = session
        g._sb_session_external = True

    def _teardown(self, _exc: BaseException | None) -> None:
        sess: Session | None = g.pop("_sb_session", None)
        external = g.pop("_sb_session_external", False)
        if sess is not None and not external:
            sess.close()

    def end_request_transaction(self) -> None:
        """Commit what the request has done so far (signing in: a token's last use) and
        end its transaction, before a view calls code that commits in sessions of its own
        (intake, re-processing, delivery). On SQLite every write transaction begins
        IMMEDIATE, so an open request transaction would hold the lock they wait for. A
        later ``db.session`` starts a new unit of work, committed by ``commit_request``."""
        sess: Session | None = g.get("_sb_session")
        if sess is not None and not g.get("_sb_session_external", False):
            sess.commit()
            sess.close()
            g.pop("_sb_session", None)

    def commit_request(self, response: Response) -> Response:
        """after_request hook: commit a successful request's unit of work, else roll back."""
        sess: Session | None = g.get("_sb_session")
        if sess is None:
            return response
        if response.status_code < 400:
            sess.commit()
        else:
            sess.rollback()
        return response

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A fresh session in its own transaction, committed on success (CLI, tasks)."""
        from flask import current_app

        maker = self._makers[id(current_app._get_current_object())]  # type: ignore[attr-defined]
        with maker() as sess, sess.begin():
            yield sess


db = Database()
