"""Does a service answer? Kafka metadata, Redis PING, MongoDB ping: each a quick yes or no."""

from __future__ import annotations

import logging

import pymongo
import redis
from confluent_kafka.admin import AdminClient
from pymongo.errors import PyMongoError

QUIET_LIBRDKAFKA = logging.getLogger("paygate.infra.librdkafka")
QUIET_LIBRDKAFKA.addHandler(logging.NullHandler())
QUIET_LIBRDKAFKA.propagate = False


def kafka_answers(bootstrap: str, timeout: float = 2.0) -> bool:
    admin = AdminClient({"bootstrap.servers": bootstrap}, logger=QUIET_LIBRDKAFKA)
    try:
        metadata = admin.list_topics(timeout=timeout)
    except Exception:  # KafkaException, or a timeout surfaced as one
        return False
    return bool(metadata.brokers)


def redis_answers(url: str, timeout: float = 1.0) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def mongo_answers(uri: str, timeout: float = 1.0) -> bool:
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        uri, serverSelectionTimeoutMS=int(timeout * 1000), connectTimeoutMS=int(timeout * 1000)
    )
    try:
        return client.admin.command("ping").get("ok") == 1.0
    except PyMongoError:
        return False
    finally:
        client.close()
