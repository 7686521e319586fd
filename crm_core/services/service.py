"""After-sales service: the catalogue, sales documents, owned products, warranties,
service contracts, and the coverage a customer or a ticket's product has on a given day.

Every write is a ``do_<verb>_<noun>`` action that validates (422 naming the field), writes
and audits; the request commits.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_core.errors import N_, Conflict, NotFound, ValidationFailed
from crm_core.models import Customer, Ticket
from crm_core.models.service import (
    CONTRACT_STATUSES,
    PRODUCT_KINDS,
    WARRANTY_KINDS,
    OwnedProduct,
    Product,
    SalesDocument,
    SalesLine,
    ServiceContract,
    ServiceContractItem,
    TicketSubject,
    Warranty,
)
from crm_core.services import audit
from crm_core.services.text import optional_text, required_text

CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_MONEY = decimal.Decimal("9999999999.99")
COVERAGE_PRODUCTS = 20


def check_currency(value: str | None, field: str = "currency") -> str:
    code = (value or "").strip().upper()
    if not CURRENCY.match(code):
        raise ValidationFailed(
            N_("%(name)s must be a three-letter ISO 4217 code such as PLN or EUR"),
            field=field,
            name=field,
        )
    return code


def check_money(value: decimal.Decimal, field: str, *, allow_zero: bool = True) -> decimal.Decimal:
    if not value.is_finite():
        raise ValidationFailed(N_("%(name)s must be a number"), field=field, name=field)
    if value < 0 or (value == 0 and not allow_zero):
        raise ValidationFailed(N_("%(name)s must not be negative"), field=field, name=field)
    if value > MAX_MONEY:
        raise ValidationFailed(N_("%(name)s is too large"), field=field, name=field)
    if value != value.quantize(decimal.Decimal("0.01")):
        raise ValidationFailed(
            N_("%(name)s has at most two decimal places"), field=field, name=field
        )
    return value


def check_period(starts_on: dt.date, ends_on: dt.date) -> None:
    if ends_on < starts_on:
        raise ValidationFailed(
            N_("the end date %(ends_on)s is before the start date %(starts_on)s"),
            ends_on=ends_on.isoformat(),
            starts_on=starts_on.isoformat(),
            field="ends_on",
            detail={"starts_on": starts_on.isoformat(), "ends_on": ends_on.isoformat()},
        )


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus ``months`` calendar months (31 January + 1 month = 28/29 February)."""
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def _customer(session: Session, customer_id: int, field: str = "customer_id") -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise ValidationFailed(N_("customer %(id)s does not exist"), field=field, id=customer_id)
    if customer.merged_into_id is not None:
        raise ValidationFailed(
            N_("customer %(id)s was merged into customer %(into)s"),
            id=customer_id,
            into=customer.merged_into_id,
            field=field,
        )
    return customer


def get_product_for_input(session: Session, product_id: int, field: str = "product_id") -> Product:
    """The product named in a request, or 422 naming the field (an unknown product)."""
    product = session.get(Product, product_id)
    if product is None:
        raise ValidationFailed(N_("product %(id)s does not exist"), field=field, id=product_id)
    return product


def get_product(session: Session, product_id: int) -> Product:
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(N_("product %(id)s not found"), id=product_id)
    return product


def _flush_unique(session: Session, obj: object, what: str, field: str, value: str) -> None:
    """Add and flush ``obj`` in a savepoint: a unique clash becomes a 409 naming the field
    and the request's unit of work stays usable (the savepoint's rollback drops ``obj``)."""
    session.flush()
    try:
        with session.begin_nested():
            session.add(obj)
            session.flush()
    except IntegrityError:
        raise Conflict(
            N_("%(name)s '%(value)s' is already used"), field=field, name=field, value=value
        ) from None


# ----------------------------------------------------------------------------- catalogue


