"""Idempotency keys in Redis, scoped per merchant, kept 48 h after completion.

`begin` takes the key with SET NX (an in-flight marker with a short lease, so a crashed
request frees its key); `complete` stores the response to replay; `abandon` frees the key
when the request failed before anything was accepted (a 503), so the client may retry.
"""

from __future__ import annotations

import base64
import hashlib
import json

import redis

from common.adapters.redis_connection import KEY_PREFIX, redis_errors
from common.domain.ports import (
    IdempotencyBegun,
    IdempotencyInFlight,
    IdempotencyMismatch,
    IdempotencyOutcome,
    IdempotencyReplay,
    StoredResponse,
)

IN_FLIGHT_LEASE_S = 120
"""Longer than the longest wait for Kafka's ack (KAFKA_PUBLISH_TIMEOUT_MS ≤ 60 s, + 2 s)."""
KEEP_S = 48 * 3600


class RedisIdempotencyStore:
    def __init__(self, client: redis.Redis, keep_s: int = KEEP_S) -> None:
        self._r = client
        self._keep_s = keep_s

    def begin(self, merchant_id: str, key: str, request_hash: str) -> IdempotencyOutcome:
        name = _name(merchant_id, key)
        marker = json.dumps({"state": "in_flight", "hash": request_hash})
        with redis_errors():
            for _ in range(3):
                if self._r.set(name, marker, nx=True, ex=IN_FLIGHT_LEASE_S):
                    return IdempotencyBegun()
                raw = self._r.get(name)
                if raw is not None:
                    return _outcome(json.loads(raw), request_hash)
        return IdempotencyInFlight()  # it keeps changing under us: someone holds it

    def complete(
        self, merchant_id: str, key: str, request_hash: str, response: StoredResponse
    ) -> None:
        record = {
            "state": "done",
            "hash": request_hash,
            "status": response.status_code,
            "body": base64.b64encode(response.body).decode(),
            "location": response.location,
        }
        with redis_errors():
            self._r.set(_name(merchant_id, key), json.dumps(record), ex=self._keep_s)

    def abandon(self, merchant_id: str, key: str) -> None:
        with redis_errors():
            self._r.delete(_name(merchant_id, key))


def _name(merchant_id: str, key: str) -> str:
    return f"{KEY_PREFIX}idem:{merchant_id}:{hashlib.sha256(key.encode()).hexdigest()}"


def _outcome(record: dict[str, object], request_hash: str) -> IdempotencyOutcome:
    if record.get("hash") != request_hash:
        return IdempotencyMismatch()
    if record.get("state") != "done":
        return IdempotencyInFlight()
    location = record.get("location")
    return IdempotencyReplay(
        StoredResponse(
            status_code=int(str(record["status"])),
            body=base64.b64decode(str(record["body"])),
            location=str(location) if location is not None else None,
        )
    )
