"""Standard Webhooks signing and verification (https://www.standardwebhooks.com).

`webhook-signature: v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`, the secret
being the merchant's `whsec_<base64>`. The HMAC is computed by the spec's reference library
(`standardwebhooks`); this module adds what callers need around it: a tolerance of your
choice, several signatures in one header (key rotation), and malformed input answered with
WebhookVerificationError rather than whatever the parsing raised.

Merchants may copy `verify_webhook` as it is: it depends only on the standardwebhooks package.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook

DEFAULT_TOLERANCE_S = 300


class WebhookVerificationError(ValueError):
    """The request is not a webhook signed with this secret within the tolerance."""


def sign_webhook(secret: str, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers to send with `body`."""
    signature = Webhook(secret).sign(
        msg_id=webhook_id, timestamp=datetime.fromtimestamp(timestamp, UTC), data=body.decode()
    )
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> Any:
    """The parsed JSON body if any v1 signature matches and the timestamp is within
    `tolerance_s` of `now`; WebhookVerificationError otherwise."""
    lowered = {k.lower(): v for k, v in headers.items()}
    webhook_id = lowered.get("webhook-id")
    timestamp_text = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not (webhook_id and timestamp_text and signatures):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(timestamp_text)
        text = body.decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise WebhookVerificationError("malformed timestamp or body") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise WebhookVerificationError("timestamp outside the tolerance")
    try:
        expected = sign_webhook(secret, webhook_id, timestamp, body)["webhook-signature"]
    except Exception:  # a secret that is not whsec_<base64>
        raise WebhookVerificationError("unusable secret") from None
    for candidate in signatures.split(" "):
        if candidate.startswith("v1,") and hmac.compare_digest(
            candidate.encode(), expected.encode()
        ):
            try:
                return json.loads(text)
            except ValueError:
                raise WebhookVerificationError("body is not JSON") from None
    raise WebhookVerificationError("no matching signature")