def do_create_product(
    session: Session,
    *,
    sku: str,
    name: str,
    kind: str = "product",
    description: str | None = None,
    warranty_months: int | None = None,
    user_id: int | None = None,
) -> Product:
    sku_ = required_text(sku, "sku", 60)
    name_ = required_text(name, "name", 200)
    if kind not in PRODUCT_KINDS:
        raise ValidationFailed(
            N_("%(name)s must be one of %(allowed)s"),
            field="kind",
            name="kind",
            allowed=", ".join(PRODUCT_KINDS),
        )
    if warranty_months is not None and not 0 <= warranty_months <= 600:
        raise ValidationFailed(N_("warranty_months must be 0 to 600"), field="warranty_months")
    assert sku_ is not None and name_ is not None
    product = Product(
        sku=sku_,
        name=name_,
        kind=kind,
        description=optional_text(description, "description", 10_000),
        warranty_months=warranty_months,
        active=True,
    )
    _flush_unique(session, product, "product", "sku", sku_)
    audit.record(
        session,
        user_id=user_id,
        action="product.created",
        entity_type="product",
        entity_id=product.id,
        after={"sku": product.sku, "name": product.name},
    )
    return product


# ----------------------------------------------------------------------- sales documents


def do_create_sales_document(
    session: Session,
    *,
    number: str,
    issued_on: dt.date,
    currency: str,
    customer_id: int | None,
    lines: Sequence[dict[str, Any]],
    user_id: int | None = None,
) -> SalesDocument:
    """A sales document with its lines: ``{"product_id", "quantity", "unit_price"}`` each."""
    number_ = required_text(number, "number", 40)
    assert number_ is not None
    code = check_currency(currency)
    if customer_id is not None:
        _customer(session, customer_id)
    if not lines:
        raise ValidationFailed(N_("a sales document needs at least one line"), field="lines")
    doc = SalesDocument(number=number_, issued_on=issued_on, currency=code, customer_id=customer_id)
    for position, line in enumerate(lines, start=1):
        field = f"lines.{position - 1}"
        product = get_product_for_input(session, int(line["product_id"]), f"{field}.product_id")
        quantity = decimal.Decimal(line.get("quantity", 1))
        if not quantity.is_finite() or quantity <= 0 or quantity > 1_000_000:
            raise ValidationFailed(
                N_("quantity must be above 0 and at most 1000000"), field=f"{field}.quantity"
            )
        price = check_money(decimal.Decimal(line["unit_price"]), f"{field}.unit_price")
        doc.lines.append(
            SalesLine(position=position, product_id=product.id, quantity=quantity, unit_price=price)
        )
    _flush_unique(session, doc, "sales document", "number", number_)
    audit.record(
        session,
        user_id=user_id,
        action="sales_document.created",
        entity_type="sales_document",
        entity_id=doc.id,
        after={"number": doc.number, "customer_id": customer_id, "lines": len(doc.lines)},
    )
    return doc


def get_sales_document(session: Session, document_id: int) -> SalesDocument:
    doc = session.get(SalesDocument, document_id)
    if doc is None:
        raise NotFound(N_("sales document %(id)s not found"), id=document_id)
    return doc


def document_total(doc: SalesDocument) -> decimal.Decimal:
    total = sum((line.quantity * line.unit_price for line in doc.lines), decimal.Decimal(0))
    return total.quantize(decimal.Decimal("0.01"))


# ------------------------------------------------------------------------ owned products


def do_register_owned_product(
    session: Session,
    *,
    customer_id: int,
    product_id: int,
    serial_number: str | None = None,
    purchased_on: dt.date | None = None,
    sales_document_id: int | None = None,
    warranty_until: dt.date | None = None,
    notes: str | None = None,
    today: dt.date | None = None,
    user_id: int | None = None,
) -> OwnedProduct:
    """Record that a customer owns a product. A manufacturer's warranty is added from
    ``warranty_until``, or else from the product's ``warranty_months`` after purchase."""
    customer = _customer(session, customer_id)
    product = get_product_for_input(session, product_id)
    today = today or dt.datetime.now(dt.UTC).date()
    if purchased_on is not None and purchased_on > today:
        raise ValidationFailed(
            N_("the purchase date %(date)s is in the future"),
            field="purchased_on",
            date=purchased_on.isoformat(),
        )
    if sales_document_id is not None and session.get(SalesDocument, sales_document_id) is None:
        raise ValidationFailed(
            N_("sales document %(id)s does not exist"),
            field="sales_document_id",
            id=sales_document_id,
        )
    owned = OwnedProduct(
        customer_id=customer.id,
        product_id=product.id,
        serial_number=optional_text(serial_number, "serial_number", 100),
        purchased_on=purchased_on,
        sales_document_id=sales_document_id,
        notes=optional_text(notes, "notes", 10_000),
    )
    session.add(owned)
    session.flush()
    if warranty_until is None and product.warranty_months and purchased_on is not None:
        warranty_until = add_months(purchased_on, product.warranty_months) - dt.timedelta(days=1)
    if warranty_until is not None:
        starts = purchased_on or today
        if warranty_until < starts:
            raise ValidationFailed(
                N_("the warranty ends (%(ends_on)s) before the purchase (%(starts_on)s)"),
                ends_on=warranty_until.isoformat(),
                starts_on=starts.isoformat(),
                field="warranty_until",
            )
        owned.warranties.append(
            Warranty(kind="manufacturer", starts_on=starts, ends_on=warranty_until)
        )
        session.flush()
    audit.record(
        session,
        user_id=user_id,
        action="owned_product.registered",
        entity_type="owned_product",
        entity_id=owned.id,
        after={
            "customer_id": customer.id,
            "product_id": product.id,
            "serial_number": owned.serial_number,
        },
    )
    return owned


