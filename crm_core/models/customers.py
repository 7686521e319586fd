"""Customers (people and organisations), their contact points, relations, tags and custom fields."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, WriteOnlyMapped, mapped_column, relationship

from crm_core.db import Base, JSONType, utcnow

if TYPE_CHECKING:
    from crm_core.models.interactions import Interaction

CUSTOMER_KINDS = ("person", "organisation")
CONTACT_KINDS = ("phone", "email", "fax")
CUSTOM_FIELD_TYPES = ("text", "number", "date", "choice", "boolean")

customer_tags = Table(
    "customer_tags",
    Base.metadata,
    Column("customer_id", ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_customer_tags_tag_id", "tag_id"),
)


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)


class Customer(Base):
    """A person or an organisation we talk to. Merged customers stay as tombstones."""

    __tablename__ = "customers"
    __table_args__ = (
        CheckConstraint("kind IN ('person', 'organisation')", name="kind"),
        Index("ix_customers_search_name", "search_name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="person")
    first_name: Mapped[str | None] = mapped_column(String(120))
    last_name: Mapped[str | None] = mapped_column(String(120))
    organisation_name: Mapped[str | None] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(250))
    # Lower-cased display name: what the search box matches (LIKE works the same everywhere).
    search_name: Mapped[str] = mapped_column(String(250))
    customer_class: Mapped[str | None] = mapped_column(String(40))
    vip: Mapped[bool] = mapped_column(Boolean, default=False)
    no_calls: Mapped[bool] = mapped_column(Boolean, default=False)
    no_mail: Mapped[bool] = mapped_column(Boolean, default=False)
    birthday: Mapped[dt.date | None] = mapped_column(Date)
    language: Mapped[str | None] = mapped_column(String(10))
    timezone: Mapped[str | None] = mapped_column(String(64))
    city: Mapped[str | None] = mapped_column(String(120))
    country: Mapped[str | None] = mapped_column(String(2))
    notes: Mapped[str | None] = mapped_column(Text)
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    contact_points: Mapped[list[ContactPoint]] = relationship(
        back_populates="customer",
        cascade="all, delete-orphan",
        order_by="ContactPoint.id",
    )
    tags: Mapped[list[Tag]] = relationship(secondary=customer_tags, order_by="Tag.name")
    custom_values: Mapped[list[CustomFieldValue]] = relationship(
        back_populates="customer", cascade="all, delete-orphan"
    )
    interactions: WriteOnlyMapped[Interaction] = relationship(
        back_populates="customer", passive_deletes=True
    )

    def set_names(self) -> None:
        """Derive ``display_name`` and ``search_name`` from the name parts."""
        if self.kind == "organisation":
            name = (self.organisation_name or "").strip()
        else:
            name = " ".join(p for p in (self.first_name, self.last_name) if p).strip()
        self.display_name = name or "(unnamed)"
        self.search_name = self.display_name.casefold()


class ContactPoint(Base):
    """A phone (E.164), an e-mail address (lower-cased) or a fax number of a customer.

    E-mail addresses are unique across customers so that a sender identifies one
    customer; phone numbers are not (a household or an office shares a line).
    """

    __tablename__ = "contact_points"
    __table_args__ = (
        CheckConstraint("kind IN ('phone', 'email', 'fax')", name="kind"),
        UniqueConstraint("customer_id", "kind", "value"),
        Index("ix_contact_points_kind_value", "kind", "value"),
        Index(
            "uq_contact_points_email",
            "value",
            unique=True,
            sqlite_where=Column("kind") == "email",
            postgresql_where=Column("kind") == "email",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(320))
    raw: Mapped[str | None] = mapped_column(String(320))
    label: Mapped[str | None] = mapped_column(String(40))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="contact_points")


class RelationType(Base):
    """A kind of relation, read in both directions ("works for" / "employs")."""

    __tablename__ = "relation_types"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(80))
    inverse_label: Mapped[str] = mapped_column(String(80))


class CustomerRelation(Base):
    __tablename__ = "customer_relations"
    __table_args__ = (
        UniqueConstraint("from_customer_id", "relation_type_id", "to_customer_id"),
        CheckConstraint("from_customer_id <> to_customer_id", name="not_self"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    from_customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    to_customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    relation_type_id: Mapped[int] = mapped_column(ForeignKey("relation_types.id"))
    note: Mapped[str | None] = mapped_column(String(250))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    relation_type: Mapped[RelationType] = relationship()
    from_customer: Mapped[Customer] = relationship(foreign_keys=[from_customer_id])
    to_customer: Mapped[Customer] = relationship(foreign_keys=[to_customer_id])


class CustomFieldDefinition(Base):
    """A field an admin added to customer cards, with its type and (for choices) options."""

    __tablename__ = "custom_field_definitions"
    __table_args__ = (
        CheckConstraint(
            "field_type IN ('text', 'number', 'date', 'choice', 'boolean')", name="field_type"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(60), unique=True)
    label: Mapped[str] = mapped_column(String(120))
    field_type: Mapped[str] = mapped_column(String(16))
    choices: Mapped[list[str] | None] = mapped_column(JSONType)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CustomFieldValue(Base):
    """One typed value of a custom field on a customer (typed columns keep filters indexable)."""

    __tablename__ = "custom_field_values"
    __table_args__ = (
        UniqueConstraint("customer_id", "field_id"),
        Index("ix_custom_field_values_field_text", "field_id", "value_text"),
        Index("ix_custom_field_values_field_number", "field_id", "value_number"),
        Index("ix_custom_field_values_field_date", "field_id", "value_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    field_id: Mapped[int] = mapped_column(
        ForeignKey("custom_field_definitions.id", ondelete="CASCADE")
    )
    value_text: Mapped[str | None] = mapped_column(String(1000))
    value_number: Mapped[decimal.Decimal | None] = mapped_column(Numeric(18, 4))
    value_date: Mapped[dt.date | None] = mapped_column(Date)
    value_bool: Mapped[bool | None] = mapped_column(Boolean)

    customer: Mapped[Customer] = relationship(back_populates="custom_values")
    field: Mapped[CustomFieldDefinition] = relationship(lazy="joined")

    @property
    def value(self) -> Any:
        kind = self.field.field_type
        if kind == "number":
            n = self.value_number
            return None if n is None else (int(n) if n == n.to_integral_value() else float(n))
        if kind == "date":
            return self.value_date
        if kind == "boolean":
            return self.value_bool
        return self.value_text
