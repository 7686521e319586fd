"""The IMAP poller: customers' mail from mailboxes we do not receive by SMTP.

For each configured account (``email_imap_accounts``) and each of its folders, one poller at a
time (a lease lock on the :class:`ImapMailbox` row, which works on SQLite and PostgreSQL
alike) fetches new messages with ``BODY.PEEK[]`` (which leaves ``\\Seen`` alone), hands each
to :func:`channels.email.ingest.ingest`, and only after that committed marks it ``\\Seen``
or moves it to the processed folder, then records the UID it reached. The position is
(account, mailbox, UIDVALIDITY, last UID): a restarted poller continues where it stopped; a
changed UIDVALIDITY re-scans the whole mailbox, and the dedupe key keeps that from importing
anything twice. A message whose commit failed (database down) stays unseen and is fetched
again on the next pass.

Long-running (``switchboard email imap``) the poller keeps its connection and waits in IDLE
when the server offers it, else polls every ``email_imap_poll_seconds``; errors reconnect
with exponential backoff, and every failure is written on the mailbox row
(``switchboard email status``) so admins see a mailbox that keeps failing and why. The
Celery task :func:`poll_imap_task` runs one pass (for a beat schedule).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from celery import shared_task
from flask import Flask, current_app
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from channels.email.ingest import Envelope, TemporaryFailure, ingest, settings
from channels.email.models import ImapMailbox
from crm_core.db import utcnow
from hub.db import db
from hub.settings import ConfigurationError, Settings

log = logging.getLogger(__name__)

FETCH_BATCH = 20
MAX_BACKOFF = 300
SEEN = b"\\Seen"


@dataclass(frozen=True)
class ImapAccount:
    """One IMAP login (from ``SWITCHBOARD_EMAIL_IMAP_ACCOUNTS``, a JSON list of objects)."""

    name: str
    host: str
    username: str
    password: str
    port: int = 993
    security: str = "ssl"  # ssl | starttls | none
    folders: tuple[str, ...] = ("INBOX",)
    processed: str = "seen"  # seen | move
    processed_folder: str = "Processed"
    queue: str | None = None
    address: str | None = None  # the address this mailbox receives, for the interaction

    @classmethod
    def from_setting(cls, raw: dict[str, Any]) -> ImapAccount:
        missing = [k for k in ("name", "host", "username", "password") if not raw.get(k)]
        if missing:
            name = raw.get("name") or raw.get("host") or "?"
            raise ConfigurationError(
                f"IMAP account {name}: SWITCHBOARD_EMAIL_IMAP_ACCOUNTS needs {', '.join(missing)}"
            )
        security = str(raw.get("security", "ssl")).lower()
        if security not in ("ssl", "starttls", "none"):
            raise ConfigurationError(
                f"IMAP account {raw['name']}: security must be ssl|starttls|none"
            )
        processed = str(raw.get("processed", "seen")).lower()
        if processed not in ("seen", "move"):
            raise ConfigurationError(f"IMAP account {raw['name']}: processed must be seen|move")
        folders = raw.get("folders") or [raw.get("folder") or "INBOX"]
        return cls(
            name=str(raw["name"]),
            host=str(raw["host"]),
            username=str(raw["username"]),
            password=str(raw["password"]),
            port=int(raw.get("port") or (993 if security == "ssl" else 143)),
            security=security,
            folders=tuple(str(f) for f in folders),
            processed=processed,
            processed_folder=str(raw.get("processed_folder") or "Processed"),
            queue=raw.get("queue") or None,
            address=raw.get("address") or None,
        )


def accounts(conf: Settings) -> list[ImapAccount]:
    return [ImapAccount.from_setting(raw) for raw in conf.email_imap_accounts]


def find_account(conf: Settings, name: str) -> ImapAccount:
    for account in accounts(conf):
        if account.name == name:
            return account
    raise LookupError(f"no IMAP account named {name!r}")


@dataclass
class PassResult:
    imported: int = 0
    duplicates: int = 0
    quarantined: int = 0
    rescanned: bool = False
    locked_out: bool = False


class MailboxPoller:
    """Polls one folder of one account. Not thread-safe: one thread per poller."""

    def __init__(self, app: Flask, account: ImapAccount, folder: str, *, lease: int = 0) -> None:
        self.app = app
        self.account = account
        self.folder = folder
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"[:120]
        conf: Settings = app.extensions["switchboard.settings"]
        self.poll_seconds = max(1, conf.email_imap_poll_seconds)
        self.lease = lease or (2 * self.poll_seconds + 120)
        self.client: IMAPClient | None = None

    # --- connection ------------------------------------------------------------------

    def connect(self) -> IMAPClient:
        acc = self.account
        context = ssl.create_default_context()
        client = IMAPClient(
            acc.host,
            port=acc.port,
            ssl=acc.security == "ssl",
            ssl_context=context if acc.security == "ssl" else None,
            timeout=60,
        )
        try:
            if acc.security == "starttls":
                client.starttls(context)
            client.login(acc.username, acc.password)
        except Exception:
            _quiet_logout(client)
            raise
        self.client = client
        return client

    def disconnect(self) -> None:
        if self.client is not None:
            _quiet_logout(self.client)
            self.client = None

    # --- one pass --------------------------------------------------------------------

    def poll_once(self) -> PassResult:
        """Import what is new; raise on errors (after writing them on the mailbox row)."""
        with self.app.app_context():
            if not self._lock():
                return PassResult(locked_out=True)
            try:
                result = self._pass()
            except Exception as exc:
                self._record_error(exc)
                self.disconnect()
                raise
            finally:
                self._unlock()
            self._record_ok()
            return result

    def _pass(self) -> PassResult:
        client = self.client or self.connect()
        selected = client.select_folder(self.folder)
        uidvalidity = int(selected[b"UIDVALIDITY"])
        result = PassResult()
        last_uid = self._position(uidvalidity, result)
        found = client.search(["UID", f"{last_uid + 1}:*"])
        uids = sorted(u for u in found if u > last_uid)
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start : start + FETCH_BATCH]
            fetched = client.fetch(batch, ["BODY.PEEK[]"])
            for uid in batch:
                raw = (fetched.get(uid) or {}).get(b"BODY[]")
                if raw is None:  # expunged meanwhile
                    self._advance(uid, imported=False)
                    continue
                outcome = self._ingest(bytes(raw))
                self._mark_processed(client, uid)
                self._advance(uid, imported=outcome != "duplicate")
                if outcome == "duplicate":
                    result.duplicates += 1
                elif outcome == "quarantined":
                    result.quarantined += 1
                else:
                    result.imported += 1
        return result

    def _ingest(self, raw: bytes) -> str:
        acc = self.account
        envelope = Envelope(
            source=f"imap:{acc.name}/{self.folder}",
            rcpt_tos=(acc.address,) if acc.address else (),
            queue=acc.queue,
        )
        # TemporaryFailure propagates: the message stays unseen for the next pass.
        return ingest(raw, envelope).outcome

    def _mark_processed(self, client: IMAPClient, uid: int) -> None:
        if self.account.processed == "move":
            if client.has_capability("MOVE"):
                client.move([uid], self.account.processed_folder)
            else:
                client.copy([uid], self.account.processed_folder)
                client.delete_messages([uid])
                if client.has_capability("UIDPLUS"):
                    client.uid_expunge([uid])
                else:
                    client.expunge()
        else:
            client.add_flags([uid], [SEEN])

    # --- state on the database -----------------------------------------------------------

    @contextmanager
    def _session(self) -> Iterator[Any]:
        maker = db.sessionmaker_for(self.app)
        with maker() as session:
            yield session

    def _row_id(self) -> int:
        with self._session() as session:
            key = (ImapMailbox.account == self.account.name, ImapMailbox.mailbox == self.folder)
            found = session.scalar(select(ImapMailbox.id).where(*key))
            if found is not None:
                return found
            row = ImapMailbox(account=self.account.name, mailbox=self.folder)
            session.add(row)
            try:
                session.commit()
                return row.id
            except IntegrityError:
                session.rollback()
                found = session.scalar(select(ImapMailbox.id).where(*key))
                assert found is not None
                return found

    def _lock(self) -> bool:
        """Take (or renew) the lease on this mailbox; False when another poller holds it."""
        row_id = self._row_id()
        now = utcnow()
        with self._session() as session:
            taken = session.execute(
                update(ImapMailbox)
                .where(
                    ImapMailbox.id == row_id,
                    or_(
                        ImapMailbox.locked_until.is_(None),
                        ImapMailbox.locked_until < now,
                        ImapMailbox.locked_by == self.worker,
                    ),
                )
                .values(locked_by=self.worker, locked_until=now + dt.timedelta(seconds=self.lease))
            )
            session.commit()
            return bool(taken.rowcount)

    def _unlock(self) -> None:
        with self._session() as session:
            session.execute(
                update(ImapMailbox)
                .where(
                    ImapMailbox.account == self.account.name,
                    ImapMailbox.mailbox == self.folder,
                    ImapMailbox.locked_by == self.worker,
                )
                .values(locked_by=None, locked_until=None)
            )
            session.commit()

    def _position(self, uidvalidity: int, result: PassResult) -> int:
        with self._session() as session:
            row = session.scalars(
                select(ImapMailbox).where(
                    ImapMailbox.account == self.account.name, ImapMailbox.mailbox == self.folder
                )
            ).one()
            if row.uidvalidity != uidvalidity:
                if row.uidvalidity is not None:
                    log.warning(
                        "IMAP %s/%s: UIDVALIDITY changed %s -> %s, re-scanning",
                        self.account.name,
                        self.folder,
                        row.uidvalidity,
                        uidvalidity,
                    )
                    result.rescanned = True
                row.uidvalidity = uidvalidity
                row.last_uid = 0
                session.commit()
            return int(row.last_uid)

    def _advance(self, uid: int, *, imported: bool) -> None:
        with self._session() as session:
            row = session.scalars(
                select(ImapMailbox).where(
                    ImapMailbox.account == self.account.name, ImapMailbox.mailbox == self.folder
                )
            ).one()
            row.last_uid = max(int(row.last_uid), uid)
            if imported:
                row.imported += 1
            session.commit()

    def _record_ok(self) -> None:
        with self._session() as session:
            session.execute(
                update(ImapMailbox)
                .where(ImapMailbox.account == self.account.name, ImapMailbox.mailbox == self.folder)
                .values(failures=0, last_error=None, last_ok_at=utcnow())
            )
            session.commit()

    def _record_error(self, exc: BaseException) -> None:
        message = describe_error(exc)
        log.warning("IMAP %s/%s: %s", self.account.name, self.folder, message)
        try:
            with self._session() as session:
                session.execute(
                    update(ImapMailbox)
                    .where(
                        ImapMailbox.account == self.account.name,
                        ImapMailbox.mailbox == self.folder,
                    )
                    .values(
                        failures=ImapMailbox.failures + 1,
                        last_error=message[:1000],
                        last_error_at=utcnow(),
                    )
                )
                session.commit()
        except Exception:  # the database may be what failed; the log has it
            log.exception("could not record the IMAP error of %s", self.account.name)

    # --- long-running ----------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set: IDLE when offered, else sleep; back off on errors."""
        failures = 0
        while not stop.is_set():
            try:
                result = self.poll_once()
            except Exception:  # recorded on the mailbox row by poll_once
                failures += 1
                stop.wait(min(MAX_BACKOFF, 2 ** min(failures, 9)))
                continue
            failures = 0
            if result.locked_out or self.client is None:
                stop.wait(self.poll_seconds)
                continue
            try:
                self._wait_for_news(stop)
            except Exception as exc:  # the connection broke while waiting: reconnect
                with self.app.app_context():
                    self._record_error(exc)
                self.disconnect()
        self.disconnect()

    def _wait_for_news(self, stop: threading.Event) -> None:
        client = self.client
        assert client is not None
        if not client.has_capability("IDLE"):
            stop.wait(self.poll_seconds)
            return
        client.idle()
        try:
            waited = 0
            while not stop.is_set() and waited < self.poll_seconds:
                step = min(5, self.poll_seconds - waited)
                if client.idle_check(timeout=step):
                    break
                waited += step
        finally:
            client.idle_done()


