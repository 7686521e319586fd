"""Importing call lists from CSV or XLSX: upload, column mapping, preview, then a
background task that validates every row, matches or creates customers and adds leads.

Every row is accounted for: ``imported`` (a new customer and a lead), ``matched`` (an
existing customer found by e-mail or phone, and a lead), or ``rejected`` with its reason
in ``campaign_import_rejections`` — ``imported + matched + rejected == total_rows`` when
the import is done. The task works in batches of :data:`BATCH` rows, each batch (its
customers, contact points, leads, rejections and the counters) in one transaction, and
reports progress after each commit (``hub.realtime.emit_campaign_import``). A task that
dies half-way resumes after the last committed batch when run again; it never applies
a row twice.

Customers are created with bulk inserts rather than one ``do_create_customer`` each
(as the demo data set does): ten thousand audit entries and ``customer.created`` events
for a list import would drown the audit log and the consoles. The import itself is
audited once per batch with the new customers' ids.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from campaigns.models import Campaign, CampaignList, ImportRejection, Lead, ListImport
from crm_core.db import utcnow
from crm_core.errors import N_, NotFound, ValidationFailed
from crm_core.events import DomainEvent, publish_on_commit
from crm_core.models import ContactPoint, Customer
from crm_core.services import audit
from crm_core.services.blobs import BlobStore
from crm_core.services.phones import is_withheld

BATCH = 1000
PREVIEW_ROWS = 20
MAX_ROWS = 200_000
IMPORT_QUEUED = "campaign.import_queued"

# Fields a column may be mapped to; ``phone`` is required.
FIELDS = (
    "phone",
    "first_name",
    "last_name",
    "organisation_name",
    "email",
    "city",
    "country",
    "timezone",
    "notes",
)
_GUESSES: dict[str, tuple[str, ...]] = {
    "phone": ("phone", "telephone", "tel", "mobile", "telefon", "numer", "number", "телефон"),
    "first_name": ("first name", "firstname", "first", "given name", "imię", "imie", "ім'я"),
    "last_name": ("last name", "lastname", "surname", "family name", "nazwisko", "прізвище"),
    "organisation_name": ("company", "organisation", "organization", "firma", "компанія"),
    "email": ("email", "e-mail", "mail", "адреса"),
    "city": ("city", "town", "miasto", "місто"),
    "country": ("country", "kraj", "країна"),
    "timezone": ("timezone", "time zone", "tz", "strefa"),
    "notes": ("notes", "note", "comment", "uwagi", "нотатки"),
}
_SPACE = re.compile(r"[\s_]+")

REJECTION_REASONS = {
    "phone_missing": "no phone number",
    "phone_invalid": "not a valid phone number",
    "email_invalid": "not a valid e-mail address",
    "duplicate_in_file": "the same number appears earlier in the file",
    "already_in_campaign": "the number is already in this campaign",
    "country_invalid": "the country must be a two-letter code",
    "timezone_invalid": "unknown time zone",
}


# ------------------------------------------------------------------- reading files


def file_kind(filename: str, data: bytes) -> str:
    """``xlsx`` or ``csv`` by content (an XLSX file is a ZIP), else 422."""
    if data[:4] == b"PK\x03\x04":
        return "xlsx"
    if filename.lower().endswith((".xlsx", ".xlsm")):
        raise ValidationFailed(N_("the file is not a valid XLSX workbook"), field="file")
    try:
        data[:4096].decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            data[:4096].decode("cp1250")
        except UnicodeDecodeError:
            raise ValidationFailed(
                N_("the file is neither CSV text nor XLSX"), field="file"
            ) from None
    return "csv"


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1250", errors="replace")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value).strip()


def iter_rows(data: bytes, kind: str) -> Iterator[list[str]]:
    """Every row of the first sheet (XLSX) or of the text (CSV, delimiter sniffed among
    ``,;`` and tab), header included, as lists of strings."""
    if kind == "xlsx":
        import openpyxl

        try:
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a damaged file
            raise ValidationFailed(f"the workbook cannot be read: {exc}", field="file") from None
        try:
            sheet = book.worksheets[0]
            for row in sheet.iter_rows(values_only=True):
                yield [_cell(v) for v in row]
        finally:
            book.close()
        return
    text = _decode(data)
    sample = text[:8192]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    for row in csv.reader(io.StringIO(text), dialect):
        yield [c.strip() for c in row]


def _blank(row: list[str]) -> bool:
    return not any(row)


def guess_mapping(headers: list[str]) -> dict[str, int]:
    """Columns whose header names a field (English, Polish, Ukrainian), by position."""
    mapping: dict[str, int] = {}
    for i, header in enumerate(headers):
        name = _SPACE.sub(" ", header.strip().casefold())
        for fld, names in _GUESSES.items():
            if fld not in mapping and (name in names or name.replace("-", "") in names):
                mapping[fld] = i
                break
    return mapping


# ---------------------------------------------------------------------- upload


@dataclass
class Upload:
    import_row: ListImport
    headers: list[str]
    sample: list[list[str]]
    suggested: dict[str, int]


def do_upload_import(
    session: Session,
    campaign: Campaign,
    *,
    filename: str,
    data: bytes,
    store: BlobStore,
    region: str,
    user_id: int | None = None,
) -> Upload:
    """Keep the file, count its rows and suggest a mapping. Nothing is imported yet."""
    if not data:
        raise ValidationFailed(N_("the file is empty"), field="file")
    kind = file_kind(filename, data)
    rows = iter_rows(data, kind)
    headers: list[str] | None = None
    sample: list[list[str]] = []
    total = 0
    for row in rows:
        if headers is None:
            if _blank(row):
                continue
            headers = row
            continue
        if _blank(row):
            continue
        total += 1
        if len(sample) < PREVIEW_ROWS:
            sample.append(row)
        if total > MAX_ROWS:
            raise ValidationFailed(f"at most {MAX_ROWS} rows per import", field="file")
    if headers is None:
        raise ValidationFailed(N_("the file has no header row"), field="file")
    sha = store.put(data)
    imp = ListImport(
        campaign_id=campaign.id,
        filename=(filename or "upload")[:255],
        sha256=sha,
        file_kind=kind,
        status="uploaded",
        region=region,
        total_rows=total,
        processed_rows=0,
        imported=0,
        matched=0,
        rejected=0,
        created_by_id=user_id,
    )
    session.add(imp)
    session.flush()
    return Upload(imp, headers, sample, guess_mapping(headers))


def headers_and_sample(imp: ListImport, store: BlobStore) -> tuple[list[str], list[list[str]]]:
    headers: list[str] | None = None
    sample: list[list[str]] = []
    for row in iter_rows(store.get(imp.sha256), imp.file_kind):
        if _blank(row):
            continue
        if headers is None:
            headers = row
            continue
        sample.append(row)
        if len(sample) >= PREVIEW_ROWS:
            break
    return headers or [], sample


def check_mapping(mapping: dict[str, int], width: int) -> dict[str, int]:
    clean: dict[str, int] = {}
    for fld, col in mapping.items():
        if fld not in FIELDS:
            raise ValidationFailed(f"unknown field {fld!r}", field=f"mapping.{fld}")
        if not isinstance(col, int) or not 0 <= col < width:
            raise ValidationFailed(f"no column {col} in the file", field=f"mapping.{fld}")
        clean[fld] = col
    if "phone" not in clean:
        raise ValidationFailed(N_("map a column to the phone number"), field="mapping.phone")
    return clean


# --------------------------------------------------------------------- one row


@dataclass
class Parsed:
    number: int
    cells: dict[str, str]
    phone: str | None = None
    email: str | None = None
    code: str | None = None


def valid_e164(raw: str, region: str) -> str | None:
    """``raw`` as E.164 when it is a *valid* number (national formats read in ``region``),
    else None: one parse per cell (this runs for every row of large files)."""
    text = raw.strip()
    if len(text) > 64 or is_withheld(text):
        return None
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region.upper() or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_row(number: int, row: list[str], mapping: dict[str, int], region: str) -> Parsed:
    """Validate one row (its number in the file, 1 = first data row)."""
    cells = {f: (row[c] if c < len(row) else "") for f, c in mapping.items()}
    out = Parsed(number, cells)
    raw_phone = cells.get("phone", "")
    if not raw_phone:
        out.code = "phone_missing"
        return out
    phone = valid_e164(raw_phone, region)
    if phone is None:
        out.code = "phone_invalid"
        return out
    out.phone = phone
    raw_email = cells.get("email", "")
    if raw_email:
        try:
            out.email = validate_email(raw_email, check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            out.code = "email_invalid"
            return out
    country = cells.get("country", "")
    if country and not (len(country) == 2 and country.isalpha()):
        out.code = "country_invalid"
        return out
    tz = cells.get("timezone", "")
    if tz:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            out.code = "timezone_invalid"
            return out
    return out


def preview(
    session: Session, imp: ListImport, mapping: dict[str, int], store: BlobStore
) -> list[dict[str, Any]]:
    """What the first rows would become: ``new``, ``match`` (customer id) or ``reject``."""
    headers, sample = headers_and_sample(imp, store)
    mapping = check_mapping(mapping, len(headers))
    parsed = [parse_row(i + 1, r, mapping, imp.region or "") for i, r in enumerate(sample)]
    matches = _match(session, [p for p in parsed if p.code is None])
    taken = set(
        session.scalars(
            select(Lead.phone).where(
                Lead.campaign_id == imp.campaign_id,
                Lead.phone.in_([p.phone for p in parsed if p.phone]),
            )
        )
    )
    out = []
    seen: set[str] = set()
    for p in parsed:
        code = p.code
        if code is None and p.phone in seen:
            code = "duplicate_in_file"
        if code is None and p.phone in taken:
            code = "already_in_campaign"
        if p.phone:
            seen.add(p.phone)
        item: dict[str, Any] = {"row": p.number, "cells": p.cells, "phone": p.phone}
        if code:
            item.update(outcome="reject", code=code, reason=REJECTION_REASONS[code])
        elif p.number in matches:
            item.update(outcome="match", customer_id=matches[p.number])
        else:
            item.update(outcome="new")
        out.append(item)
    return out


def _match(session: Session, rows: list[Parsed]) -> dict[int, int]:
    """Row number -> existing customer, by e-mail first, then by phone (the card
    updated most recently wins, as in caller identification)."""
    emails = {p.email for p in rows if p.email}
    phones = {p.phone for p in rows if p.phone}
    by_email: dict[str, int] = {}
    by_phone: dict[str, int] = {}
    if emails:
        for value, owner in session.execute(
            select(ContactPoint.value, ContactPoint.customer_id)
            .join(Customer, Customer.id == ContactPoint.customer_id)
            .where(
                ContactPoint.kind == "email",
                ContactPoint.value.in_(emails),
                Customer.merged_into_id.is_(None),
            )
        ):
            by_email[value] = owner
    if phones:
        for value, owner in session.execute(
            select(ContactPoint.value, ContactPoint.customer_id)
            .join(Customer, Customer.id == ContactPoint.customer_id)
            .where(
                ContactPoint.kind == "phone",
                ContactPoint.value.in_(phones),
                Customer.merged_into_id.is_(None),
            )
            .order_by(Customer.updated_at, Customer.id)
        ):
            by_phone[value] = owner  # the last (most recently updated) wins
    out: dict[int, int] = {}
    for p in rows:
        cid: int | None = (by_email.get(p.email) if p.email else None) or by_phone.get(
            p.phone or ""
        )
        if cid is not None:
            out[p.number] = cid
    return out


# ------------------------------------------------------------------- the start


def do_start_import(
    session: Session,
    imp: ListImport,
    *,
    mapping: dict[str, int],
    list_name: str,
    store: BlobStore,
    agent_id: int | None = None,
    team_id: int | None = None,
    user_id: int | None = None,
) -> ListImport:
    """Fix the mapping, create the list and queue the import task (after the commit)."""
    if imp.status != "uploaded":
        raise ValidationFailed(f"this import is already {imp.status}", field="status")
    headers, _ = headers_and_sample(imp, store)
    imp.mapping = check_mapping(mapping, len(headers))
    the_list = CampaignList(
        campaign_id=imp.campaign_id,
        name=(list_name or imp.filename).strip()[:200] or imp.filename,
        source="import",
        agent_id=agent_id,
        team_id=team_id,
        created_by_id=user_id,
    )
    session.add(the_list)
    session.flush()
    imp.list_id = the_list.id
    imp.status = "running"
    audit.record(
        session,
        user_id=user_id,
        action="campaign.import_started",
        entity_type="campaign_import",
        entity_id=imp.id,
        after={"mapping": imp.mapping, "list_id": the_list.id, "rows": imp.total_rows},
    )
    publish_on_commit(session, DomainEvent(IMPORT_QUEUED, {"import_id": imp.id}))
    return imp


def get_import(session: Session, import_id: int) -> ListImport:
    imp = session.get(ListImport, import_id)
    if imp is None:
        raise NotFound(f"import {import_id} not found")
    return imp


def progress(imp: ListImport) -> dict[str, Any]:
    return {
        "import_id": imp.id,
        "campaign_id": imp.campaign_id,
        "status": imp.status,
        "total_rows": imp.total_rows,
        "processed_rows": imp.processed_rows,
        "imported": imp.imported,
        "matched": imp.matched,
        "rejected": imp.rejected,
        "error": imp.error,
    }


# ------------------------------------------------------------------- the task body


@dataclass
class BatchResult:
    imported: int = 0
    matched: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)


def _names(cells: dict[str, str]) -> dict[str, Any]:
    first = cells.get("first_name") or None
    last = cells.get("last_name") or None
    org = cells.get("organisation_name") or None
    if first or last or not org:
        kind = "person"
        display = " ".join(p for p in (first, last) if p) or (org or "(unnamed)")
    else:
        kind = "organisation"
        display = org
    return {
        "kind": kind,
        "first_name": first and first[:120],
        "last_name": last and last[:120],
        "organisation_name": org and org[:200],
        "display_name": display[:250],
        "search_name": display[:250].casefold(),
    }


def apply_batch(
    session: Session, imp: ListImport, start: int, rows: list[list[str]]
) -> BatchResult:
    """Validate, match, create and add one batch (row numbers ``start+1 …``)."""
    assert imp.mapping is not None and imp.list_id is not None
    the_list = session.get(CampaignList, imp.list_id)
    region = imp.region or ""
    parsed = [parse_row(start + i + 1, r, imp.mapping, region) for i, r in enumerate(rows)]
    result = BatchResult()
    phones = [p.phone for p in parsed if p.phone]
    # Numbers already in the campaign: from an earlier batch of this import, or another list.
    taken = dict(
        session.execute(
            select(Lead.phone, Lead.list_id).where(
                Lead.campaign_id == imp.campaign_id, Lead.phone.in_(phones)
            )
        ).all()
    )
    good: list[Parsed] = []
    seen: set[str] = set()
    for p in parsed:
        if p.code is None and p.phone in taken:
            same = taken[p.phone] == imp.list_id
            p.code = "duplicate_in_file" if same else "already_in_campaign"
        elif p.code is None and p.phone in seen:
            p.code = "duplicate_in_file"
        if p.code is not None:
            result.rejected.append(
                {
                    "import_id": imp.id,
                    "row_number": p.number,
                    "code": p.code,
                    "reason": REJECTION_REASONS[p.code],
                    "cells": p.cells,
                }
            )
            continue
        assert p.phone is not None
        seen.add(p.phone)
        good.append(p)
    matches = _match(session, good)
    now = utcnow()
    # New customers; an e-mail address repeated in the file names the same new customer.
    new_rows = [p for p in good if p.number not in matches]
    by_new_email: dict[str, Parsed] = {}
    creating: list[Parsed] = []
    for p in new_rows:
        if p.email and p.email in by_new_email:
            continue
        if p.email:
            by_new_email[p.email] = p
        creating.append(p)
    created: dict[int, int] = {}
    if creating:
        values = []
        for p in creating:
            country = (p.cells.get("country") or "").upper() or None
            values.append(
                {
                    **_names(p.cells),
                    "vip": False,
                    "no_calls": False,
                    "no_mail": False,
                    "city": (p.cells.get("city") or None) and p.cells["city"][:120],
                    "country": country,
                    "timezone": p.cells.get("timezone") or None,
                    "notes": p.cells.get("notes") or None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        ids = list(
            session.scalars(
                insert(Customer).returning(Customer.id, sort_by_parameter_order=True), values
            )
        )
        created = {p.number: cid for p, cid in zip(creating, ids, strict=True)}
        points = []
        for p in creating:
            cid = created[p.number]
            points.append(
                {
                    "customer_id": cid,
                    "kind": "phone",
                    "value": p.phone,
                    "raw": p.cells.get("phone", "")[:320],
                    "is_primary": True,
                    "created_at": now,
                }
            )
            if p.email:
                points.append(
                    {
                        "customer_id": cid,
                        "kind": "email",
                        "value": p.email,
                        "raw": p.cells.get("email", "")[:320],
                        "is_primary": True,
                        "created_at": now,
                    }
                )
        session.execute(insert(ContactPoint), points)
    leads = []
    for p in good:
        if p.number in matches:
            cid = matches[p.number]
            result.matched += 1
        elif p.number in created:
            cid = created[p.number]
            result.imported += 1
        else:  # a repeated new e-mail: the customer created for its first row
            cid = created[by_new_email[p.email or ""].number]
            result.matched += 1
        leads.append(
            {
                "campaign_id": imp.campaign_id,
                "list_id": imp.list_id,
                "customer_id": cid,
                "phone": p.phone,
                "state": "pending",
                "priority": 0,
                "attempts": 0,
                "assigned_agent_id": the_list.agent_id if the_list else None,
                "assigned_team_id": the_list.team_id if the_list else None,
                "created_at": now,
                "updated_at": now,
            }
        )
    if leads:
        session.execute(insert(Lead), leads)
    if result.rejected:
        session.execute(insert(ImportRejection), result.rejected)
    audit.record(
        session,
        user_id=imp.created_by_id,
        action="campaign.import_batch",
        entity_type="campaign_import",
        entity_id=imp.id,
        after={
            "rows": [start + 1, start + len(rows)],
            "imported": result.imported,
            "matched": result.matched,
            "rejected": len(result.rejected),
            "new_customer_ids": sorted(created.values()),
        },
    )
    session.execute(
        update(ListImport)
        .where(ListImport.id == imp.id)
        .values(
            processed_rows=start + len(rows),
            imported=ListImport.imported + result.imported,
            matched=ListImport.matched + result.matched,
            rejected=ListImport.rejected + len(result.rejected),
        )
    )
    return result


def data_rows(data: bytes, kind: str) -> Iterator[list[str]]:
    """The data rows (header and blank rows skipped), in file order."""
    header_seen = False
    for row in iter_rows(data, kind):
        if _blank(row):
            continue
        if not header_seen:
            header_seen = True
            continue
        yield row
