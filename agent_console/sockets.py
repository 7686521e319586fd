"""The Socket.IO namespace ``/console``: the console's live link to the server.

On connect the Flask-Login session cookie must name an active user (else the connection
is refused). The socket joins ``agent:<id>``, ``queue:<id>`` for each queue the user serves
and, for supervisors, ``supervisors``; then it gets a ``snapshot`` (see
``hub.realtime.snapshot_for``). Deltas follow from ``hub.realtime`` with per-room sequence
numbers; a client that sees a gap, or reconnects, sends ``resync`` for a fresh snapshot.

Client → server events, each validated (unknown events and wrong shapes get an ``error``
event, never a crash), each answered with an ack ``{"ok": true, ...}`` or ``{"ok": false,
"error": code, "message": ...}``:

- ``set_state`` ``{"state": "available"|"break"|"offline", "pause_code"?: str}``
- ``accept`` / ``decline`` / ``finish_wrap_up`` ``{"interaction_id": int}``
- ``wrap_up`` ``{"interaction_id": int, "disposition": str, "note"?: str}``
- ``transfer`` ``{"interaction_id": int, "to_agent_id"|"to_queue_id"|"to_team_id": int,
  "note"?: str}``
- ``resync`` ``{"rooms"?: {room: last_seq}}`` → a new ``snapshot``

Closing the socket changes no state: the agent stays what they were (and keeps their
work) until the grace period of ``hub.agents.apply_disconnect_grace`` runs out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

from flask import request
from flask_babel import gettext
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, Namespace, join_room
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator
from sqlalchemy.orm import Session

from crm_core.errors import DomainError
from crm_core.models import User
from hub import realtime
from hub.agents import do_mark_connected, do_mark_disconnected, do_set_agent_state
from hub.db import db
from hub.errors import domain_message
from hub.routing import (
    do_accept_offer,
    do_decline_offer,
    do_finish_wrap_up,
    do_transfer,
    do_wrap_up,
)

log = logging.getLogger(__name__)


@contextmanager
def _unit_of_work() -> Iterator[Session]:
    """The event's unit of work on ``db.session`` (the session Flask-Login already read the
    user with: on SQLite a second session would wait for its write lock), committed here,
    in the thin wrapper, never inside an action."""
    session = db.session
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SetStateMessage(_Message):
    state: Literal["available", "break", "offline"]
    pause_code: str | None = Field(default=None, max_length=40)


class InteractionMessage(_Message):
    interaction_id: StrictInt = Field(gt=0)


class WrapUpMessage(InteractionMessage):
    disposition: str = Field(min_length=1, max_length=60)
    note: str | None = Field(default=None, max_length=100_000)


class TransferMessage(InteractionMessage):
    to_agent_id: StrictInt | None = Field(default=None, gt=0)
    to_queue_id: StrictInt | None = Field(default=None, gt=0)
    to_team_id: StrictInt | None = Field(default=None, gt=0)
    note: str | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _one_target(self) -> TransferMessage:
        given = [t for t in (self.to_agent_id, self.to_queue_id, self.to_team_id) if t]
        if len(given) != 1:
            raise ValueError("give exactly one of to_agent_id, to_queue_id, to_team_id")
        return self


class ResyncMessage(_Message):
    rooms: dict[str, StrictInt] | None = None


def _error(code: str, message: str, *, event: str | None, detail: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error": code, "message": message, "event": event}
    if detail is not None:
        body["detail"] = detail
    return body


class ConsoleNamespace(Namespace):
    """Class-based namespace: one ``on_<event>`` method per client event."""

    # ------------------------------------------------------------ dispatch and errors

    def trigger_event(self, event: str, *args: Any) -> Any:
        if event in ("connect", "disconnect"):
            return super().trigger_event(event, *args)
        sid = args[0] if args else None
        handler = getattr(self, f"on_{event}", None) if event.isidentifier() else None
        if handler is None:
            return self._error_to(
                sid, _error("unknown_event", f"unknown event {event[:60]!r}", event=event[:60])
            )
        try:
            return super().trigger_event(event, *args)
        except Exception:  # never let one bad message take the connection down
            log.exception("console event %s failed", event)
            return self._error_to(
                sid,
                _error(
                    "internal_error",
                    gettext("Something went wrong on our side; try again."),
                    event=event,
                ),
            )

    @staticmethod
    def _error_to(sid: Any, body: dict[str, Any]) -> dict[str, Any]:
        if isinstance(sid, str):
            realtime.send_to_client("error", body, sid)
        return body

    def _reply_error(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._error_to(request.sid, body)  # type: ignore[attr-defined]

    def _run(
        self,
        event: str,
        model: type[_Message],
        data: Any,
        action: Callable[[Session, User, Any], dict[str, Any] | None],
    ) -> dict[str, Any]:
        user_id = self._user_id()
        if user_id is None:
            return self._reply_error(_error("unauthorized", "log in again", event=event))
        try:
            message = model.model_validate(data if data is not None else {})
        except ValidationError as exc:
            detail = [
                {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                for e in exc.errors(include_url=False, include_context=False, include_input=False)
            ]
            return self._reply_error(
                _error("validation_failed", f"invalid {event} message", event=event, detail=detail)
            )
        try:
            with _unit_of_work() as session:
                user = session.get(User, user_id)
                if user is None or not user.active:
                    return self._reply_error(_error("unauthorized", "log in again", event=event))
                result = action(session, user, message)
        except DomainError as exc:
            return self._reply_error(
                _error(exc.code, domain_message(exc), event=event, detail=exc.detail)
            )
        return {"ok": True, **(result or {})}

    @staticmethod
    def _user_id() -> int | None:
        if not current_user.is_authenticated:
            return None
        return int(current_user.id)

    # ------------------------------------------------------------ connection

    def on_connect(self, auth: Any = None) -> None:
        user_id = self._user_id()
        if user_id is None:
            raise ConnectionRefusedError("unauthorized")
        with _unit_of_work() as session:
            user = session.get(User, user_id)
            if user is None or not user.active:
                raise ConnectionRefusedError("unauthorized")
            do_mark_connected(session, user)
            rooms = realtime.rooms_for(session, user)
        for room in rooms:
            join_room(room)
        self._send_snapshot(user_id)

    def on_disconnect(self, reason: Any = None) -> None:
        user_id = self._user_id()
        if user_id is None:
            return
        try:
            with _unit_of_work() as session:
                user = session.get(User, user_id)
                if user is not None:
                    do_mark_disconnected(session, user)
        except Exception:  # the socket is gone either way; the grace check copes
            log.exception("could not record the disconnect of agent %s", user_id)

    def _send_snapshot(self, user_id: int) -> dict[str, Any]:
        with _unit_of_work() as session:
            user = session.get(User, user_id)
            if user is None:
                return {"ok": False}
            snapshot = realtime.snapshot_for(session, user)
        realtime.send_to_client("snapshot", snapshot, request.sid)  # type: ignore[attr-defined]
        return {"ok": True, "seq": snapshot["seq"]}

    # ------------------------------------------------------------ client events

    def on_resync(self, data: Any = None) -> dict[str, Any]:
        def action(_s: Session, _u: User, _m: Any) -> None:
            return None

        result = self._run("resync", ResyncMessage, data, action)
        if not result.get("ok"):
            return result
        user_id = self._user_id()
        assert user_id is not None
        return self._send_snapshot(user_id)

    def on_set_state(self, data: Any = None) -> dict[str, Any]:
        def action(session: Session, user: User, msg: Any) -> dict[str, Any]:
            status = do_set_agent_state(session, user, msg.state, msg.pause_code, actor=user)
            return {"state": status.state, "pause_code": status.pause_code}

        return self._run("set_state", SetStateMessage, data, action)

    def on_accept(self, data: Any = None) -> dict[str, Any]:
        def action(session: Session, user: User, msg: Any) -> dict[str, Any]:
            interaction = do_accept_offer(session, user, msg.interaction_id)
            return {"interaction_id": interaction.id, "status": interaction.status}

        return self._run("accept", InteractionMessage, data, action)

    def on_decline(self, data: Any = None) -> dict[str, Any]:
        def action(session: Session, user: User, msg: Any) -> dict[str, Any]:
            interaction = do_decline_offer(session, user, msg.interaction_id)
            return {"interaction_id": interaction.id, "status": interaction.status}

        return self._run("decline", InteractionMessage, data, action)

    def on_wrap_up(self, data: Any = None) -> dict[str, Any]:
        def action(session: Session, user: User, msg: Any) -> dict[str, Any]:
            interaction = do_wrap_up(session, user, msg.interaction_id, msg.disposition, msg.note)
            return {"interaction_id": interaction.id, "status": interaction.status}

        return self._run("wrap_up", WrapUpMessage, data, action)

    def on_finish_wrap_up(self, data: Any = None) -> dict[str, Any]:
        def action(session: Session, user: User, msg: Any) -> dict[str, Any]:
            interaction = do_finish_wrap_up(session, user, msg.interaction_id)
            return {"interaction_id": interaction.id, "status": interaction.status}

        return self._run("finish_wrap_up", InteractionMessage, data, action)

    def on_transfer(self, data: Any = None) -> dict[str, Any]:
        def action(session: Session, user: User, msg: Any) -> dict[str, Any]:
            interaction = do_transfer(
                session,
                user,
                msg.interaction_id,
                to_agent_id=msg.to_agent_id,
                to_queue_id=msg.to_queue_id,
                to_team_id=msg.to_team_id,
                note=msg.note,
            )
            return {"interaction_id": interaction.id, "status": interaction.status}

        return self._run("transfer", TransferMessage, data, action)


_namespace = ConsoleNamespace(realtime.NAMESPACE)


def init_app() -> None:
    """Register the namespace on ``hub.realtime.socketio``, on the server it has now and on
    every one it builds later (each ``create_app`` builds one)."""
    socketio = realtime.socketio
    if _namespace not in socketio.namespace_handlers:
        socketio.on_namespace(_namespace)
        if _namespace not in socketio.namespace_handlers:
            socketio.namespace_handlers.append(_namespace)
    if socketio.server is not None:
        socketio.server.register_namespace(_namespace)
