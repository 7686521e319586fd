"""The do-not-call list: global (``campaign_id`` None) or per campaign, numbers in E.164.

A number added here is refused by :func:`campaigns.compliance.may_call` at the next
selection *and* at the recheck right before a dial; leads already reserved are not
dialled. Bulk import takes any text (one number per line, or CSV cells) and reports
what it could not read.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, or_, select
from sqlalchemy.orm import Session

from campaigns.models import DncEntry, Lead
from crm_core.db import utcnow
from crm_core.errors import NotFound, ValidationFailed
from crm_core.services import audit
from crm_core.services.phones import normalize_phone

MAX_BULK = 100_000


def normalize_dnc_number(raw: str, region: str | None) -> str:
    number = normalize_phone(raw, region)
    if number is None:
        raise ValidationFailed(f"{raw!r} is not a phone number", field="number")
    return number


def do_add_dnc(
    session: Session,
    raw_number: str,
    *,
    campaign_id: int | None,
    reason: str | None = None,
    source: str = "manual",
    region: str | None = None,
    user_id: int | None = None,
) -> tuple[DncEntry, bool]:
    """List a number; returns the entry and whether it is new (listing twice is a no-op)."""
    number = normalize_dnc_number(raw_number, region)
    stmt = select(DncEntry).where(DncEntry.number == number)
    stmt = stmt.where(
        DncEntry.campaign_id.is_(None)
        if campaign_id is None
        else DncEntry.campaign_id == campaign_id
    )
    existing = session.scalars(stmt).first()
    if existing is not None:
        return existing, False
    entry = DncEntry(
        number=number,
        campaign_id=campaign_id,
        reason=(reason or None) and reason[:200],
        source=source,
        created_by_id=user_id,
    )
    session.add(entry)
    session.flush()
    audit.record(
        session,
        user_id=user_id,
        action="campaign.dnc_added",
        entity_type="campaign_dnc",
        entity_id=entry.id,
        after={"number": number, "campaign_id": campaign_id, "reason": entry.reason},
    )
    return entry, True


def do_remove_dnc(session: Session, entry_id: int, *, user_id: int | None = None) -> None:
    entry = session.get(DncEntry, entry_id)
    if entry is None:
        raise NotFound(f"do-not-call entry {entry_id} not found")
    audit.record(
        session,
        user_id=user_id,
        action="campaign.dnc_removed",
        entity_type="campaign_dnc",
        entity_id=entry.id,
        before={"number": entry.number, "campaign_id": entry.campaign_id},
    )
    session.delete(entry)
    session.flush()


@dataclass
class BulkResult:
    added: int = 0
    already_listed: int = 0
    repeated: int = 0  # the same number again further down the input
    rejected: list[dict[str, Any]] = field(default_factory=list)


def _cells(text: str) -> list[tuple[int, str]]:
    out = []
    for n, row in enumerate(csv.reader(io.StringIO(text)), 1):
        cells = [c.strip() for c in row if c.strip()]
        if cells:
            out.append((n, cells[0]))
    return out


def do_bulk_add_dnc(
    session: Session,
    text: str,
    *,
    campaign_id: int | None,
    reason: str | None = None,
    region: str | None = None,
    user_id: int | None = None,
) -> BulkResult:
    """List every number in ``text`` (one per line; in CSV the first cell of each row;
    a header line that is no number is reported like any other unreadable line)."""
    lines = _cells(text)
    if len(lines) > MAX_BULK:
        raise ValidationFailed(f"at most {MAX_BULK} numbers at once", field="numbers")
    result = BulkResult()
    numbers: dict[str, int] = {}
    for line_no, raw in lines:
        number = normalize_phone(raw, region)
        if number is None:
            result.rejected.append({"line": line_no, "value": raw[:64], "reason": "not a number"})
            continue
        numbers.setdefault(number, line_no)
    have: set[str] = set()
    batch = list(numbers)
    for i in range(0, len(batch), 1000):
        chunk = batch[i : i + 1000]
        stmt = select(DncEntry.number).where(DncEntry.number.in_(chunk))
        stmt = stmt.where(
            DncEntry.campaign_id.is_(None)
            if campaign_id is None
            else DncEntry.campaign_id == campaign_id
        )
        have |= set(session.scalars(stmt))
    new = [n for n in batch if n not in have]
    result.already_listed = len(batch) - len(new)
    result.repeated = len(lines) - len(result.rejected) - len(batch)
    if new:
        session.execute(
            insert(DncEntry),
            [
                {
                    "number": n,
                    "campaign_id": campaign_id,
                    "reason": (reason or None) and reason[:200],
                    "source": "import",
                    "created_by_id": user_id,
                    "created_at": utcnow(),
                }
                for n in new
            ],
        )
    result.added = len(new)
    audit.record(
        session,
        user_id=user_id,
        action="campaign.dnc_imported",
        entity_type="campaign_dnc",
        entity_id=None,
        after={
            "campaign_id": campaign_id,
            "added": result.added,
            "already_listed": result.already_listed,
            "rejected": len(result.rejected),
        },
    )
    session.flush()
    return result


def listed_leads(session: Session, campaign_id: int) -> int:
    """How many of a campaign's open leads are on a do-not-call list (shown on the screen)."""
    return len(
        session.scalars(
            select(Lead.id).where(
                Lead.campaign_id == campaign_id,
                Lead.state.in_(("pending", "callback", "reserved")),
                Lead.phone.in_(
                    select(DncEntry.number).where(
                        or_(DncEntry.campaign_id.is_(None), DncEntry.campaign_id == campaign_id)
                    )
                ),
            )
        ).all()
    )
