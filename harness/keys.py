"""`python -m harness keys create|list|revoke`: merchants and their API keys (kept in MongoDB,
cached in Redis)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

from common.adapters.merchant_registry import MerchantRegistry
from common.adapters.mongo_connection import mongo_client
from common.adapters.redis_connection import redis_client
from common.security.sealed_box import SealedBox, decode_key
from harness.infra.settings import InfraSettings
from harness.local_env import function_env


def merchant_directory(infra: InfraSettings | None = None) -> MerchantRegistry:
    env = function_env("IntakeFunction", infra)
    box = SealedBox(decode_key(env["WEBHOOK_SECRET_KEY"]))
    db = mongo_client(env["MONGO_URI"])[env["MONGO_DATABASE"]]
    return MerchantRegistry(db, redis_client(env["REDIS_URL"]), box, cache_ttl_s=0)


def create(merchant: str, as_json: bool) -> int:
    name = merchant.strip()
    if not 1 <= len(name) <= 200:
        sys.stderr.write("error: --merchant must be 1 to 200 characters\n")
        return 2
    new = merchant_directory().create(name)
    record = {
        "merchantId": new.merchant_id,
        "apiKey": new.api_key,
        "webhookSecret": new.webhook_secret,
    }
    if as_json:
        sys.stdout.write(json.dumps(record) + "\n")
    else:
        sys.stdout.write(
            f"merchant {new.merchant_id} ({new.name})\n"
            f"  API key:        {new.api_key}\n"
            f"  webhook secret: {new.webhook_secret}\n"
            "Store both now: neither can be shown again (only a hash of the key is kept).\n"
        )
    return 0


def list_merchants(as_json: bool) -> int:
    merchants = merchant_directory().list()
    if as_json:
        sys.stdout.write(json.dumps([asdict(m) for m in merchants]) + "\n")
        return 0
    for m in merchants:
        sys.stdout.write(
            f"{m.merchant_id}  {m.status:<8} keys={m.active_keys}  {m.created_at}  {m.name}\n"
        )
    if not merchants:
        sys.stdout.write("no merchants yet: python -m harness keys create --merchant NAME\n")
    return 0


def revoke(merchant_id: str) -> int:
    revoked = merchant_directory().revoke(merchant_id)
    if revoked == 0:
        sys.stderr.write(f"error: no merchant {merchant_id} with active keys\n")
        return 1
    sys.stdout.write(
        f"revoked {revoked} key(s) of {merchant_id}; running functions stop accepting them "
        "within API_KEY_CACHE_SECONDS (5 s by default)\n"
    )
    return 0
