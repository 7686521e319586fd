"""Alembic environment: the URL comes from the caller (``hub.migrate``) or the settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, engine_from_config, pool

# Importing every model module registers each table on the shared metadata: CRM core, the
# hub's queues/agent states/offers/SLA clocks, and each channel's own tables.
import campaigns.models
import campaigns.survey_models  # noqa: F401
import channels.email.models
import channels.fax.models
import channels.twilio_voice.models
import channels.webforms.models  # noqa: F401
import crm_core.models  # noqa: F401
import hub.leases
import hub.models
import hub.reports.models  # noqa: F401
from crm_core.db import Base
from crm_core.models.kb import KB_FTS_TABLE, KB_PG_SEARCH_COLUMN, KB_PG_SEARCH_INDEX

config = context.config
target_metadata = Base.metadata


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Leave the knowledge base's full-text index out of the comparison: the migration
    creates it with raw SQL per dialect (an FTS5 table with its shadow tables and triggers
    on SQLite, a stored tsvector column with its GIN index on PostgreSQL) and no model
    describes it."""
    if type_ == "table" and name is not None and name.startswith(KB_FTS_TABLE):
        return False
    if type_ == "column" and name == KB_PG_SEARCH_COLUMN:
        return False
    return not (type_ == "index" and name == KB_PG_SEARCH_INDEX)


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from hub.settings import load_settings

    return load_settings().effective_database_url


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = engine_from_config(
        {"sqlalchemy.url": _url()}, prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with engine.connect() as conn:
        _run(conn)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
