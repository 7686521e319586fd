"""Content-addressed file storage and attachments.

Bytes are written once under ``<root>/ab/cd/<sha256>`` (atomically: temp file, fsync,
rename), so the same file attached twice is stored once and a half-written file is never
visible. The database row says what the bytes are.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import filetype
from sqlalchemy.orm import Session

from crm_core.errors import N_, ValidationFailed
from crm_core.models import Attachment
from crm_core.services import audit

_SAFE_NAME = str.maketrans(dict.fromkeys('\\/:*?"<>|\r\n\t\x00', "_"))


class TooLarge(ValidationFailed):
    status_code = 413
    code = "too_large"


class BlobStore:
    """Files on disk, named by their SHA-256."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def get(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()


def sniff_content_type(data: bytes, declared: str | None = None) -> str:
    """The type the bytes say they are; a declared type is trusted only for plain text."""
    kind = filetype.guess(data[:8192])
    if kind is not None:
        return str(kind.mime)
    if declared and declared.split(";")[0].strip().lower() in ("text/plain", "text/csv"):
        return declared.split(";")[0].strip().lower()
    try:
        data[:8192].decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain"


def safe_filename(name: str | None) -> str:
    cleaned = (name or "").translate(_SAFE_NAME).strip(" .")
    return cleaned[:255] or "attachment"


def do_attach_file(
    session: Session,
    store: BlobStore,
    *,
    data: bytes,
    filename: str | None,
    max_size: int,
    declared_type: str | None = None,
    customer_id: int | None = None,
    ticket_id: int | None = None,
    interaction_id: int | None = None,
    task_id: int | None = None,
    category: str | None = None,
    keywords: str | None = None,
    user_id: int | None = None,
) -> Attachment:
    if len(data) > max_size:
        raise TooLarge(f"file is larger than {max_size} bytes", field="file")
    digest = store.put(data)
    att = Attachment(
        kind="file",
        sha256=digest,
        size=len(data),
        content_type=sniff_content_type(data, declared_type),
        filename=safe_filename(filename),
        customer_id=customer_id,
        ticket_id=ticket_id,
        interaction_id=interaction_id,
        task_id=task_id,
        category=category,
        keywords=keywords,
        uploaded_by_id=user_id,
    )
    session.add(att)
    session.flush()
    audit.record(
        session,
        user_id=user_id,
        action="attachment.added",
        entity_type="attachment",
        entity_id=att.id,
        after={"filename": att.filename, "sha256": digest, "size": att.size},
    )
    return att


def do_attach_link(
    session: Session,
    *,
    url: str,
    title: str | None = None,
    customer_id: int | None = None,
    ticket_id: int | None = None,
    task_id: int | None = None,
    category: str | None = None,
    keywords: str | None = None,
    user_id: int | None = None,
) -> Attachment:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or len(url) > 2000:
        raise ValidationFailed(N_("a link must be an http(s) URL"), field="url")
    att = Attachment(
        kind="link",
        url=url,
        filename=safe_filename(title or parsed.netloc),
        customer_id=customer_id,
        ticket_id=ticket_id,
        task_id=task_id,
        category=category,
        keywords=keywords,
        uploaded_by_id=user_id,
    )
    session.add(att)
    session.flush()
    audit.record(
        session,
        user_id=user_id,
        action="attachment.linked",
        entity_type="attachment",
        entity_id=att.id,
        after={"url": url},
    )
    return att
