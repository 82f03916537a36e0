"""Accepted payments in Redis until processing records them in MongoDB (kept 7 days).

The read side asks MongoDB first and falls back to this, so `GET` never answers 404 for a
payment that got a 202, even a millisecond later.
"""

from __future__ import annotations

import contextlib

import redis

from common.adapters.redis_connection import KEY_PREFIX, redis_errors
from common.domain.payment import PaymentRecord

KEEP_S = 7 * 24 * 3600


class RedisPendingPayments:
    def __init__(self, client: redis.Redis, keep_s: int = KEEP_S) -> None:
        self._r = client
        self._keep_s = keep_s

    def put(self, record: PaymentRecord) -> None:
        with redis_errors():
            self._r.set(
                _name(record.transaction_id), record.model_dump_json(by_alias=True), ex=self._keep_s
            )

    def get(self, transaction_id: str) -> PaymentRecord | None:
        with redis_errors():
            raw = self._r.get(_name(transaction_id))
        return PaymentRecord.model_validate_json(raw) if raw is not None else None

    def discard(self, transaction_id: str) -> None:
        # Best effort: it expires on its own, and its id was never given to anyone.
        with contextlib.suppress(redis.RedisError):
            self._r.delete(_name(transaction_id))


def _name(transaction_id: str) -> str:
    return f"{KEY_PREFIX}payment:{transaction_id}"
