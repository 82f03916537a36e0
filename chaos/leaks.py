"""Card numbers and raw API keys must never be at rest: not in Kafka, Redis, MongoDB or any
log of the stack. This reads all of it and says where a secret was found."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import redis
from bson import json_util
from confluent_kafka import Consumer, TopicPartition

from common.adapters.mongo_connection import mongo_client
from harness.infra.settings import InfraSettings


def find(secrets: Iterable[str], s: InfraSettings, logs: Iterable[Path]) -> list[str]:
    """`where: which secret` for every secret found (a secret is shown by its last 4)."""
    wanted = sorted({x for x in secrets if x})
    found = []
    for where, blob in _everything(s, logs):
        for secret in wanted:
            if secret in blob:
                found.append(f"{where}: …{secret[-4:]}")
    return found


def _everything(s: InfraSettings, logs: Iterable[Path]) -> Iterator[tuple[str, str]]:
    yield from _kafka(s.kafka_bootstrap)
    yield from _redis(s.redis_url)
    yield from _mongo(s.mongo_uri)
    for path in logs:
        yield f"log {path.name}", path.read_text(errors="replace")


def _kafka(bootstrap: str) -> Iterator[tuple[str, str]]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"chaos-leaks-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    try:
        topics = [t for t in consumer.list_topics(timeout=10).topics if not t.startswith("__")]
        for topic in sorted(topics):
            parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            for p in parts:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                if high <= low:
                    continue
                consumer.assign([TopicPartition(topic, p, low)])
                chunks: list[str] = []
                seen = low
                while seen < high:
                    batch = consumer.consume(500, timeout=5)
                    if not batch:
                        break
                    for m in batch:
                        if m.error() is not None:
                            continue
                        seen = max(seen, (m.offset() or 0) + 1)
                        for part in (m.key(), m.value(), *(h[1] for h in m.headers() or [])):
                            if isinstance(part, bytes):
                                chunks.append(part.decode(errors="replace"))
                            elif isinstance(part, str):
                                chunks.append(part)
                yield f"kafka {topic}/{p}", "\n".join(chunks)
    finally:
        consumer.close()


def _redis(url: str) -> Iterator[tuple[str, str]]:
    client = redis.Redis.from_url(url, socket_timeout=10)
    try:
        chunks = []
        for key in client.scan_iter(count=1000):
            kind = client.type(key)
            value: object
            if kind == b"string":
                value = client.get(key)
            elif kind == b"hash":
                value = client.hgetall(key)
            elif kind == b"list":
                value = client.lrange(key, 0, -1)
            elif kind == b"set":
                value = client.smembers(key)
            elif kind == b"zset":
                value = client.zrange(key, 0, -1)
            else:
                value = kind
            chunks.append(f"{key!r} {value!r}")
        yield "redis", "\n".join(chunks)
    finally:
        client.close()


def _mongo(uri: str) -> Iterator[tuple[str, str]]:
    client = mongo_client(uri)
    try:
        for db_name in client.list_database_names():
            if db_name in ("admin", "local", "config"):
                continue
            db = client[db_name]
            for coll in db.list_collection_names():
                docs = [json_util.dumps(d) for d in db[coll].find()]
                yield f"mongodb {db_name}.{coll}", "\n".join(docs)
    finally:
        client.close()
