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
# no 5xx, and every answer as the schema documents it
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


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
        checks=CHECKS,
    )


ACCEPTABLE = {
    "amount": "12.50",
    "currency": "EUR",
    "webhookUrl": "http://127.0.0.1:8082/hooks/stateful",
    "card": {"number": "4242424242424242", "expMonth": 12, "expYear": 2030, "cvc": "123"},
}


def test_stateful_sequences_follow_the_links_from_an_accepted_payment(
    api: str, api_key: str
) -> None:
    """POST, then the operations its 202 links to (GET, resend) with the id it answered. The
    generated payment is swapped for one that is accepted (a generated card number hardly
    ever passes Luhn), the same every time so that an example replays as it ran."""
    followed: list[str] = []

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: Any) -> None:
            if case.operation.path == "/api/payments":
                case.body = ACCEPTABLE

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": api, "timeout": 30, "headers": {"X-API-Key": api_key}}

        def after_call(self, response: Any, case: Any) -> None:
            followed.append(f"{case.method} {case.operation.path} {response.status_code}")

        def validate_response(self, response: Any, case: Any, **_kwargs: Any) -> None:
            case.validate_response(
                response,
                checks=CHECKS,
            )

    Workflow.run(
        settings=settings(
            max_examples=25,
            stateful_step_count=4,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    assert "GET /api/payments/{transactionId} 200" in followed, followed
    assert any(f.startswith("POST /api/payments/{transactionId}/webhook/resend") for f in followed)
