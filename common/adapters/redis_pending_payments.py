"""Accepted payments in Redis until processing records them in MongoDB (kept 7 days).

Intake writes them (common/adapters/redis_intake_records.py, in the round trip that takes the
Idempotency-Key). The read side asks MongoDB first and falls back to this, so `GET` never
answers 404 for a payment that got a 202, even a millisecond later.
"""

from __future__ import annotations

import redis

from common.adapters.redis_connection import KEY_PREFIX, redis_errors
from common.domain.payment import PaymentRecord

KEEP_S = 7 * 24 * 3600


class RedisPendingPayments:
    def __init__(self, client: redis.Redis) -> None:
        self._r = client

    def get(self, transaction_id: str) -> PaymentRecord | None:
        with redis_errors():
            raw = self._r.get(pending_key(transaction_id))
        return PaymentRecord.model_validate_json(raw) if raw is not None else None


def pending_key(transaction_id: str) -> str:
    return f"{KEY_PREFIX}payment:{transaction_id}"
