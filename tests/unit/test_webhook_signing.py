"""Signatures per Standard Webhooks, checked against an independent HMAC computation and the
reference library's own verifier."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from standardwebhooks.webhooks import Webhook

from common.webhook_signing import WebhookVerificationError, sign_webhook, verify_webhook

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
OTHER = "whsec_" + base64.b64encode(b"another-secret-another-secret-00").decode()
BODY = json.dumps({"type": "payment.succeeded", "data": {"transactionId": "t"}}).encode()


def headers(at: int | None = None, body: bytes = BODY, secret: str = SECRET) -> dict[str, str]:
    return sign_webhook(secret, "evt_123", at if at is not None else int(time.time()), body)


def test_signature_matches_an_independent_hmac() -> None:
    h = headers(at=1_700_000_000)
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    mac = hmac.new(key, b"evt_123.1700000000." + BODY, hashlib.sha256).digest()
    assert h["webhook-signature"] == "v1," + base64.b64encode(mac).decode()
    assert h["webhook-id"] == "evt_123" and h["webhook-timestamp"] == "1700000000"


def test_verifies_with_our_helper_and_the_reference_library() -> None:
    h = headers()
    assert verify_webhook(SECRET, h, BODY)["type"] == "payment.succeeded"
    assert Webhook(SECRET).verify(BODY, h)["data"]["transactionId"] == "t"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: (OTHER, headers(), BODY), "no matching signature"),
        (lambda: (SECRET, headers(), BODY.replace(b"succeeded", b"declined")), "no matching"),
        (lambda: (SECRET, headers(at=int(time.time()) - 301), BODY), "tolerance"),
        (lambda: (SECRET, headers(at=int(time.time()) + 301), BODY), "tolerance"),
        (lambda: (SECRET, {**headers(), "webhook-signature": "garbage"}, BODY), "no matching"),
        (lambda: (SECRET, {**headers(), "webhook-signature": "v2,abc"}, BODY), "no matching"),
        (lambda: (SECRET, {**headers(), "webhook-timestamp": "soon"}, BODY), "malformed"),
        (lambda: (SECRET, {"webhook-id": "x"}, BODY), "missing"),
        (lambda: (SECRET, headers(), b"\xff\xfe"), "malformed"),
        (lambda: ("not-a-secret!", headers(), BODY), "unusable secret|no matching"),
        (lambda: ("whsec_", headers(), BODY), "unusable secret"),
    ],
)
def test_anything_else_fails_cleanly(make: object, reason: str) -> None:
    secret, h, body = make()  # type: ignore[operator]
    with pytest.raises(WebhookVerificationError, match=reason):
        verify_webhook(secret, h, body)


def test_several_signatures_for_key_rotation_and_header_case() -> None:
    good = headers()
    both = {k.upper(): v for k, v in good.items()}
    both["WEBHOOK-SIGNATURE"] = (
        f"{headers(secret=OTHER)['webhook-signature']} {good['webhook-signature']}"
    )
    assert verify_webhook(SECRET, both, BODY)["type"] == "payment.succeeded"


def test_tolerance_is_a_parameter() -> None:
    old = headers(at=int(time.time()) - 1000)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(SECRET, old, BODY)
    assert verify_webhook(SECRET, old, BODY, tolerance_s=2000)
