"""service: products, sales documents, owned products, warranties, contracts, complaints;
knowledge base with full-text search

Revision ID: 5a1c0ffee9b1
Revises: 842930d9f26a
Create Date: 2026-11-23 17:00:00

The knowledge base's full-text index lives outside the models (hub/migrations/env.py leaves
it out of ``switchboard db check``): on SQLite an FTS5 table over ``kb_articles.search_text``
kept in sync by triggers; on PostgreSQL a GIN index on ``to_tsvector('simple', search_text)``.
``search_text`` is already folded (lower case, no diacritics) by crm_core.services.kb, so the
'simple' configuration needs no unaccent extension and works for Polish and Ukrainian alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm_core.db

revision: str = "5a1c0ffee9b1"
down_revision: str | Sequence[str] | None = "842930d9f26a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_FTS = (
    "CREATE VIRTUAL TABLE kb_articles_fts USING fts5("
    "search_text, content='kb_articles', content_rowid='id', tokenize='unicode61')",
    "CREATE TRIGGER kb_articles_fts_ai AFTER INSERT ON kb_articles BEGIN "
    "INSERT INTO kb_articles_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER kb_articles_fts_ad AFTER DELETE ON kb_articles BEGIN "
    "INSERT INTO kb_articles_fts(kb_articles_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER kb_articles_fts_au AFTER UPDATE OF search_text ON kb_articles BEGIN "
    "INSERT INTO kb_articles_fts(kb_articles_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO kb_articles_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
)
SQLITE_FTS_DROP = (
    "DROP TRIGGER IF EXISTS kb_articles_fts_au",
    "DROP TRIGGER IF EXISTS kb_articles_fts_ad",
    "DROP TRIGGER IF EXISTS kb_articles_fts_ai",
    "DROP TABLE IF EXISTS kb_articles_fts",
)
PG_FTS = (
    "CREATE INDEX ix_kb_articles_search_fts ON kb_articles "
    "USING gin (to_tsvector('simple'::regconfig, search_text))"
)


def upgrade() -> None:
    op.create_table(
        "kb_categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("created_at", crm_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_categories")),
        sa.UniqueConstraint("name", name=op.f("uq_kb_categories_name")),
    )
    op.create_table(
        "service_products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("warranty_months", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", crm_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('product', 'service')", name=op.f("ck_service_products_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_products")),
        sa.UniqueConstraint("sku", name=op.f("uq_service_products_sku")),
    )
    op.create_table(
        "kb_articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("keywords", sa.String(length=500), nullable=False),
        sa.Column("visibility", sa.String(length=10), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("view_count", sa.Integer(), nullable=False),
        sa.Column("insert_count", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", crm_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crm_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "visibility IN ('internal', 'public')", name=op.f("ck_kb_articles_visibility")
        ),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["kb_categories.id"],
            name=op.f("fk_kb_articles_category_id_kb_categories"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_kb_articles_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["users.id"],
            name=op.f("fk_kb_articles_updated_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_articles")),
    )
    with op.batch_alter_table("kb_articles", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_kb_articles_category_id"), ["category_id"], unique=False
        )

    op.create_table(
        "service_contracts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("coverage", sa.Text(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("response_hours", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", crm_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('draft', 'active', 'suspended', 'ended')",
            name=op.f("ck_service_contracts_status"),
        ),
        sa.CheckConstraint("ends_on >= starts_on", name=op.f("ck_service_contracts_period")),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_service_contracts_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_contracts")),
        sa.UniqueConstraint("number", name=op.f("uq_service_contracts_number")),
    )
    with op.batch_alter_table("service_contracts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_contracts_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "service_sales_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", crm_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_service_sales_documents_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_sales_documents")),
        sa.UniqueConstraint("number", name=op.f("uq_service_sales_documents_number")),
    )
    with op.batch_alter_table("service_sales_documents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_sales_documents_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "complaint_cases",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=80), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("cost_amount", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("cost_currency", sa.String(length=3), nullable=True),
        sa.Column("decided_at", crm_core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", crm_core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", crm_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('registered', 'under_review', 'accepted', 'rejected', 'resolved')",
            name=op.f("ck_complaint_cases_status"),
        ),
        sa.CheckConstraint(
            "cost_amount IS NULL OR cost_currency IS NOT NULL",
            name=op.f("ck_complaint_cases_currency"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_complaint_cases_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_complaint_cases")),
    )
    with op.batch_alter_table("complaint_cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_complaint_cases_reason"), ["reason"], unique=False)
        batch_op.create_index(batch_op.f("ix_complaint_cases_status"), ["status"], unique=False)

    op.create_table(
        "kb_article_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("keywords", sa.String(length=500), nullable=False),
        sa.Column("visibility", sa.String(length=10), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("edited_by_id", sa.Integer(), nullable=True),
        sa.Column("edited_at", crm_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["kb_articles.id"],
            name=op.f("fk_kb_article_versions_article_id_kb_articles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["edited_by_id"],
            ["users.id"],
            name=op.f("fk_kb_article_versions_edited_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_article_versions")),
        sa.UniqueConstraint(
            "article_id", "version", name=op.f("uq_kb_article_versions_article_id_version")
        ),
    )
    with op.batch_alter_table("kb_article_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_kb_article_versions_article_id"), ["article_id"], unique=False
        )

    op.create_table(
        "service_owned_products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("serial_number", sa.String(length=100), nullable=True),
        sa.Column("purchased_on", sa.Date(), nullable=True),
        sa.Column("sales_document_id", sa.Integer(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", crm_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_service_owned_products_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["service_products.id"],
            name=op.f("fk_service_owned_products_product_id_service_products"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["sales_document_id"],
            ["service_sales_documents.id"],
            name=op.f("fk_service_owned_products_sales_document_id_service_sales_documents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_owned_products")),
    )
    with op.batch_alter_table("service_owned_products", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_owned_products_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_service_owned_products_product_id"), ["product_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_service_owned_products_sales_document_id"),
            ["sales_document_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_service_owned_products_serial_number"), ["serial_number"], unique=False
        )

    op.create_table(
        "service_sales_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=12, scale=3), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["service_sales_documents.id"],
            name=op.f("fk_service_sales_lines_document_id_service_sales_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["service_products.id"],
            name=op.f("fk_service_sales_lines_product_id_service_products"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_sales_lines")),
    )
    with op.batch_alter_table("service_sales_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_sales_lines_document_id"), ["document_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_service_sales_lines_product_id"), ["product_id"], unique=False
        )

    op.create_table(
        "service_contract_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("owned_product_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["service_contracts.id"],
            name=op.f("fk_service_contract_items_contract_id_service_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owned_product_id"],
            ["service_owned_products.id"],
            name=op.f("fk_service_contract_items_owned_product_id_service_owned_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_contract_items")),
        sa.UniqueConstraint(
            "contract_id",
            "owned_product_id",
            name=op.f("uq_service_contract_items_contract_id_owned_product_id"),
        ),
    )
    with op.batch_alter_table("service_contract_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_contract_items_contract_id"), ["contract_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_service_contract_items_owned_product_id"),
            ["owned_product_id"],
            unique=False,
        )

    op.create_table(
        "service_ticket_subjects",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("owned_product_id", sa.Integer(), nullable=True),
        sa.Column("sales_document_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["owned_product_id"],
            ["service_owned_products.id"],
            name=op.f("fk_service_ticket_subjects_owned_product_id_service_owned_products"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["sales_document_id"],
            ["service_sales_documents.id"],
            name=op.f("fk_service_ticket_subjects_sales_document_id_service_sales_documents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_service_ticket_subjects_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_service_ticket_subjects")),
    )
    with op.batch_alter_table("service_ticket_subjects", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_ticket_subjects_owned_product_id"),
            ["owned_product_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_service_ticket_subjects_sales_document_id"),
            ["sales_document_id"],
            unique=False,
        )

    op.create_table(
        "service_warranties",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owned_product_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=15), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("terms", sa.Text(), nullable=True),
        sa.Column("created_at", crm_core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('manufacturer', 'extended', 'statutory')",
            name=op.f("ck_service_warranties_kind"),
        ),
        sa.CheckConstraint("ends_on >= starts_on", name=op.f("ck_service_warranties_period")),
        sa.ForeignKeyConstraint(
            ["owned_product_id"],
            ["service_owned_products.id"],
            name=op.f("fk_service_warranties_owned_product_id_service_owned_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_warranties")),
    )
    with op.batch_alter_table("service_warranties", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_warranties_owned_product_id"), ["owned_product_id"], unique=False
        )

    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_FTS:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute(PG_FTS)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_FTS_DROP:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_kb_articles_search_fts")
    with op.batch_alter_table("service_warranties", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_warranties_owned_product_id"))

    op.drop_table("service_warranties")
    with op.batch_alter_table("service_ticket_subjects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_ticket_subjects_sales_document_id"))
        batch_op.drop_index(batch_op.f("ix_service_ticket_subjects_owned_product_id"))

    op.drop_table("service_ticket_subjects")
    with op.batch_alter_table("service_contract_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_contract_items_owned_product_id"))
        batch_op.drop_index(batch_op.f("ix_service_contract_items_contract_id"))

    op.drop_table("service_contract_items")
    with op.batch_alter_table("service_sales_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_sales_lines_product_id"))
        batch_op.drop_index(batch_op.f("ix_service_sales_lines_document_id"))

    op.drop_table("service_sales_lines")
    with op.batch_alter_table("service_owned_products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_owned_products_serial_number"))
        batch_op.drop_index(batch_op.f("ix_service_owned_products_sales_document_id"))
        batch_op.drop_index(batch_op.f("ix_service_owned_products_product_id"))
        batch_op.drop_index(batch_op.f("ix_service_owned_products_customer_id"))

    op.drop_table("service_owned_products")
    with op.batch_alter_table("kb_article_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kb_article_versions_article_id"))

    op.drop_table("kb_article_versions")
    with op.batch_alter_table("complaint_cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_complaint_cases_status"))
        batch_op.drop_index(batch_op.f("ix_complaint_cases_reason"))

    op.drop_table("complaint_cases")
    with op.batch_alter_table("service_sales_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_sales_documents_customer_id"))

    op.drop_table("service_sales_documents")
    with op.batch_alter_table("service_contracts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_contracts_customer_id"))

    op.drop_table("service_contracts")
    with op.batch_alter_table("kb_articles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kb_articles_category_id"))

    op.drop_table("kb_articles")
    op.drop_table("service_products")
    op.drop_table("kb_categories")
