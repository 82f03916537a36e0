"""Real Redis: round trips, expiry and the SET NX that idempotency will rest on."""

from __future__ import annotations

import uuid

import redis

from common.adapters.redis_connection import LoopRedis
from harness.infra.settings import InfraSettings
from tests.own_loop import run


def test_round_trip_and_expiry(redis_client: redis.Redis) -> None:
    key = f"test:{uuid.uuid4().hex}"
    assert redis_client.set(key, b"value", ex=60)
    assert redis_client.get(key) == b"value"
    assert 0 < redis_client.ttl(key) <= 60
    assert redis_client.delete(key) == 1
    assert redis_client.get(key) is None


def test_set_nx_lets_exactly_one_writer_win(redis_client: redis.Redis) -> None:
    key = f"test:{uuid.uuid4().hex}"
    results = [redis_client.set(key, f"writer-{i}", nx=True, ex=60) for i in range(5)]
    assert results.count(True) == 1
    assert redis_client.get(key) == b"writer-0"
    redis_client.delete(key)


def test_hash_and_pipeline(redis_client: redis.Redis) -> None:
    key = f"test:{uuid.uuid4().hex}"
    with redis_client.pipeline() as pipe:
        pipe.hset(key, mapping={"a": "1", "b": "2"}).hincrby(key, "a", 5).expire(key, 60)
        assert pipe.execute() == [2, 6, True]
    assert redis_client.hgetall(key) == {b"a": b"6", b"b": b"2"}
    redis_client.delete(key)


def test_append_only_file_is_on(redis_client: redis.Redis) -> None:
    assert redis_client.config_get("appendonly") == {"appendonly": "yes"}


def test_the_intake_client_reconnects_once_redis_closed_its_connection(
    redis_client: redis.Redis, infra: InfraSettings
) -> None:
    """After Redis restarts, every pooled connection is dead: the next command on one must
    reconnect, not fail (a 503 for a healthy Redis; chaos scenarios 8, 10 and 11 saw them)."""
    loop_redis = LoopRedis(infra.redis_url)

    async def steps() -> list[object]:
        client = loop_redis()
        own_id = await client.client_id()
        await client.set("pg:test:reconnect", b"1", ex=30)
        redis_client.client_kill_filter(_id=own_id)  # what a restart does to it
        return [await client.get("pg:test:reconnect"), await client.client_id() != own_id]

    assert run(steps()) == [b"1", True]
