"""Search everything the system wrote for secrets it must never keep in clear (DESIGN.md §2.5):
card numbers and raw API keys, in Kafka (every topic of template.yaml, from a point in time),
Redis (every key), MongoDB (every collection of the database) and the harness's logs.

Findings name where a secret was found and which kind, never the secret itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymongo
import redis
from bson import json_util
from confluent_kafka import Consumer, TopicPartition

from harness.template import project_template


@dataclass(frozen=True)
class Finding:
    where: str
    kind: str


def _hits(text: bytes, needles: Mapping[str, bytes], where: str) -> list[Finding]:
    return [Finding(where, kind) for kind, needle in needles.items() if needle in text]


def _encode(needles: Mapping[str, str]) -> dict[str, bytes]:
    return {kind: value.encode() for kind, value in needles.items() if value}


def scan_kafka(bootstrap: str, needles: Mapping[str, str], since_ms: int) -> list[Finding]:
    wanted = _encode(needles)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"leak-scan-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    found: list[Finding] = []
    try:
        for topic in project_template().kafka_topics():
            meta = consumer.list_topics(topic.name, timeout=10).topics[topic.name]
            starts = consumer.offsets_for_times(
                [TopicPartition(topic.name, p, since_ms) for p in meta.partitions], timeout=10
            )
            live = [tp for tp in starts if tp.offset >= 0]
            if not live:
                continue
            consumer.assign(live)
            remaining = {tp.partition for tp in live}
            while remaining:
                msg = consumer.poll(5)
                if msg is None:
                    break
                if msg.error():
                    remaining.discard(msg.partition() or 0)
                    continue
                raw = b"".join(
                    [msg.key() or b"", msg.value() or b""]
                    + [h[1] for h in (msg.headers() or []) if isinstance(h[1], bytes)]
                )
                found += _hits(raw, wanted, f"kafka {topic.name}")
            consumer.unassign()
    finally:
        consumer.close()
    return sorted(set(found), key=lambda f: (f.where, f.kind))


def scan_redis(url: str, needles: Mapping[str, str]) -> list[Finding]:
    wanted = _encode(needles)
    client = redis.Redis.from_url(url)
    found: set[Finding] = set()
    try:
        for key in client.scan_iter(count=1000):
            kind = client.type(key)
            value: Any
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
                value = b""
            text = key + _flatten(value)
            found.update(_hits(text, wanted, f"redis {key.decode(errors='replace')[:40]}"))
    finally:
        client.close()
    return sorted(found, key=lambda f: (f.where, f.kind))


def _flatten(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, dict):
        return b"\n".join(k + b"=" + v for k, v in value.items())
    if isinstance(value, Iterable):
        return b"\n".join(v for v in value if isinstance(v, bytes))
    return b""


def scan_mongo(
    database: pymongo.database.Database[dict[str, Any]], needles: Mapping[str, str]
) -> list[Finding]:
    wanted = _encode(needles)
    found: set[Finding] = set()
    for name in database.list_collection_names():
        for doc in database[name].find():
            found.update(_hits(json_util.dumps(doc).encode(), wanted, f"mongodb {name}"))
    return sorted(found, key=lambda f: (f.where, f.kind))


def scan_logs(folder: Path, needles: Mapping[str, str]) -> list[Finding]:
    wanted = _encode(needles)
    found: list[Finding] = []
    for path in sorted(folder.glob("*.log*")):
        found += _hits(path.read_bytes(), wanted, f"log {path.name}")
    return found