def get_owned_product(session: Session, owned_id: int) -> OwnedProduct:
    owned = session.get(OwnedProduct, owned_id)
    if owned is None:
        raise NotFound(N_("owned product %(id)s not found"), id=owned_id)
    return owned


def do_add_warranty(
    session: Session,
    owned: OwnedProduct,
    *,
    starts_on: dt.date,
    ends_on: dt.date,
    kind: str = "extended",
    terms: str | None = None,
    user_id: int | None = None,
) -> Warranty:
    if kind not in WARRANTY_KINDS:
        raise ValidationFailed(
            N_("%(name)s must be one of %(allowed)s"),
            field="kind",
            name="kind",
            allowed=", ".join(WARRANTY_KINDS),
        )
    check_period(starts_on, ends_on)
    warranty = Warranty(
        kind=kind, starts_on=starts_on, ends_on=ends_on, terms=optional_text(terms, "terms", 10_000)
    )
    owned.warranties.append(warranty)
    session.flush()
    audit.record(
        session,
        user_id=user_id,
        action="warranty.added",
        entity_type="owned_product",
        entity_id=owned.id,
        after={"kind": kind, "starts_on": starts_on.isoformat(), "ends_on": ends_on.isoformat()},
    )
    return warranty


# ------------------------------------------------------------------------------ contracts


def do_create_contract(
    session: Session,
    *,
    number: str,
    customer_id: int,
    coverage: str,
    starts_on: dt.date,
    ends_on: dt.date,
    response_hours: int | None = None,
    status: str = "active",
    owned_product_ids: Iterable[int] = (),
    user_id: int | None = None,
) -> ServiceContract:
    number_ = required_text(number, "number", 40)
    coverage_ = required_text(coverage, "coverage", 10_000)
    assert number_ is not None and coverage_ is not None
    customer = _customer(session, customer_id)
    check_period(starts_on, ends_on)
    if status not in CONTRACT_STATUSES:
        raise ValidationFailed(
            N_("%(name)s must be one of %(allowed)s"),
            field="status",
            name="status",
            allowed=", ".join(CONTRACT_STATUSES),
        )
    if response_hours is not None and not 1 <= response_hours <= 24 * 365:
        raise ValidationFailed(N_("response_hours must be 1 to 8760"), field="response_hours")
    contract = ServiceContract(
        number=number_,
        customer_id=customer.id,
        coverage=coverage_,
        starts_on=starts_on,
        ends_on=ends_on,
        response_hours=response_hours,
        status=status,
    )
    for owned_id in dict.fromkeys(owned_product_ids):
        owned = session.get(OwnedProduct, owned_id)
        if owned is None or owned.customer_id != customer.id:
            raise ValidationFailed(
                N_("owned product %(id)s is not one of customer %(customer)s's"),
                id=owned_id,
                customer=customer.id,
                field="owned_product_ids",
            )
        contract.items.append(ServiceContractItem(owned_product_id=owned.id))
    _flush_unique(session, contract, "service contract", "number", number_)
    audit.record(
        session,
        user_id=user_id,
        action="contract.created",
        entity_type="service_contract",
        entity_id=contract.id,
        after={
            "number": contract.number,
            "customer_id": customer.id,
            "starts_on": starts_on.isoformat(),
            "ends_on": ends_on.isoformat(),
        },
    )
    return contract


