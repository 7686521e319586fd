"""Products, sales documents, owned products, warranties, service contracts and coverage.

Record rule: these belong to customers, whose cards every user may see, so every user may
read them; the catalogue is changed by supervisors and admins. What a ticket concerns (and
its coverage) follows the ticket's own rule (404 for a ticket the caller cannot see).
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints
from sqlalchemy import or_, select

from crm_core.models.service import OwnedProduct, Product, SalesDocument, ServiceContract
from crm_core.services import service as svc
from crm_core.services.customers import get_customer
from crm_core.services.tickets import get_visible_ticket
from hub.api import bp
from hub.api.common import SearchText, like_pattern, not_null
from hub.api.schemas import Id, Out, PageQuery, Strict
from hub.api.spec import operation
from hub.auth import current
from hub.db import db

TAGS = ["service"]


def _sane_day(value: dt.date) -> dt.date:
    if not 1900 <= value.year <= 2999:
        raise ValueError("the date must lie between the years 1900 and 2999")
    return value


Day = Annotated[dt.date, AfterValidator(_sane_day)]
Money = Annotated[
    decimal.Decimal, Field(ge=0, le=decimal.Decimal("9999999999.99"), decimal_places=2)
]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")]
Number = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000)]


class ProductIn(Strict):
    sku: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    kind: Literal["product", "service"] = "product"
    description: LongText | None = None
    warranty_months: Annotated[int, Field(ge=0, le=600)] | None = None


class ProductOut(Out):
    id: int
    sku: str
    name: str
    kind: str
    description: str | None
    warranty_months: int | None
    active: bool


class ProductPage(BaseModel):
    items: list[ProductOut]
    limit: int
    offset: int
    has_more: bool


class ProductQuery(PageQuery):
    q: SearchText | None = Field(None, description="part of the name or the SKU")


class SalesLineIn(Strict):
    product_id: Id
    quantity: Annotated[decimal.Decimal, Field(gt=0, le=1_000_000, decimal_places=3)] = (
        decimal.Decimal(1)
    )
    unit_price: Money


class SalesDocumentIn(Strict):
    number: Number
    issued_on: Day
    currency: Currency
    customer_id: Id | None = None
    lines: list[SalesLineIn] = Field(min_length=1, max_length=500)


class SalesLineOut(Out):
    position: int
    product_id: int
    quantity: decimal.Decimal
    unit_price: decimal.Decimal


class SalesDocumentOut(Out):
    id: int
    number: str
    issued_on: dt.date
    currency: str
    customer_id: int | None
    lines: list[SalesLineOut]
    total: decimal.Decimal


class OwnedProductIn(Strict):
    product_id: Id
    serial_number: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None
    ) = None
    purchased_on: Day | None = None
    sales_document_id: Id | None = None
    warranty_until: Day | None = Field(
        None, description="end of the manufacturer's warranty; default: the product's months"
    )
    notes: LongText | None = None


class WarrantyIn(Strict):
    kind: Literal["manufacturer", "extended", "statutory"] = "extended"
    starts_on: Day
    ends_on: Day
    terms: LongText | None = None


class ContractItem(BaseModel):
    id: int
    number: str
    coverage: str
    starts_on: str
    ends_on: str
    response_hours: int | None
    status: str
    current: bool
    owned_product_ids: list[int]


class OwnedCoverage(BaseModel):
    id: int
    product_id: int
    product_name: str
    sku: str
    serial_number: str | None
    purchased_on: str | None
    sales_document_id: int | None
    sales_document_number: str | None
    in_warranty: bool
    warranty_until: str | None
    warranty_kind: str | None
    last_warranty_until: str | None
    contracts: list[ContractItem]
    covered: bool


class CustomerCoverage(BaseModel):
    today: str
    products: list[OwnedCoverage]
    contracts: list[ContractItem]


class ContractIn(Strict):
    number: Number
    coverage: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)
    ]
    starts_on: Day
    ends_on: Day
    response_hours: Annotated[int, Field(ge=1, le=8760)] | None = None
    status: Literal["draft", "active", "suspended", "ended"] = "active"
    owned_product_ids: list[Id] = Field(default_factory=list, max_length=500)


class ContractUpdate(Strict):
    coverage: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)
    ] = not_null()
    starts_on: Day = not_null()
    ends_on: Day = not_null()
    response_hours: Annotated[int, Field(ge=1, le=8760)] | None = None
    status: Literal["draft", "active", "suspended", "ended"] = not_null()


class ContractOut(Out):
    id: int
    number: str
    customer_id: int
    coverage: str
    starts_on: dt.date
    ends_on: dt.date
    response_hours: int | None
    status: str


class TicketSubjectIn(Strict):
    owned_product_id: Id | None = None
    sales_document_id: Id | None = None


class SalesDocumentBrief(BaseModel):
    id: int
    number: str
    issued_on: str
    currency: str
    total: str


class TicketCoverage(BaseModel):
    sales_document: SalesDocumentBrief | None = None
    product: OwnedCoverage | None = None


def document_out(doc: SalesDocument) -> SalesDocumentOut:
    return SalesDocumentOut(
        id=doc.id,
        number=doc.number,
        issued_on=doc.issued_on,
        currency=doc.currency,
        customer_id=doc.customer_id,
        lines=[SalesLineOut.model_validate(line) for line in doc.lines],
        total=svc.document_total(doc),
    )


@operation(
    bp,
    "/products",
    "GET",
    summary="List the catalogue",
    tags=TAGS,
    query=ProductQuery,
    response=ProductPage,
)
def list_products(query: ProductQuery) -> ProductPage:
    stmt = select(Product)
    if query.q:
        pattern = like_pattern(query.q)
        stmt = stmt.where(
            or_(Product.name.ilike(pattern, escape="\\"), Product.sku.ilike(pattern, escape="\\"))
        )
    rows = list(
        db.session.scalars(
            stmt.order_by(Product.name, Product.id).limit(query.limit + 1).offset(query.offset)
        )
    )
    return ProductPage(
        items=[ProductOut.model_validate(p) for p in rows[: query.limit]],
        limit=query.limit,
        offset=query.offset,
        has_more=len(rows) > query.limit,
    )


@operation(
    bp,
    "/products",
    "POST",
    summary="Add a product or service to the catalogue",
    tags=TAGS,
    body=ProductIn,
    response=ProductOut,
    status=201,
    roles=("supervisor",),
    errors=(409,),
)
def create_product(body: ProductIn) -> ProductOut:
    """A second product with the same SKU answers 409."""
    product = svc.do_create_product(db.session, **body.model_dump(), user_id=current().id)
    return ProductOut.model_validate(product)


@operation(
    bp,
    "/products/<int:product_id>",
    "GET",
    summary="Read a product",
    tags=TAGS,
    response=ProductOut,
)
def get_product(product_id: int) -> ProductOut:
    return ProductOut.model_validate(svc.get_product(db.session, product_id))


@operation(
    bp,
    "/sales-documents",
    "POST",
    summary="Record a sales document with its lines",
    tags=TAGS,
    body=SalesDocumentIn,
    response=SalesDocumentOut,
    status=201,
    errors=(409,),
)
def create_sales_document(body: SalesDocumentIn) -> SalesDocumentOut:
    """An unknown product on a line answers 422 naming the line; a number already used, 409."""
    doc = svc.do_create_sales_document(
        db.session,
        number=body.number,
        issued_on=body.issued_on,
        currency=body.currency,
        customer_id=body.customer_id,
        lines=[line.model_dump() for line in body.lines],
        user_id=current().id,
    )
    return document_out(doc)


@operation(
    bp,
    "/sales-documents/<int:document_id>",
    "GET",
    summary="Read a sales document",
    tags=TAGS,
    response=SalesDocumentOut,
)
def get_sales_document(document_id: int) -> SalesDocumentOut:
    return document_out(svc.get_sales_document(db.session, document_id))


@operation(
    bp,
    "/customers/<int:customer_id>/owned-products",
    "POST",
    summary="Record a product a customer owns",
    tags=TAGS,
    body=OwnedProductIn,
    response=OwnedCoverage,
    status=201,
)
def register_owned_product(customer_id: int, body: OwnedProductIn) -> OwnedCoverage:
    """With ``warranty_until``, or a product with ``warranty_months`` and a purchase date,
    a manufacturer's warranty is recorded too. An unknown product answers 422."""
    get_customer(db.session, customer_id)
    owned = svc.do_register_owned_product(
        db.session, customer_id=customer_id, **body.model_dump(), user_id=current().id
    )
    return _owned_out(owned)


