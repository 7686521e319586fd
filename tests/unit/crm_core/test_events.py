"""Domain events go out after the outermost COMMIT and never after a ROLLBACK."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from crm_core.events import DomainEvent, domain_event, publish_on_commit


@pytest.fixture
def heard() -> Iterator[list[str]]:
    got: list[str] = []

    def listener(evt: DomainEvent, **_: object) -> None:
        got.append(evt.type)

    domain_event.connect(listener)
    try:
        yield got
    finally:
        domain_event.disconnect(listener)


@pytest.fixture
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    with Session(engine) as s:
        yield s
    engine.dispose()


def test_sent_after_commit_only(session: Session, heard: list[str]) -> None:
    session.execute(text("select 1"))
    publish_on_commit(session, DomainEvent("a.done"))
    assert heard == []
    session.commit()
    assert heard == ["a.done"]
    session.commit()
    assert heard == ["a.done"], "sent once"


def test_dropped_on_rollback(session: Session, heard: list[str]) -> None:
    session.execute(text("select 1"))
    publish_on_commit(session, DomainEvent("a.undone"))
    session.rollback()
    session.commit()
    assert heard == []


def test_dropped_on_rollback_even_before_any_statement(session: Session, heard: list[str]) -> None:
    publish_on_commit(session, DomainEvent("a.undone"))  # nothing has run in the session
    session.rollback()
    session.execute(text("select 1"))
    session.commit()
    assert heard == []


def test_a_savepoint_rolled_back_drops_only_its_own(session: Session, heard: list[str]) -> None:
    publish_on_commit(session, DomainEvent("outer"))
    savepoint = session.begin_nested()
    publish_on_commit(session, DomainEvent("inner.undone"))
    savepoint.rollback()
    kept = session.begin_nested()
    publish_on_commit(session, DomainEvent("inner.kept"))
    kept.commit()
    assert heard == [], "releasing a savepoint sends nothing: the outer may still roll back"
    session.commit()
    assert heard == ["outer", "inner.kept"]
