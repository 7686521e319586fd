"""Property-based run of every operation in /api/v1/openapi.json against the real app.

Schemathesis generates requests from the OpenAPI document, valid ones and invalid ones, and
sends them as an admin with a bearer token to the WSGI app on the test database; the state
they create is left to accumulate between examples. No input may produce a 5xx, and every
answer whose status the document describes must match the documented schema.

One pytest test per operation, so a failure names its operation. (Schemathesis's own
``from_fixture`` pytest integration does not run on our pytest version, hence the small
loop here.)
"""

from __future__ import annotations

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy.orm import Session

import hub.api  # noqa: F401 - registers every operation
from crm_core.services.custom_fields import define_field
from hub.api.spec import REGISTRY, _openapi_path
from tests.factories import bearer, make_customer, make_user

# Examples per operation and generation mode: enough to find the edges, small enough for the
# whole file to run in about a minute on two cores.
MAX_EXAMPLES = 8
OPERATIONS = sorted({(op.method.upper(), _openapi_path(op.path)) for op in REGISTRY})


@pytest.fixture
def admin_headers(session: Session) -> dict[str, str]:
    admin = make_user(session, role="admin", teams=("First line",))
    headers = bearer(session, admin)
    # Something for generated ids to hit now and then.
    # Short custom field keys, so that generated filters (custom.<key>) hit them at times.
    define_field(session, key="a", label="A number", field_type="number")
    define_field(session, key="b", label="A date", field_type="date")
    define_field(session, key="c", label="A choice", field_type="choice", choices=["x", "y"])
    define_field(session, key="d", label="A flag", field_type="boolean")
    define_field(session, key="e", label="A text", field_type="text")
    make_customer(
        session,
        phones=("+48 601 234 567",),
        emails=("anna@example.com",),
        tags=["vip"],
        custom_fields={"a": 5, "b": "2024-01-01", "c": "x", "d": True, "e": "hello"},
    )
    session.commit()
    return headers


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_server_errors(
    app: Flask, admin_headers: dict[str, str], method: str, path: str
) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operation = schema[path][method]
    strategy = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES * 2,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(
            headers=admin_headers,
            checks=[not_a_server_error, response_schema_conformance],
        )

    run()


def test_every_operation_is_checked() -> None:
    assert len(OPERATIONS) >= 40