def _owned_out(owned: OwnedProduct) -> OwnedCoverage:
    contracts = list(
        db.session.scalars(
            select(ServiceContract).where(ServiceContract.customer_id == owned.customer_id)
        )
    )
    today = dt.datetime.now(dt.UTC).date()
    return OwnedCoverage.model_validate(svc.owned_product_coverage(owned, contracts, today))


@operation(
    bp,
    "/owned-products/<int:owned_id>/warranties",
    "POST",
    summary="Add a warranty (e.g. an extended one) to an owned product",
    tags=TAGS,
    body=WarrantyIn,
    response=OwnedCoverage,
    status=201,
)
def add_warranty(owned_id: int, body: WarrantyIn) -> OwnedCoverage:
    """An end before the start answers 422 naming ``ends_on``."""
    owned = svc.get_owned_product(db.session, owned_id)
    svc.do_add_warranty(db.session, owned, **body.model_dump(), user_id=current().id)
    return _owned_out(owned)


@operation(
    bp,
    "/owned-products/<int:owned_id>",
    "GET",
    summary="Read an owned product with its coverage today",
    tags=TAGS,
    response=OwnedCoverage,
)
def get_owned_product(owned_id: int) -> OwnedCoverage:
    return _owned_out(svc.get_owned_product(db.session, owned_id))


