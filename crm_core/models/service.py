"""After-sales service: the catalogue, what customers bought and own, warranties, service
contracts, what a ticket is about, and complaints.

Money is ``Numeric`` (``decimal.Decimal`` in Python) with an ISO 4217 currency next to it;
amounts in different currencies are never added together.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_core.db import Base, utcnow

if TYPE_CHECKING:
    from crm_core.models.customers import Customer

PRODUCT_KINDS = ("product", "service")
CONTRACT_STATUSES = ("draft", "active", "suspended", "ended")
WARRANTY_KINDS = ("manufacturer", "extended", "statutory")
COMPLAINT_STATUSES = ("registered", "under_review", "accepted", "rejected", "resolved")


class Product(Base):
    """A product or service in the catalogue."""

    __tablename__ = "service_products"
    __table_args__ = (CheckConstraint("kind IN ('product', 'service')", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10), default="product")
    description: Mapped[str | None] = mapped_column(Text)
    warranty_months: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SalesDocument(Base):
    """An invoice or receipt: its number, date and lines."""

    __tablename__ = "service_sales_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    issued_on: Mapped[dt.date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    lines: Mapped[list[SalesLine]] = relationship(
        back_populates="document", order_by="SalesLine.position", cascade="all, delete-orphan"
    )


class SalesLine(Base):
    __tablename__ = "service_sales_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(
        ForeignKey("service_sales_documents.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("service_products.id", ondelete="RESTRICT"), index=True
    )
    quantity: Mapped[decimal.Decimal] = mapped_column(Numeric(12, 3))
    unit_price: Mapped[decimal.Decimal] = mapped_column(Numeric(12, 2))

    document: Mapped[SalesDocument] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship()


class OwnedProduct(Base):
    """One item a customer owns: which product, its serial number, when and where bought."""

    __tablename__ = "service_owned_products"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    product_id: Mapped[int] = mapped_column(
        ForeignKey("service_products.id", ondelete="RESTRICT"), index=True
    )
    serial_number: Mapped[str | None] = mapped_column(String(100), index=True)
    purchased_on: Mapped[dt.date | None] = mapped_column(Date)
    sales_document_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_sales_documents.id", ondelete="SET NULL"), index=True
    )
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    customer: Mapped[Customer] = relationship()
    product: Mapped[Product] = relationship()
    sales_document: Mapped[SalesDocument | None] = relationship()
    warranties: Mapped[list[Warranty]] = relationship(
        back_populates="owned_product", order_by="Warranty.ends_on", cascade="all, delete-orphan"
    )


class Warranty(Base):
    """A warranty on an owned product, valid from ``starts_on`` to ``ends_on`` inclusive."""

    __tablename__ = "service_warranties"
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="period"),
        CheckConstraint("kind IN ('manufacturer', 'extended', 'statutory')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owned_product_id: Mapped[int] = mapped_column(
        ForeignKey("service_owned_products.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(15), default="manufacturer")
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    terms: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    owned_product: Mapped[OwnedProduct] = relationship(back_populates="warranties")


class ServiceContract(Base):
    """A service contract: what it covers, for which period, with which SLA.

    It covers the owned products listed in ``service_contract_items``; a contract with no
    items covers everything the customer owns.
    """

    __tablename__ = "service_contracts"
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="period"),
        CheckConstraint("status IN ('draft', 'active', 'suspended', 'ended')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    coverage: Mapped[str] = mapped_column(Text)
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    response_hours: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="active")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    items: Mapped[list[ServiceContractItem]] = relationship(
        back_populates="contract", cascade="all, delete-orphan"
    )


class ServiceContractItem(Base):
    __tablename__ = "service_contract_items"
    __table_args__ = (UniqueConstraint("contract_id", "owned_product_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(
        ForeignKey("service_contracts.id", ondelete="CASCADE"), index=True
    )
    owned_product_id: Mapped[int] = mapped_column(
        ForeignKey("service_owned_products.id", ondelete="CASCADE"), index=True
    )

    contract: Mapped[ServiceContract] = relationship(back_populates="items")


class TicketSubject(Base):
    """What a ticket is about: an owned product and/or a sales document (one row per ticket)."""

    __tablename__ = "service_ticket_subjects"

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    owned_product_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_owned_products.id", ondelete="SET NULL"), index=True
    )
    sales_document_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_sales_documents.id", ondelete="SET NULL"), index=True
    )

    owned_product: Mapped[OwnedProduct | None] = relationship()
    sales_document: Mapped[SalesDocument | None] = relationship()


class Complaint(Base):
    """The complaint process of a ticket of type ``complaint`` (one row per such ticket).

    ``reason`` is why the customer complains (``defect``, ``damaged_in_transport``…, free
    text up to 80 characters, what the report groups by); ``decision_reason`` is why we
    accepted or rejected it, required for either decision.
    """

    __tablename__ = "complaint_cases"
    __table_args__ = (
        CheckConstraint(
            "status IN ('registered', 'under_review', 'accepted', 'rejected', 'resolved')",
            name="status",
        ),
        CheckConstraint("cost_amount IS NULL OR cost_currency IS NOT NULL", name="currency"),
    )

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(12), default="registered", index=True)
    reason: Mapped[str] = mapped_column(String(80), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    cost_amount: Mapped[decimal.Decimal | None] = mapped_column(Numeric(12, 2))
    cost_currency: Mapped[str | None] = mapped_column(String(3))
    decided_at: Mapped[dt.datetime | None] = mapped_column()
    resolved_at: Mapped[dt.datetime | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
