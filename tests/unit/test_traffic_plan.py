"""The demo's traffic plan: every test card, replays of earlier payments, invalid requests."""

import json
from collections import Counter

from harness.traffic import TEST_CARDS, plan_mix

HOOK = "http://127.0.0.1:8082/hooks/mer_x"


def test_every_test_card_is_used_and_approvals_dominate() -> None:
    plan = plan_mix(200, HOOK, "run")
    cards = Counter(r.card.number for r in plan if r.kind == "payment" and r.card)
    assert set(cards) == {c.number for c in TEST_CARDS}
    approved = sum(
        n for number, n in cards.items() if number in {"4242424242424242", "5555555555554444"}
    )
    assert approved > sum(cards.values()) / 2


def test_payments_have_unique_keys_and_references() -> None:
    payments = [r for r in plan_mix(300, HOOK, "run") if r.kind == "payment"]
    assert len({r.idempotency_key for r in payments}) == len(payments)
    assert len({r.reference for r in payments}) == len(payments)
    for r in payments:
        body = json.loads(r.body)
        assert body["webhookUrl"] == HOOK and body["reference"] == r.reference
        assert r.headers["Idempotency-Key"] == r.idempotency_key


def test_replays_repeat_an_earlier_payment_exactly() -> None:
    plan = plan_mix(200, HOOK, "run")
    replays = [(i, r) for i, r in enumerate(plan) if r.kind == "replay"]
    assert len(replays) >= 5
    for i, replay in replays:
        originals = [r for r in plan[:i] if r.idempotency_key == replay.idempotency_key]
        assert len(originals) == 1
        assert originals[0].kind == "payment"
        assert originals[0].body == replay.body and originals[0].headers == replay.headers
        assert replay.expected_status == 202


def test_invalid_requests_cover_each_refusal_with_its_status() -> None:
    plan = plan_mix(200, HOOK, "run")
    invalid = {r.label: r.expected_status for r in plan if r.kind == "invalid"}
    assert invalid == {
        "malformed JSON": 422,
        "card number fails Luhn": 422,
        "three decimals in EUR": 422,
        "expired card": 422,
        "SSRF bait: decimal-IP webhook host": 422,
        "unknown currency": 422,
        "no API key": 401,
        "form-encoded body": 415,
    }


def test_the_plan_is_deterministic() -> None:
    assert plan_mix(50, HOOK, "a") == plan_mix(50, HOOK, "a")