@operation(
    bp,
    "/customers/<int:customer_id>/contracts",
    "POST",
    summary="Create a service contract",
    tags=TAGS,
    body=ContractIn,
    response=ContractOut,
    status=201,
    errors=(409,),
)
def create_contract(customer_id: int, body: ContractIn) -> ContractOut:
    """The end date may not be before the start date (422 naming ``ends_on``); listed owned
    products must be the customer's. No products listed: it covers all they own."""
    get_customer(db.session, customer_id)
    contract = svc.do_create_contract(
        db.session, customer_id=customer_id, **body.model_dump(), user_id=current().id
    )
    return ContractOut.model_validate(contract)


@operation(
    bp,
    "/contracts/<int:contract_id>",
    "GET",
    summary="Read a service contract",
    tags=TAGS,
    response=ContractOut,
)
def get_contract(contract_id: int) -> ContractOut:
    return ContractOut.model_validate(svc.get_contract(db.session, contract_id))


@operation(
    bp,
    "/contracts/<int:contract_id>",
    "PATCH",
    summary="Change a service contract",
    tags=TAGS,
    body=ContractUpdate,
    response=ContractOut,
)
def update_contract(contract_id: int, body: ContractUpdate) -> ContractOut:
    contract = svc.get_contract(db.session, contract_id)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    svc.do_update_contract(db.session, contract, changes, user_id=current().id)
    return ContractOut.model_validate(contract)


@operation(
    bp,
    "/customers/<int:customer_id>/coverage",
    "GET",
    summary="What a customer owns, with warranties and contracts in force today",
    tags=TAGS,
    response=CustomerCoverage,
)
def customer_coverage(customer_id: int) -> CustomerCoverage:
    customer = get_customer(db.session, customer_id)
    return CustomerCoverage.model_validate(svc.customer_coverage(db.session, customer.id))


@operation(
    bp,
    "/tickets/<int:ticket_id>/subject",
    "PUT",
    summary="Say which owned product or sales document a ticket concerns",
    tags=TAGS,
    body=TicketSubjectIn,
    response=TicketCoverage,
)
def set_ticket_subject(ticket_id: int, body: TicketSubjectIn) -> TicketCoverage:
    """Both null clears it. The product must be the ticket's customer's (422 otherwise)."""
    user = current()
    ticket = get_visible_ticket(db.session, user, ticket_id)
    svc.do_set_ticket_subject(
        db.session,
        ticket,
        owned_product_id=body.owned_product_id,
        sales_document_id=body.sales_document_id,
        user_id=user.id,
    )
    return TicketCoverage.model_validate(svc.ticket_coverage(db.session, ticket) or {})


@operation(
    bp,
    "/tickets/<int:ticket_id>/coverage",
    "GET",
    summary="The product a ticket concerns and its coverage today",
    tags=TAGS,
    response=TicketCoverage,
)
def ticket_coverage(ticket_id: int) -> TicketCoverage:
    ticket = get_visible_ticket(db.session, current(), ticket_id)
    return TicketCoverage.model_validate(svc.ticket_coverage(db.session, ticket) or {})
