"""Card numbers and raw API keys must never be at rest: the whole chaos stack (every topic
from its start, every Redis key, every MongoDB collection, every log) searched with
harness/leaks.py for every card number the suite sent and every API key it created."""

from __future__ import annotations

from collections.abc import Iterable

from common.adapters.mongo_connection import mongo_client
from harness import leaks
from harness.infra.settings import InfraSettings


def find(secrets: Iterable[str], s: InfraSettings) -> list[str]:
    """`where: which secret` for every secret found (a secret is named by its last 4)."""
    needles = {f"…{x[-4:]} ({i})": x for i, x in enumerate(sorted({x for x in secrets if x}))}
    client = mongo_client(s.mongo_uri, timeout_ms=10_000, op_timeout_ms=120_000)
    try:
        found = [
            *leaks.scan_kafka(s.kafka_bootstrap, needles, since_ms=0),
            *leaks.scan_redis(s.redis_url, needles),
            *leaks.scan_mongo(client["paygate"], needles),
            *leaks.scan_logs(s.run_dir, needles),
        ]
    finally:
        client.close()
    return [f"{f.where}: {f.kind}" for f in found]
