"""The canonical form of a payment request, under which equivalent bodies are one request."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.intake.canonical import canonical_amount, canonical_request
from functions.intake.schemas import PaymentRequestIn


def request(**overrides: Any) -> PaymentRequestIn:
    doc = {
        "amount": "49.99",
        "currency": "EUR",
        "webhookUrl": "https://shop.example/h",
        "card": {"number": "4242424242424242", "expMonth": 12, "expYear": 2030, "cvc": "123"},
        "metadata": {"a": "1", "b": "2"},
        **overrides,
    }
    return PaymentRequestIn.model_validate_json(json.dumps(doc))


@pytest.mark.parametrize(
    ("amount", "canonical"),
    [("49.99", "49.99"), ("49.990", "49.99"), ("100", "100"), (100, "100"), ("100.00", "100")],
)
def test_amounts_of_one_value_are_one_amount(amount: str | int, canonical: str) -> None:
    assert canonical_amount(amount) == canonical


@pytest.mark.parametrize("refused", ["1e2", " 49.99", "49,99", "-1", "0x10", ""])
def test_an_amount_refused_for_its_form_is_kept_as_written(refused: str) -> None:
    assert canonical_amount(refused) == refused


def test_key_order_and_absent_versus_null_do_not_matter() -> None:
    base = canonical_request(request())
    assert canonical_request(request(metadata={"b": "2", "a": "1"})) == base
    assert canonical_request(request(reference=None, description=None)) == base
    assert canonical_request(request(amount="49.990")) == base
    assert canonical_request(request(amount="49.98")) != base
    assert canonical_request(request(metadata={"a": "1"})) != base