def get_contract(session: Session, contract_id: int) -> ServiceContract:
    contract = session.get(ServiceContract, contract_id)
    if contract is None:
        raise NotFound(N_("service contract %(id)s not found"), id=contract_id)
    return contract


def do_update_contract(
    session: Session,
    contract: ServiceContract,
    changes: dict[str, Any],
    *,
    user_id: int | None = None,
) -> ServiceContract:
    """Change status, period, SLA or coverage text; the period is checked as a whole."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    starts = changes.get("starts_on", contract.starts_on)
    ends = changes.get("ends_on", contract.ends_on)
    check_period(starts, ends)
    for key, value in changes.items():
        if key == "status" and value not in CONTRACT_STATUSES:
            raise ValidationFailed(
                N_("%(name)s must be one of %(allowed)s"),
                field="status",
                name="status",
                allowed=", ".join(CONTRACT_STATUSES),
            )
        if key == "coverage":
            value = required_text(value, "coverage", 10_000)
        if key == "response_hours" and value is not None and not 1 <= value <= 24 * 365:
            raise ValidationFailed(N_("response_hours must be 1 to 8760"), field="response_hours")
        if key not in ("status", "coverage", "response_hours", "starts_on", "ends_on"):
            raise ValidationFailed(N_("unknown field '%(key)s'"), field=key, key=key)
        old = getattr(contract, key)
        if old != value:
            before[key] = old.isoformat() if isinstance(old, dt.date) else old
            after[key] = value.isoformat() if isinstance(value, dt.date) else value
            setattr(contract, key, value)
    if after:
        session.flush()
        audit.record(
            session,
            user_id=user_id,
            action="contract.updated",
            entity_type="service_contract",
            entity_id=contract.id,
            before=before,
            after=after,
        )
    return contract


# ------------------------------------------------------------------------------- coverage


def contract_is_current(contract: ServiceContract, today: dt.date) -> bool:
    return contract.status == "active" and contract.starts_on <= today <= contract.ends_on


def _contract_line(contract: ServiceContract, today: dt.date) -> dict[str, Any]:
    return {
        "id": contract.id,
        "number": contract.number,
        "coverage": contract.coverage,
        "starts_on": contract.starts_on.isoformat(),
        "ends_on": contract.ends_on.isoformat(),
        "response_hours": contract.response_hours,
        "status": contract.status,
        "current": contract_is_current(contract, today),
        "owned_product_ids": [item.owned_product_id for item in contract.items],
    }


def _covers(contract: ServiceContract, owned: OwnedProduct) -> bool:
    if contract.customer_id != owned.customer_id:
        return False
    ids = {item.owned_product_id for item in contract.items}
    return not ids or owned.id in ids


def owned_product_coverage(
    owned: OwnedProduct, contracts: Sequence[ServiceContract], today: dt.date
) -> dict[str, Any]:
    """One owned product with its warranty and the current contracts that cover it.

    ``warranty_until`` is the latest end of a warranty running today (None when none is);
    ``last_warranty_until`` the latest end of any warranty, to say "warranty expired on…".
    """
    running = [w for w in owned.warranties if w.starts_on <= today <= w.ends_on]
    best = max(running, key=lambda w: w.ends_on, default=None)
    last = max(owned.warranties, key=lambda w: w.ends_on, default=None)
    covering = [
        _contract_line(c, today)
        for c in contracts
        if contract_is_current(c, today) and _covers(c, owned)
    ]
    return {
        "id": owned.id,
        "product_id": owned.product_id,
        "product_name": owned.product.name,
        "sku": owned.product.sku,
        "serial_number": owned.serial_number,
        "purchased_on": owned.purchased_on.isoformat() if owned.purchased_on else None,
        "sales_document_id": owned.sales_document_id,
        "sales_document_number": owned.sales_document.number if owned.sales_document else None,
        "in_warranty": best is not None,
        "warranty_until": best.ends_on.isoformat() if best else None,
        "warranty_kind": best.kind if best else None,
        "last_warranty_until": last.ends_on.isoformat() if last else None,
        "contracts": covering,
        "covered": best is not None or bool(covering),
    }


def customer_coverage(
    session: Session, customer_id: int, today: dt.date | None = None
) -> dict[str, Any]:
    """What a customer owns and which warranties and contracts cover it on ``today``."""
    today = today or dt.datetime.now(dt.UTC).date()
    contracts = list(
        session.scalars(
            select(ServiceContract)
            .where(ServiceContract.customer_id == customer_id)
            .order_by(ServiceContract.ends_on.desc(), ServiceContract.id)
        )
    )
    owned = session.scalars(
        select(OwnedProduct)
        .where(OwnedProduct.customer_id == customer_id)
        .order_by(OwnedProduct.purchased_on.desc(), OwnedProduct.id.desc())
        .limit(COVERAGE_PRODUCTS)
    )
    return {
        "today": today.isoformat(),
        "products": [owned_product_coverage(o, contracts, today) for o in owned],
        "contracts": [
            _contract_line(c, today) for c in contracts if c.status in ("active", "suspended")
        ],
    }


# ------------------------------------------------------------------ what a ticket is about


def do_set_ticket_subject(
    session: Session,
    ticket: Ticket,
    *,
    owned_product_id: int | None,
    sales_document_id: int | None = None,
    user_id: int | None = None,
) -> TicketSubject | None:
    """Say which owned product (and/or sales document) a ticket concerns; both None clears.

    The product must belong to the ticket's customer (when the ticket has one); a product
    given without a document takes the document it was bought on.
    """
    owned = None
    if owned_product_id is not None:
        owned = session.get(OwnedProduct, owned_product_id)
        if owned is None:
            raise ValidationFailed(
                N_("owned product %(id)s does not exist"),
                field="owned_product_id",
                id=owned_product_id,
            )
        if ticket.customer_id is not None and owned.customer_id != ticket.customer_id:
            raise ValidationFailed(
                N_("owned product %(id)s belongs to another customer"),
                id=owned_product_id,
                field="owned_product_id",
            )
        if sales_document_id is None:
            sales_document_id = owned.sales_document_id
    if sales_document_id is not None and session.get(SalesDocument, sales_document_id) is None:
        raise ValidationFailed(
            N_("sales document %(id)s does not exist"),
            field="sales_document_id",
            id=sales_document_id,
        )
    row = session.get(TicketSubject, ticket.id)
    if owned_product_id is None and sales_document_id is None:
        if row is not None:
            session.delete(row)
            session.flush()
        return None
    if row is None:
        row = TicketSubject(ticket_id=ticket.id)
        session.add(row)
    row.owned_product_id = owned_product_id
    row.sales_document_id = sales_document_id
    session.flush()
    audit.record(
        session,
        user_id=user_id,
        action="ticket.subject_set",
        entity_type="ticket",
        entity_id=ticket.id,
        after={"owned_product_id": owned_product_id, "sales_document_id": sales_document_id},
    )
    return row


def ticket_coverage(
    session: Session, ticket: Ticket, today: dt.date | None = None
) -> dict[str, Any] | None:
    """The product a ticket concerns with its coverage today, or None when it names none."""
    today = today or dt.datetime.now(dt.UTC).date()
    row = session.get(TicketSubject, ticket.id)
    if row is None:
        return None
    doc = row.sales_document
    out: dict[str, Any] = {
        "sales_document": (
            {
                "id": doc.id,
                "number": doc.number,
                "issued_on": doc.issued_on.isoformat(),
                "currency": doc.currency,
                "total": str(document_total(doc)),
            }
            if doc is not None
            else None
        ),
        "product": None,
    }
    if row.owned_product is not None:
        owned = row.owned_product
        contracts = list(
            session.scalars(
                select(ServiceContract).where(ServiceContract.customer_id == owned.customer_id)
            )
        )
        out["product"] = owned_product_coverage(owned, contracts, today)
    return out


def find_owned_products(
    session: Session, *, customer_id: int | None = None, q: str | None = None, limit: int = 50
) -> list[OwnedProduct]:
    stmt = select(OwnedProduct).join(Product, Product.id == OwnedProduct.product_id)
    if customer_id is not None:
        stmt = stmt.where(OwnedProduct.customer_id == customer_id)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                OwnedProduct.serial_number.ilike(pattern, escape="\\"),
                Product.name.ilike(pattern, escape="\\"),
                Product.sku.ilike(pattern, escape="\\"),
            )
        )
    return list(session.scalars(stmt.order_by(OwnedProduct.id.desc()).limit(limit)))
