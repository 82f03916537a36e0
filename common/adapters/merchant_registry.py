"""Merchants, their API keys and webhook secrets: kept in MongoDB, cached in Redis
(DESIGN.md §2.10: Redis is a cache, never the only copy).

Only a SHA-256 of each API key is ever stored. Keys are 256-bit random tokens, so an unsalted
SHA-256 cannot be reversed or brute-forced: a leaked dump holds no usable key. The webhook
signing secret is kept sealed (AES-GCM, bound to the merchant id) under the key the caller
gives, because notify must be able to sign with it.

MongoDB, every fact an insert against its `_id` (DESIGN.md §8):
    merchants            _id = merchant id: name, createdAt, webhookSecret (sealed)
    api_keys             _id = sha256 of the key: merchantId, name (the merchant's), createdAt
    api_key_revocations  _id = sha256 of the key: merchantId, revokedAt
A key is valid while it has an `api_keys` document and no revocation.

Redis, a cache only (anything here may vanish at any time):
    pg:akc:<sha256>      "merchantId\\x1fname" of a valid key, or "-" for a revoked one, for
                         `redis_ttl_s`; filled with SET NX, so a lookup that read MongoDB just
                         before a revocation cannot overwrite the revocation's "-"
    pg:whs:<merchantId>  the sealed webhook secret, for `redis_ttl_s`
A revocation writes "-" over the key's cache entry after its insert; Redis unreachable then
makes the revocation report an error (run it again: it is idempotent). When Redis cannot be
reached, or has lost everything, every lookup reads MongoDB: a Redis loss costs speed, never
access.

`authenticate` also keeps answers for `cache_ttl_s` seconds in process (misses for at most
1 s), so a revoked key stops working within `cache_ttl_s` seconds.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import redis
from pymongo.database import Database

from common.adapters.mongo_connection import mongo_errors
from common.adapters.mongo_inserts import find_by_id, insert_new
from common.adapters.redis_connection import KEY_PREFIX, as_text, redis_errors
from common.domain.errors import TransientError
from common.domain.ports import Merchant
from common.security.sealed_box import SealedBox, SealedBoxError

log = logging.getLogger(__name__)

API_KEY_PREFIX = "pgk_"
MAX_API_KEY_LENGTH = 200
MERCHANTS = "merchants"
API_KEYS = "api_keys"
REVOCATIONS = "api_key_revocations"
_MISS_TTL_S = 1.0
_CACHE_MAX = 10_000
_SEP = "\x1f"
_REVOKED = "-"
T = TypeVar("T")


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


class MerchantRegistry:
    def __init__(
        self,
        db: Database[dict[str, Any]],
        cache: redis.Redis,
        box: SealedBox,
        cache_ttl_s: float = 5.0,
        redis_ttl_s: int = 3600,
    ) -> None:
        self._merchants = db[MERCHANTS]
        self._keys = db[API_KEYS]
        self._revocations = db[REVOCATIONS]
        self._r = cache
        self._box = box
        self._ttl = cache_ttl_s
        self._redis_ttl = redis_ttl_s
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
        cache_key = f"{KEY_PREFIX}akc:{digest}"
        cached = self._cached(lambda: self._r.get(cache_key))
        if cached is not None:
            if as_text(cached) == _REVOKED:
                return None
            mid, _, name = as_text(cached).partition(_SEP)
            return Merchant(mid, name)
        key = find_by_id(self._keys, digest)
        if key is None or find_by_id(self._revocations, digest) is not None:
            return None
        merchant = Merchant(key["merchantId"], key["name"])
        value = f"{merchant.merchant_id}{_SEP}{merchant.name}"
        self._cached(lambda: self._r.set(cache_key, value, ex=self._redis_ttl, nx=True))
        return merchant

    def webhook_secret(self, merchant_id: str) -> str | None:
        """The merchant's signing secret; None if unknown or sealed with another key (a
        merchant from another environment): nothing can be signed for it here."""
        cache_key = f"{KEY_PREFIX}whs:{merchant_id}"
        sealed = self._cached(lambda: self._r.get(cache_key))
        if sealed is None:
            doc = find_by_id(self._merchants, merchant_id)
            if doc is None:
                return None
            sealed = doc["webhookSecret"]
            self._cached(lambda: self._r.set(cache_key, sealed, ex=self._redis_ttl))
        try:
            return self._box.open(as_text(sealed), _ctx(merchant_id)).decode()
        except SealedBoxError:
            log.warning(
                "webhook secret does not open with this key", extra={"merchantId": merchant_id}
            )
            return None

    def _cached(self, command: Callable[[], T]) -> T | None:
        """A Redis command, or None when Redis cannot answer (the caller reads MongoDB)."""
        try:
            with redis_errors():
                return command()
        except TransientError:
            log.warning("merchant cache unavailable; reading MongoDB")
            return None

    # -- administration (python -m harness keys ...) -----------------------------

    def create(self, name: str) -> NewMerchant:
        merchant_id = f"mer_{secrets.token_hex(8)}"
        api_key = f"{API_KEY_PREFIX}{secrets.token_urlsafe(32)}"
        webhook_secret = f"whsec_{base64.b64encode(secrets.token_bytes(24)).decode()}"
        now = datetime.now(UTC)
        sealed = self._box.seal(webhook_secret.encode(), _ctx(merchant_id))
        doc = {"_id": merchant_id, "name": name, "createdAt": now, "webhookSecret": sealed}
        insert_new(self._merchants, [doc])  # first: a key never names a missing merchant
        key = {"_id": hash_api_key(api_key), "merchantId": merchant_id, "name": name}
        insert_new(self._keys, [{**key, "createdAt": now}])
        return NewMerchant(merchant_id, name, api_key, webhook_secret)

    def list(self) -> list[MerchantInfo]:
        with mongo_errors():
            merchants = list(self._merchants.find({}, {"webhookSecret": 0}).sort("_id", 1))
            keys = list(self._keys.find({}, {"merchantId": 1}))
            revoked = {d["_id"] for d in self._revocations.find({}, {"_id": 1})}
        total: dict[str, int] = {}
        active: dict[str, int] = {}
        for k in keys:
            total[k["merchantId"]] = total.get(k["merchantId"], 0) + 1
            if k["_id"] not in revoked:
                active[k["merchantId"]] = active.get(k["merchantId"], 0) + 1
        out = []
        for m in merchants:
            mid = m["_id"]
            n = active.get(mid, 0)
            status = "revoked" if total.get(mid, 0) and not n else "active"
            out.append(MerchantInfo(mid, m["name"], status, m["createdAt"].isoformat(), n))
        return out

    def revoke(self, merchant_id: str) -> int:
        """Revoke every API key of the merchant; return how many were not revoked before.
        Raises TransientError when the cache could not be cleared (run it again)."""
        with mongo_errors():
            digests = [d["_id"] for d in self._keys.find({"merchantId": merchant_id}, {"_id": 1})]
        now = datetime.now(UTC)
        docs = [{"_id": d, "merchantId": merchant_id, "revokedAt": now} for d in digests]
        taken = insert_new(self._revocations, docs)
        if digests:
            with redis_errors(), self._r.pipeline(transaction=False) as pipe:
                for d in digests:
                    pipe.set(f"{KEY_PREFIX}akc:{d}", _REVOKED, ex=self._redis_ttl)
                pipe.execute()
        return len(digests) - len(taken)


def _ctx(merchant_id: str) -> bytes:
    return f"webhook-secret:{merchant_id}".encode()
