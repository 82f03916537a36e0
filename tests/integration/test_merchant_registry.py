"""MerchantRegistry on the real MongoDB-wire server with real Redis as its cache: Redis losing
everything, or not answering at all, costs speed and never access (DESIGN.md §2.10).

The cache is a Redis database of its own (not the one the other tests use), so that "Redis lost
all its data" is a FLUSHDB that touches nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from common.adapters.merchant_registry import MerchantRegistry, hash_api_key
from common.adapters.redis_connection import redis_client
from common.domain.errors import TransientError
from common.domain.ports import Merchant
from common.security.sealed_box import SealedBox
from harness.infra.settings import InfraSettings

BOX = SealedBox(bytes(range(32)))


@pytest.fixture
def cache(infra: InfraSettings) -> Iterator[redis.Redis]:
    client = redis_client(infra.redis_url.rsplit("/", 1)[0] + "/9")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def registry(db: Any, cache: redis.Redis) -> MerchantRegistry:
    return MerchantRegistry(db, cache, BOX, cache_ttl_s=0)


def test_keys_and_secrets_survive_the_cache_losing_everything(
    mongo_db: Any, cache: redis.Redis
) -> None:
    new = registry(mongo_db, cache).create("Shop")
    fresh = registry(mongo_db, cache)
    assert fresh.authenticate(new.api_key) == Merchant(new.merchant_id, "Shop")
    assert fresh.webhook_secret(new.merchant_id) == new.webhook_secret
    assert cache.exists(f"pg:akc:{hash_api_key(new.api_key)}")  # filled on the way
    cache.flushdb()
    assert fresh.authenticate(new.api_key) == Merchant(new.merchant_id, "Shop")
    assert fresh.webhook_secret(new.merchant_id) == new.webhook_secret
    assert fresh.authenticate(new.api_key + "x") is None


def test_an_unreachable_cache_reads_mongodb(mongo_db: Any, cache: redis.Redis) -> None:
    new = registry(mongo_db, cache).create("Shop")
    down = redis_client("redis://127.0.0.1:1/0", timeout_s=0.2)  # nothing listens on port 1
    offline = registry(mongo_db, down)
    assert offline.authenticate(new.api_key) == Merchant(new.merchant_id, "Shop")
    assert offline.webhook_secret(new.merchant_id) == new.webhook_secret
    assert offline.webhook_secret("mer_unknown") is None


def test_a_revocation_wins_over_the_cache_and_over_a_lookup_in_flight(
    mongo_db: Any, cache: redis.Redis
) -> None:
    admin = registry(mongo_db, cache)
    new = admin.create("Shop")
    other = admin.create("Other shop")
    assert admin.authenticate(new.api_key) is not None  # now cached in Redis
    assert admin.revoke(new.merchant_id) == 1
    assert admin.revoke(new.merchant_id) == 0  # once is enough; again is harmless
    assert admin.authenticate(new.api_key) is None
    # a lookup that read MongoDB just before the revocation fills the cache afterwards: NX
    # keeps the revocation's mark
    key = f"pg:akc:{hash_api_key(new.api_key)}"
    assert cache.set(key, f"{new.merchant_id}\x1fShop", nx=True) is None
    assert admin.authenticate(new.api_key) is None
    cache.flushdb()
    assert admin.authenticate(new.api_key) is None  # the revocation is in MongoDB
    assert admin.authenticate(other.api_key) == Merchant(other.merchant_id, "Other shop")
    listed = {m.merchant_id: (m.status, m.active_keys) for m in admin.list()}
    assert listed == {new.merchant_id: ("revoked", 0), other.merchant_id: ("active", 1)}


def test_revoking_with_the_cache_unreachable_says_so(mongo_db: Any, cache: redis.Redis) -> None:
    new = registry(mongo_db, cache).create("Shop")
    down = redis_client("redis://127.0.0.1:1/0", timeout_s=0.2)
    with pytest.raises(TransientError):
        registry(mongo_db, down).revoke(new.merchant_id)
    assert registry(mongo_db, down).authenticate(new.api_key) is None  # recorded all the same
    assert registry(mongo_db, cache).revoke(new.merchant_id) == 0  # the rerun clears the cache


def test_nothing_secret_is_stored_in_clear(mongo_db: Any, cache: redis.Redis) -> None:
    admin = registry(mongo_db, cache)
    new = admin.create("Shop")
    admin.authenticate(new.api_key)
    admin.webhook_secret(new.merchant_id)
    stored = repr([list(mongo_db[c].find()) for c in mongo_db.list_collection_names()])
    cached = repr([cache.get(k) for k in cache.keys("*")])
    for secret in (new.api_key, new.webhook_secret, new.webhook_secret.removeprefix("whsec_")):
        assert secret not in stored and secret not in cached
