"""Merchants and their API keys in Redis; only a SHA-256 of each key is ever stored.

Keys are 256-bit random tokens, so an unsalted SHA-256 cannot be reversed or brute-forced:
a leaked Redis dump holds no usable key. The webhook signing secret is kept sealed
(AES-GCM, bound to the merchant id), because the notify stage must be able to sign with it.

Layout:
    pg:merchant:<id>         hash  name, createdAt, status, webhookSecret (sealed)
    pg:merchant:<id>:keys    set   key hashes of that merchant
    pg:apikey:<sha256>       str   merchant id
    pg:merchants             set   merchant ids

`authenticate` keeps answers for `cache_ttl_s` seconds in process (misses for at most 1 s),
so a revoked key stops working within `cache_ttl_s` seconds.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from common.adapters.redis_connection import KEY_PREFIX, as_text, redis_errors
from common.domain.ports import Merchant
from common.security.sealed_box import SealedBox, SealedBoxError

log = logging.getLogger(__name__)

API_KEY_PREFIX = "pgk_"
MAX_API_KEY_LENGTH = 200
_MISS_TTL_S = 1.0
_CACHE_MAX = 10_000


@dataclass(frozen=True)
class NewMerchant:
    merchant_id: str
    name: str
    api_key: str
    webhook_secret: str


@dataclass(frozen=True)
class MerchantInfo:
    merchant_id: str
    name: str
    status: str
    created_at: str
    active_keys: int


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


class RedisMerchantDirectory:
    def __init__(self, client: redis.Redis, box: SealedBox, cache_ttl_s: float = 5.0) -> None:
        self._r = client
        self._box = box
        self._ttl = cache_ttl_s
        self._cache: dict[str, tuple[float, Merchant | None]] = {}
        self._cache_lock = threading.Lock()

    # -- the hot path ------------------------------------------------------------

    def remembered(self, api_key: str) -> tuple[bool, Merchant | None]:
        if not api_key.startswith(API_KEY_PREFIX) or len(api_key) > MAX_API_KEY_LENGTH:
            return True, None
        hit = self._cache.get(hash_api_key(api_key))
        if hit is not None and hit[0] > time.monotonic():
            return True, hit[1]
        return False, None

    def authenticate(self, api_key: str) -> Merchant | None:
        known, merchant = self.remembered(api_key)
        if known:
            return merchant
        digest = hash_api_key(api_key)
        now = time.monotonic()
        merchant = self._lookup(digest)
        with self._cache_lock:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[digest] = (now + (self._ttl if merchant else _MISS_TTL_S), merchant)
        return merchant

    def _lookup(self, digest: str) -> Merchant | None:
        with redis_errors():
            merchant_id = self._r.get(f"{KEY_PREFIX}apikey:{digest}")
            if merchant_id is None:
                return None
            mid = as_text(merchant_id)
            name, status = self._r.hmget(f"{KEY_PREFIX}merchant:{mid}", ["name", "status"])
        if name is None or as_text(status) != "active":
            return None
        return Merchant(mid, as_text(name))

    # -- administration (python -m harness keys ...) -----------------------------

    def create(self, name: str) -> NewMerchant:
        merchant_id = f"mer_{secrets.token_hex(8)}"
        api_key = f"{API_KEY_PREFIX}{secrets.token_urlsafe(32)}"
        webhook_secret = f"whsec_{base64.b64encode(secrets.token_bytes(24)).decode()}"
        digest = hash_api_key(api_key)
        with redis_errors(), self._r.pipeline(transaction=True) as pipe:
            pipe.hset(
                f"{KEY_PREFIX}merchant:{merchant_id}",
                mapping={
                    "name": name,
                    "status": "active",
                    "createdAt": datetime.now(UTC).isoformat(),
                    "webhookSecret": self._box.seal(webhook_secret.encode(), _ctx(merchant_id)),
                },
            )
            pipe.set(f"{KEY_PREFIX}apikey:{digest}", merchant_id)
            pipe.sadd(f"{KEY_PREFIX}merchant:{merchant_id}:keys", digest)
            pipe.sadd(f"{KEY_PREFIX}merchants", merchant_id)
            pipe.execute()
        return NewMerchant(merchant_id, name, api_key, webhook_secret)

    def webhook_secret(self, merchant_id: str) -> str | None:
        """The merchant's signing secret; None if unknown or sealed with another key (a
        merchant from another environment): nothing can be signed for it here."""
        with redis_errors():
            sealed = self._r.hget(f"{KEY_PREFIX}merchant:{merchant_id}", "webhookSecret")
        if not sealed:
            return None
        try:
            return self._box.open(as_text(sealed), _ctx(merchant_id)).decode()
        except SealedBoxError:
            log.warning(
                "webhook secret does not open with this key", extra={"merchantId": merchant_id}
            )
            return None

    def list(self) -> list[MerchantInfo]:
        with redis_errors():
            ids = sorted(as_text(m) for m in self._r.smembers(f"{KEY_PREFIX}merchants"))
            out = []
            for mid in ids:
                name, status, created = self._r.hmget(
                    f"{KEY_PREFIX}merchant:{mid}", ["name", "status", "createdAt"]
                )
                keys = self._r.scard(f"{KEY_PREFIX}merchant:{mid}:keys")
                out.append(
                    MerchantInfo(mid, as_text(name), as_text(status), as_text(created), int(keys))
                )
        return out

    def revoke(self, merchant_id: str) -> int:
        """Revoke every API key of the merchant; return how many were revoked."""
        with redis_errors():
            if not self._r.exists(f"{KEY_PREFIX}merchant:{merchant_id}"):
                return 0
            digests = [
                as_text(d) for d in self._r.smembers(f"{KEY_PREFIX}merchant:{merchant_id}:keys")
            ]
            with self._r.pipeline(transaction=True) as pipe:
                for digest in digests:
                    pipe.delete(f"{KEY_PREFIX}apikey:{digest}")
                pipe.delete(f"{KEY_PREFIX}merchant:{merchant_id}:keys")
                pipe.hset(f"{KEY_PREFIX}merchant:{merchant_id}", "status", "revoked")
                pipe.execute()
        return len(digests)


def _ctx(merchant_id: str) -> bytes:
    return f"webhook-secret:{merchant_id}".encode()
