"""What DNS rebinding needs, shared by chaos scenario 16 and the rebinding tests
(tests/integration/test_dns_rebinding.py, tests/unit/test_notify_dial_target.py): a resolver
of the test's own whose TTL-0 name answers one address to the first lookup and another to every
later one, and a settled payment's event whose webhook goes to a given URL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from common.domain.events import PaymentProcessed
from common.domain.payment import CardSummary

PUBLIC_ADDRESS = "93.184.216.34"


class RebindingResolver:
    def __init__(self, then: str, first: str = PUBLIC_ADDRESS) -> None:
        self.first, self.then = first, then
        self.lookups = 0

    def __call__(self, host: str) -> Sequence[str]:
        self.lookups += 1
        return [self.first] if self.lookups == 1 else [self.then]


def payment_processed(url: str, merchant_id: str = "m") -> PaymentProcessed:
    """A succeeded payment of `merchant_id`, its webhook due at `url`."""
    now = datetime.now(UTC)
    return PaymentProcessed(
        event_id=str(uuid.uuid4()),
        occurred_at=now,
        transaction_id=str(uuid.uuid4()),
        merchant_id=merchant_id,
        status="succeeded",
        amount_minor=100,
        currency="EUR",
        webhook_url=url,
        card=CardSummary(brand="visa", last4="4242", exp_month=1, exp_year=2030, fingerprint="f"),
        attempts=1,
        created_at=now,
        processed_at=now,
    )
