"""Merchants whose webhook endpoint hangs, shared by every notify worker through Redis.

One key per merchant, `pg:webhook-slow:<merchant id>`, set with an expiry when an attempt
times out, deleted when a later attempt to that merchant succeeds. Only the merchant id is
stored. It is a hint for scheduling, not a record: if Redis does not answer, every merchant
counts as healthy (the cost is one timeout's wait, never a lost delivery).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import redis

from common.adapters.redis_connection import KEY_PREFIX

log = logging.getLogger(__name__)

SLOW_PREFIX = f"{KEY_PREFIX}webhook-slow:"


class RedisSlowEndpoints:
    def __init__(self, client: redis.Redis, mark_s: float) -> None:
        self._r = client
        self._mark_ms = max(1, int(mark_s * 1000))

    def slow_among(self, merchant_ids: Iterable[str]) -> set[str]:
        ids = sorted(set(merchant_ids))
        if not ids:
            return set()
        try:
            found = self._r.mget([SLOW_PREFIX + m for m in ids])
        except redis.RedisError as exc:
            log.warning("slow endpoints unknown", extra={"reason": type(exc).__name__})
            return set()
        return {m for m, v in zip(ids, found, strict=True) if v is not None}

    def mark_slow(self, merchant_id: str) -> None:
        try:
            self._r.set(SLOW_PREFIX + merchant_id, b"1", px=self._mark_ms)
        except redis.RedisError as exc:
            log.warning("slow endpoint not marked", extra={"reason": type(exc).__name__})

    def clear(self, merchant_id: str) -> None:
        try:
            self._r.delete(SLOW_PREFIX + merchant_id)
        except redis.RedisError as exc:
            log.warning("slow endpoint not cleared", extra={"reason": type(exc).__name__})
