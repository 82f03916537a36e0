"""IntakeRecords on Redis through redis.asyncio: Idempotency-Keys scoped per merchant (kept
48 h once complete) and the pending payments, one round trip per step.

`begin` is one Lua script: take the key with SET NX (an in-flight marker with a short lease,
so a crashed request frees its key) and, only if it was taken, store the pending payment; or
answer what the key holds. `complete` stores the response to replay; `abandon` frees the key
and drops the pending payment when nothing was accepted (a 503), so the client may retry.

The script touches two keys (the idempotency key and the payment's): Redis with one shard
(ElastiCache without cluster mode), as template.yaml's settings describe.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import redis
import redis.asyncio
from redis.commands.core import AsyncScript

from common.adapters.redis_connection import KEY_PREFIX
from common.adapters.redis_pending_payments import KEEP_S as PENDING_KEEP_S
from common.adapters.redis_pending_payments import pending_key
from common.domain.errors import TransientError
from common.domain.payment import PaymentRecord
from common.domain.ports import (
    IdempotencyBegun,
    IdempotencyInFlight,
    IdempotencyMismatch,
    IdempotencyOutcome,
    IdempotencyReplay,
    StoredResponse,
)

IN_FLIGHT_LEASE_S = 120
"""Longer than the longest wait for Kafka's ack (KAFKA_PUBLISH_TIMEOUT_MS ≤ 60 s, + 2 s) and
the settling of a publish in doubt."""
KEEP_S = 48 * 3600
"""How long a completed key replays its response (Stripe keeps keys 24 h)."""

_BEGIN = """
if #KEYS == 2 and not redis.call('SET', KEYS[2], ARGV[3], 'NX', 'EX', ARGV[4]) then
  return redis.call('GET', KEYS[2])
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return false
"""


class RedisIntakeRecords:
    def __init__(self, client: Callable[[], redis.asyncio.Redis], keep_s: int = KEEP_S) -> None:
        self._client = client
        self._keep_s = keep_s
        self._begin: AsyncScript | None = None

    async def begin(
        self, merchant_id: str, key: str | None, request_hash: str, pending: PaymentRecord
    ) -> IdempotencyOutcome:
        record = pending.model_dump_json(by_alias=True)
        payment = pending_key(pending.transaction_id)
        client = self._client()
        async with _redis_errors():
            if key is None:
                await client.set(payment, record, ex=PENDING_KEEP_S)
                return IdempotencyBegun()
            if self._begin is None:
                self._begin = client.register_script(_BEGIN)
            marker = json.dumps({"state": "in_flight", "hash": request_hash})
            held = await self._begin(
                keys=[payment, idempotency_key(merchant_id, key)],
                args=[record, PENDING_KEEP_S, marker, IN_FLIGHT_LEASE_S],
                client=client,
            )
        return IdempotencyBegun() if held is None else _outcome(json.loads(held), request_hash)

    async def peek(
        self, merchant_id: str, key: str, request_hash: str
    ) -> IdempotencyOutcome | None:
        async with _redis_errors():
            held = await self._client().get(idempotency_key(merchant_id, key))
        return None if held is None else _outcome(json.loads(held), request_hash)

    async def complete(
        self, merchant_id: str, key: str, request_hash: str, response: StoredResponse
    ) -> None:
        record = {
            "state": "done",
            "hash": request_hash,
            "status": response.status_code,
            "body": base64.b64encode(response.body).decode(),
            "location": response.location,
        }
        async with _redis_errors():
            await self._client().set(
                idempotency_key(merchant_id, key), json.dumps(record), ex=self._keep_s
            )

    async def abandon(self, merchant_id: str, key: str | None, transaction_id: str) -> None:
        names = [pending_key(transaction_id)]
        if key is not None:
            names.append(idempotency_key(merchant_id, key))
        async with _redis_errors():
            await self._client().delete(*names)


def idempotency_key(merchant_id: str, key: str) -> str:
    return f"{KEY_PREFIX}idem:{merchant_id}:{hashlib.sha256(key.encode()).hexdigest()}"


@asynccontextmanager
async def _redis_errors() -> AsyncIterator[None]:
    try:
        yield
    except redis.RedisError as exc:
        raise TransientError("redis", type(exc).__name__) from None


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