def describe_error(exc: BaseException) -> str:
    """A one-line cause an admin can act on."""
    if isinstance(exc, LoginError):
        return f"login failed (check the user name and password): {exc}"
    if isinstance(exc, TemporaryFailure):
        return f"could not store a message, will retry: {exc}"
    if isinstance(exc, (ConnectionRefusedError, socket.gaierror, TimeoutError)):
        return f"cannot connect: {exc}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc}"
    if isinstance(exc, IMAPClientError):
        return f"IMAP error: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _quiet_logout(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:  # already gone; nothing to do
        try:
            client.shutdown()
        except Exception:
            log.debug("IMAP connection already closed")


def run_all(app: Flask, stop: threading.Event) -> list[threading.Thread]:
    """Start one poller thread per (account, folder); they end when ``stop`` is set."""
    conf: Settings = app.extensions["switchboard.settings"]
    threads = []
    for account in accounts(conf):
        for folder in account.folders:
            poller = MailboxPoller(app, account, folder)
            thread = threading.Thread(
                target=poller.run, args=(stop,), name=f"imap:{account.name}/{folder}", daemon=True
            )
            thread.start()
            threads.append(thread)
    return threads


@shared_task(name="channels.email.poll_imap")
def poll_imap_task(account_name: str | None = None) -> dict[str, Any]:
    """One pass over one account (or all); errors are recorded on the mailbox rows."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    conf = settings()
    done: dict[str, Any] = {}
    for account in accounts(conf):
        if account_name is not None and account.name != account_name:
            continue
        for folder in account.folders:
            poller = MailboxPoller(app, account, folder)
            try:
                result = poller.poll_once()
                done[f"{account.name}/{folder}"] = result.__dict__
            except Exception as exc:
                done[f"{account.name}/{folder}"] = {"error": describe_error(exc)}
            finally:
                poller.disconnect()
    return done
