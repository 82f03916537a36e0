"""Schemathesis against the served /openapi.json, through the API Gateway emulation:
generated requests (valid and not) never get a 5xx or a response that breaks the schema."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from functions.intake.app import create_app
from functions.intake.deps import LazyIntakeDeps

pytestmark = pytest.mark.e2e

# The same document the API serves, built without opening any connection.
schema = schemathesis.openapi.from_dict(create_app(LazyIntakeDeps()).openapi())
# valid and deliberately invalid requests (wrong types, missing fields, broken constraints)
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


@schema.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_generated_requests_get_no_5xx_and_match_the_schema(
    case: Any, api: str, api_key: str
) -> None:
    case.headers = {**(case.headers or {}), "X-API-Key": api_key}
    response = case.call(base_url=api, timeout=30)
    case.validate_response(
        response,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
